"""Exactly-once resumption for a run that walks a source page by page: the machinery behind main.py.

The state record (`Actor.use_state`, key APIFY_GLOBAL_STATE) holds the source position (`offset`, with
`cursor` and `skip` for styles that name pages otherwise), `pushed`, how many dataset items the run has
written, and `pending`, how many items a push under way may add after those. Each page is one save and one push:

    save position=this page, pushed, pending=n  →  push the page's n items  →  (next page's save, or a stop's)

The dataset is the ledger, read item by item (a dataset's item count lags a push by seconds on the platform,
its items do not): after a restart with a push pending, the items found after `pushed` are the ones that
landed; they are compared with the page fetched again and skipped. A push that fails is read back the same
way before what is missing is pushed again. Nothing is lost and nothing is pushed twice, provided the same
page gives the same items (a stable source and a deterministic transform).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from types import CodeType
from typing import Any, Protocol, TypeVar

from apify import Actor, Event

STATE_KEY = "APIFY_GLOBAL_STATE"  # the record Actor.use_state() keeps by default
STATE_DEFAULTS: dict[str, Any] = {
    "offset": 0,
    "cursor": None,
    "skip": 0,
    "pushed": 0,
    "pending": 0,
    "pendingRequest": None,  # crawls: the request whose push is pending
    "unmarked": {},  # crawls: requests whose items landed, not yet known to be marked handled -> their item count
    "partial": {},  # crawls: requests of which only the first items landed (a push cut short) -> how many
    "pages": 0,
    "source": {},
    "reboots": 0,
    "finished": False,
}
# Keys that may hold more than one type; the others have the type of their default.
STATE_TYPES = {"cursor": (type(None), str, int), "pendingRequest": (type(None), str)}
MAX_REBOOTS = 3  # more reboot requests than this in one run means a loop: leave restarts to the platform
STATUS_INTERVAL_SECS = 5.0
# After a migration the platform kills the container within a minute; a run still alive long after
# that fails rather than exit 0 (which would mark it SUCCEEDED and never restart it).
MIGRATION_WAIT_SECS = 600.0
# A push cut off by a crash or a failed request may still be landing on the platform: how long to watch the
# dataset settle before trusting what it holds (never waited for locally, where a push is all or nothing).
PUSH_SETTLE_SECS = 10.0
PUSH_ATTEMPTS = 5
PUSH_BACKOFF_SECS = 2.0  # before the 2nd attempt; doubled before each next one
# The platform's per-item event of pay-per-event Actors: pushes stop when the run's maximum charge is reached.
DATASET_ITEM_EVENT = "apify-default-dataset-item"

Transform = Callable[[Any], Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Position:
    """Where the source is read to, as the state record keeps it: `offset`, the source items used before it;
    `cursor`, what names the page there when an offset does not (a page number, a cursor, a next URL; None
    for offset paging and the first page); `skip`, the items at the start of that page already used."""

    offset: int = 0
    cursor: str | int | None = None
    skip: int = 0


class SourcePage(Protocol):
    """A page as commit() takes it: its items (from the position's `skip` on), where it starts, where to go on."""

    items: list[Any]
    at: Position

    def after(self, used: int) -> Position: ...


class RunStopping(Exception):
    """The run is stopping (migration, abort, charge limit): this page is not saved now, but after the restart."""


class StateError(Exception):
    """The state record or the dataset cannot be trusted: resuming would lose or duplicate items."""


class ResumableRun:
    """The run's checkpoint, its reconciliation with the dataset, and the migrating/aborting handlers."""

    def __init__(self, *, crawl: bool = False) -> None:
        """Start listening for the platform's events. Create the run before `async with Actor`: a migration
        announced while the Actor starts up is then not missed. A `crawl` counts pages, not a source offset."""
        self.crawl = crawl
        self.state: dict[str, Any] = {}  # loaded by restore()
        self.stopping: str | None = None  # why the run stops early: "migrating", "aborting", "charge limit"
        self._landed: list[Any] = []  # items found after `pushed` at the restart: the next outputs to skip
        self._landed_request: str | None = None  # crawls: the request those items came from
        self._commit_lock = asyncio.Lock()
        self._stop_requested = asyncio.Event()
        self._status_at = 0.0
        Actor.event_manager.on(event=Event.MIGRATING, listener=self._on_migrating)
        Actor.event_manager.on(event=Event.ABORTING, listener=self._on_aborting)

    @property
    def position(self) -> Position:
        return Position(self.state["offset"], self.state["cursor"], self.state["skip"])

    @property
    def offset(self) -> int:
        return self.state["offset"]

    @property
    def pushed(self) -> int:
        return self.state["pushed"]

    @property
    def finished(self) -> bool:
        return self.state["finished"]

    async def restore(self, source: dict[str, Any], transform: Transform) -> None:
        """Load the state record, check that it was written for this `source` (the input fields that define
        what the offsets point at) and this `transform`, and reconcile it with the dataset.

        Raises StateError, before anything is written, when the record is corrupt or does not fit.
        """
        store = await Actor.open_key_value_store()
        saved = await store.get_value(STATE_KEY)
        if saved is None and await store.record_exists(STATE_KEY):
            raise StateError(f"The state record {STATE_KEY} is not valid JSON: fix or delete it to start over.")
        saved = _checked_state(saved)
        fingerprint = _fingerprint(source, transform)
        if saved["source"] and (changed := sorted(k for k in fingerprint if fingerprint[k] != saved["source"].get(k))):
            raise StateError(
                f"The state record {STATE_KEY} was written for another source ({', '.join(changed)} changed): "
                "its offsets mean nothing here. To start over, delete the record and empty the dataset "
                "(locally: run without APIFY_PURGE_ON_START=0, or `apify run --purge`); to resume, restore the input."
            )
        landed = await _items_after(saved["pushed"], saved["pending"], settle=saved["pending"] > 0)
        state = await Actor.use_state(dict(STATE_DEFAULTS))
        state.update(saved)  # a record written by an older version may lack newer keys
        state["source"] = fingerprint
        self.state, self._landed = state, landed
        # The state in memory always fits the dataset, for the SDK may save it at any moment (at exit too): the
        # landed items of an offset page stay `pending` until that page is committed; those of a crawl's page
        # are counted at once, with its request.
        if (key := saved["pendingRequest"]) is not None:
            state.update(pushed=saved["pushed"] + len(landed), pending=0, pendingRequest=None)
            if len(landed) == saved["pending"]:  # the whole page landed: that request is done
                state["unmarked"][key], state["pages"], self._landed = len(landed), state["pages"] + 1, []
            elif landed:  # part of it (a push split in several requests): the rest is pushed when it comes again
                state["partial"][key], self._landed_request = len(landed), key
        if self.offset or self.pushed or landed:
            Actor.log.info(
                (
                    f"Resuming with {self.pushed} items pushed from {self.state['pages']} pages"
                    if self.crawl
                    else f"Resuming at offset {self.offset} with {self.pushed} items pushed"
                )
                + (f"; {len(landed)} items of the next page landed after the last checkpoint" if landed else "")
            )
        if self.stopping == "migrating":  # announced before the state was loaded: the listener left this to us
            await self._save_and_reboot()

    async def unless_stopping(self, work: Awaitable[T]) -> T | None:
        """Await `work` (a page being fetched), or cancel it and return None as soon as the run must stop."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stop_requested.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return None if task.cancelled() else task.result()

    async def commit(self, page: SourcePage, transform: Transform, *, room: int | None) -> None:
        """Push the dataset items `transform` makes of one page's source items, at most `room` of them (None:
        no limit), with one push_data call; then checkpoint the position after the last source item used.
        Pushes nothing once the run is stopping: the page is fetched again after the restart.
        """
        async with self._commit_lock:
            if self.stopping:
                return
            if page.at != self.position:
                raise StateError(f"A page at {page.at} came for the position {self.position}: pages out of order.")
            outputs = _outputs(page.items, transform, lambda index: f"item at source offset {self.offset + index}")
            skipped = self._skip_landed(outputs)  # landed before a restart: still `pending` in the state
            batch = outputs[skipped:]
            if room is not None:
                batch = batch[: max(0, room - skipped)]
            if (chargeable := _chargeable_items()) is not None and chargeable < len(batch):
                batch = batch[:chargeable]
                self.stopping = "charge limit"
            used = skipped + len(batch)
            # Go on after the page, or, when it was cut short, just after the last source item used.
            resume_at = page.after(len(page.items) if used == len(outputs) else outputs[used - 1][0] + 1 if used else 0)
            if batch:
                # The one save of the page: the position it starts at, with the marker of its push. The position
                # after it is saved with the next page's marker (or by a stop): a crash in between only means
                # that this page is fetched again and its landed items read back and skipped.
                self.state["pending"] = skipped + len(batch)
                await self._persist()
                await self._push([item for _index, item in batch], at=self.pushed + skipped)
            # Position, count and marker move together, with no await between them. Landed items left over (the
            # page is now smaller than when they were pushed) belong to the next page: still pending.
            pushed = self.pushed + skipped + len(batch)
            self.state.update(asdict(resume_at), pushed=pushed, pending=len(self._landed))
            self.state["pages"] += 1
        await self._report_progress()

    async def commit_request(self, key: str, items: Sequence[Any], *, max_pages: int | None) -> None:
        """Push the dataset items of the page that the request `key` (its unique key) loaded, with one push_data
        call, exactly once: a request whose items already landed (before a crash, or before the handler failed
        after its commit) pushes nothing. Once `max_pages` pages are in, the run is finished and pushes nothing
        more. Raises RunStopping, pushing nothing, once the run is stopping: the page is crawled again later.
        """
        async with self._commit_lock:
            if self.stopping:
                raise RunStopping(self.stopping)
            if self.finished or key in self.state["unmarked"]:
                return
            if max_pages is not None and self.state["pages"] >= max_pages:
                self.state["finished"] = True
                return
            outputs = _outputs(items, _as_is, lambda index: f"item {index} of the page of request {key!r}")
            skipped = self.state["partial"].get(key, 0)  # counted in `pushed` already
            if key == self._landed_request:
                self._skip_landed(outputs)  # the landed items are still at hand: compare them
            batch = outputs[skipped:]
            if (chargeable := _chargeable_items()) is not None and chargeable < len(batch):
                self.stopping = "charge limit"
                self._stop_requested.set()
                raise RunStopping(self.stopping)  # a page is saved whole or not at all
            if batch:
                self.state.update(pending=len(batch), pendingRequest=key)
                await self._persist()
                await self._push([item for _index, item in batch], at=self.pushed)
            self.state.update(pushed=self.pushed + len(batch), pending=0, pendingRequest=None)
            self.state["partial"].pop(key, None)
            self.state["unmarked"][key] = skipped + len(batch)
            self.state["pages"] += 1
            if max_pages is not None and self.state["pages"] >= max_pages:
                self.state["finished"] = True
        await self._report_progress()

    def request_marked(self, key: str) -> None:
        """The request queue has marked `key` handled: it will not come again."""
        self.state["unmarked"].pop(key, None)

    async def forget_handled(self, queue: Any) -> None:
        """After a restart, drop the requests whose items landed and that the queue has marked handled since;
        the others will come again, and then push nothing."""
        for key in list(self.state["unmarked"]):
            request = await queue.get_request(key)
            if request is None or request.handled_at is not None:
                self.state["unmarked"].pop(key)

    async def wait_for_stop(self) -> str:
        """Wait until the platform asks the run to stop (or its budget ends it); return why."""
        await self._stop_requested.wait()
        return self.stopping or "stopping"

    async def finish(self) -> None:
        """Mark the source as fully read, so that a restart of a finished run does nothing."""
        async with self._commit_lock:
            self.state["finished"] = True
            await self._persist()

    async def stop(self) -> None:
        """End the run according to why the loop ended: finished, aborted, out of budget, or migrating."""
        async with self._commit_lock:
            await self._persist()  # where the last page took the run
        if self.stopping == "migrating" and Actor.is_at_home():
            # The platform takes the process (after our reboot request, or on its own). Never exit 0 here.
            await asyncio.sleep(MIGRATION_WAIT_SECS)
            await Actor.fail(status_message="The platform did not restart the run after a migration.")
        elif self.stopping == "charge limit":
            await self._set_status(
                f"Stopped: the run's maximum total charge is reached, after {self.pushed} items ({self._where()}; "
                "state saved). Resurrect the run with a higher limit to go on.",
                terminal=True,
            )
        elif self.stopping:
            await self._set_status(
                f"Stopped ({self.stopping}) with {self.pushed} items pushed, {self._where()}; state saved. "
                "Resume locally with APIFY_PURGE_ON_START=0 or `apify run --resurrect`.",
                terminal=True,
            )
        else:
            read = f"from {self.state['pages']} pages" if self.crawl else f"source read to offset {self.offset}"
            await self._set_status(f"Done: {self.pushed} items pushed, {read}.", terminal=True)

    def _where(self) -> str:
        return f"{self.state['pages']} pages" if self.crawl else f"next offset {self.offset}"

    def _skip_landed(self, outputs: list[tuple[int, Any]]) -> int:
        """How many of `outputs` are already in the dataset (found after a restart); checks that they are the
        very items that landed."""
        skipped = min(len(self._landed), len(outputs))
        if [_as_stored(item) for _index, item in outputs[:skipped]] != self._landed[:skipped]:
            key = self._landed_request
            page = f"page at offset {self.offset}" if key is None else f"page of {key!r}"
            raise StateError(
                f"The dataset holds {len(self._landed)} items after the last checkpoint that differ from what the "
                f"{page} gives now: the source or the transform changed. Nothing was written."
            )
        self._landed = self._landed[skipped:]
        if not self._landed:
            self._landed_request = None
        return skipped

    async def _push(self, items: list[Any], *, at: int) -> None:
        """Push `items` exactly once: a failed push is read back before what did not land is pushed again
        (the API client's own blind retries would duplicate a push whose response was lost)."""
        confirmed = 0
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            try:
                with _dataset_client_retries_off(await Actor.open_dataset()):
                    await Actor.push_data(items[confirmed:])
                return
            except Exception as error:
                if not _may_have_failed_in_transit(error):
                    raise
                Actor.log.warning(f"Pushing {len(items) - confirmed} items failed ({error}); reading back what landed.")
                landed = await _items_after(at + confirmed, len(items) - confirmed, settle=True)
                if landed != [_as_stored(item) for item in items[confirmed : confirmed + len(landed)]]:
                    raise StateError(
                        "The dataset holds items after the last checkpoint that this run did not push."
                    ) from error
                confirmed += len(landed)
                if confirmed == len(items):
                    return
                if attempt == PUSH_ATTEMPTS:
                    raise StateError(f"Pushing to the dataset failed {attempt} times; last: {error}") from error
                await asyncio.sleep(PUSH_BACKOFF_SECS * 2 ** (attempt - 1))

    async def _on_migrating(self, _event_data: Any) -> None:
        # The SDK runs this listener a second time from inside Actor.reboot(): that call must return at once.
        if self.stopping == "migrating":
            return
        if self.stopping:  # aborted (or out of budget) already: that is final, save without a reboot
            if self.state:
                async with self._commit_lock:
                    await self._persist()
            return
        self.stopping = "migrating"
        self._stop_requested.set()
        if self.state:  # before restore() has loaded the state, restore() finishes the job
            await self._save_and_reboot()

    async def _save_and_reboot(self) -> None:
        async with self._commit_lock:  # the page being pushed reaches its checkpoint first
            if self.state["reboots"] >= MAX_REBOOTS:
                await self._persist()
                Actor.log.warning(f"Migrating after {MAX_REBOOTS} reboots in this run: waiting for the platform.")
                return
            self.state["reboots"] += 1
            await self._persist()
        Actor.log.info(f"Migrating: state saved at offset {self.offset}; asking the platform to reboot the run.")
        await Actor.reboot()

    async def _on_aborting(self, _event_data: Any) -> None:
        if self.stopping:
            return
        self.stopping = "aborting"
        self._stop_requested.set()
        if self.state:  # before restore(), the saved record is already the latest
            async with self._commit_lock:
                await self._persist()
            Actor.log.info(f"Aborting: state saved at offset {self.offset}.")

    async def _persist(self) -> None:
        store = await Actor.open_key_value_store()
        await store.persist_autosaved_values()

    async def _report_progress(self) -> None:
        if time.monotonic() - self._status_at >= STATUS_INTERVAL_SECS:
            await self._set_status(f"{self.pushed} items pushed; {self._where()}.")

    async def _set_status(self, message: str, *, terminal: bool = False) -> None:
        self._status_at = time.monotonic()
        try:
            await Actor.set_status_message(message, is_terminal=terminal or None)
        except Exception as error:  # progress for people must never stop the work
            Actor.log.warning(f"Could not set the status message: {error}")


def _checked_state(saved: Any) -> dict[str, Any]:
    """Return the saved state with defaults for missing keys, or raise StateError naming what is wrong."""
    if saved is None:
        return dict(STATE_DEFAULTS)
    if not isinstance(saved, dict):
        raise StateError(
            f"The state record {STATE_KEY} is a JSON {type(saved).__name__}, not an object: "
            "fix or delete it to start over."
        )
    merged = {**STATE_DEFAULTS, **saved}
    wrong = [
        f"{key}={merged[key]!r}"
        for key, default in STATE_DEFAULTS.items()
        if type(merged[key]) not in STATE_TYPES.get(key, (type(default),))
        or (type(merged[key]) is int and merged[key] < 0)
    ]
    if wrong:
        raise StateError(f"The state record {STATE_KEY} has invalid values ({', '.join(wrong)}): fix or delete it.")
    return merged


def _outputs(items: Sequence[Any], transform: Transform, where: Callable[[int], str]) -> list[tuple[int, Any]]:
    """(index among `items`, dataset item) for each item the transform keeps; they must be objects."""
    outputs = []
    for index, source_item in enumerate(items):
        item = transform(source_item)
        if item is None:
            continue
        if not isinstance(item, dict):
            raise StateError(
                f"The {where(index)} is a JSON {type(item).__name__}, not an object: dataset items must be "
                "objects. Make transform (or extract) return a dict (or None to drop the item)."
            )
        outputs.append((index, item))
    return outputs


def _as_is(item: Any) -> Any:
    return item


def _may_have_failed_in_transit(error: Exception) -> bool:
    """A failure that pushing again may cure (a lost connection, a timeout, 5xx or 429), not a refusal of the
    items themselves (not serializable, too large, or a 4xx from the API)."""
    if isinstance(error, (ValueError, TypeError)):
        return False
    status = getattr(error, "status_code", None)
    return status is None or status >= 500 or status == 429


def _as_stored(item: Any) -> Any:
    """An item as the dataset gives it back (JSON round trip), to compare with what was read."""
    return json.loads(json.dumps(item))


def _fingerprint(source: dict[str, Any], transform: Transform) -> dict[str, str]:
    """A short hash of each field that defines the source, and of the transform's code: enough to tell a
    changed input from the same one, with nothing of the input itself (it may hold secrets)."""
    parts = {**source, "transform": _code_identity(transform.__code__, transform.__doc__)}
    return {key: hashlib.sha256(json.dumps(value).encode()).hexdigest()[:12] for key, value in parts.items()}


def _code_identity(code: CodeType, doc: str | None = None) -> list[Any]:
    """What a function's code does (bytecode, constants, names), without its docstring or memory addresses."""
    consts = [
        _code_identity(const) if isinstance(const, CodeType) else repr(const)
        for const in code.co_consts
        if const is not doc or doc is None
    ]
    return [code.co_code.hex(), consts, list(code.co_names)]


def _chargeable_items() -> int | None:
    """How many more dataset items the run's maximum total charge allows (None: no limit)."""
    return Actor.get_charging_manager().calculate_max_event_charge_count_within_limit(DATASET_ITEM_EVENT)


@contextlib.contextmanager
def _dataset_client_retries_off(dataset: Any) -> Iterator[None]:
    """On the platform, push without the API client's own retries: they resend a push whose response was lost,
    and the dataset, which has no idempotency key, stores it twice. _push reads back and retries instead.
    (Reaches into the SDK's dataset client; locally there is no HTTP client and nothing to turn off.)"""
    http = getattr(getattr(getattr(dataset, "_client", None), "_api_client", None), "_http_client", None)
    if http is None or not hasattr(http, "_max_retries"):
        yield
        return
    saved, http._max_retries = http._max_retries, 0
    try:
        yield
    finally:
        http._max_retries = saved


async def _items_after(pushed: int, expected: int, *, settle: bool) -> list[Any]:
    """The dataset's items after the first `pushed` (at most `expected` of them, which a push under way may
    have added). With `settle`, on the platform, give a push cut off by a crash time to land first.

    Raises StateError when the dataset holds fewer than `pushed` items, or more than `expected` after them.
    """
    dataset = await Actor.open_dataset()
    deadline = time.monotonic() + (PUSH_SETTLE_SECS if settle and Actor.is_at_home() else 0)
    while True:
        start = max(0, pushed - 1)  # the last item already counted: it proves the dataset is this run's
        items = (await dataset.get_data(offset=start, limit=expected + 2)).items
        if not Actor.is_at_home():
            # Local storage: a push counts once the item count is written, after the item files; files past
            # the count are left over from a crash mid-push, and the next push writes over them.
            items = items[: max(0, (await dataset.get_metadata()).item_count - start)]
        if pushed and not items:
            raise StateError(
                f"The dataset holds fewer than the {pushed} items the state record {STATE_KEY} says were pushed: "
                "the record belongs to another dataset. Delete it, or restore the dataset."
            )
        after = items[1:] if pushed else items
        if len(after) > expected:
            raise StateError(
                f"The dataset holds more items than the state record {STATE_KEY} accounts for ({pushed} pushed, "
                f"{expected} pending): something else writes to it. Delete the record and empty the dataset."
            )
        if len(after) == expected or time.monotonic() >= deadline:
            return after
        await asyncio.sleep(0.5)
