"""The run's state record: where the source is read to and how many items the dataset holds, kept in step.

The record (`Actor.use_state`, key APIFY_GLOBAL_STATE) holds where the source is read to (`offset`, with
`cursor` and `skip` for styles that name pages otherwise; for a crawl, the request queue knows), `pushed`, how
many dataset items the run has written, and the marker of the push under way: `pending` items (for a crawl,
`pendingRequests`, the pages of the group being pushed, in order, with their item counts). Work is committed in
groups, by each kind's commit path (page_commits.py, crawling.py):

    save position, pushed, marker  →  one push of the group's items  →  (the next group's save, or a stop's)

The dataset is the ledger (ledger.py): after a restart with a marker, the items found after `pushed` are the
ones that landed; they are split along the marker and skipped. This module loads the record, checks that it is
sound and written for this source and code, reconciles it with the dataset and saves it.
"""

from __future__ import annotations

import ast
import asyncio
import copy
import hashlib
import inspect
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from types import FunctionType, ModuleType
from typing import TYPE_CHECKING, Any

from apify import Actor

from .ledger import STATE_KEY, Landed, StateError, check_push_retries_can_be_turned_off, items_after

if TYPE_CHECKING:
    from apify.storages import Dataset

STATE_DEFAULTS: dict[str, Any] = {
    "offset": 0,
    "cursor": None,
    "skip": 0,
    "pushed": 0,
    "pending": 0,
    "pendingRequests": [],  # crawls: [request key, item count] of each page of the push under way, in order
    "unmarked": {},  # crawls: requests whose items landed, not yet known to be marked handled -> their item count
    "partial": {},  # crawls: requests of which only the first items landed (a push cut short) -> how many
    "pages": 0,
    "failed": 0,  # crawls: pages that failed for good (after their retries)
    "source": {},
    "reboots": 0,
    "finished": False,  # the source is read to its end (limits such as maxItems are checked apart: they may rise)
    "cursorsSeen": "",  # cursor-like styles: position_key() of the last RECENT_CURSORS positions read past, joined
    # A coordinator of parallel runs (scale_out.py): the job's shape fixed at its start, its workers' run IDs, the
    # worker being started, how often each was resurrected, and where the merge of their items stands (with the
    # marker of the merge push).
    "job": {},
    "workers": [],
    "starting": None,
    "resurrections": [],
    "budgetReboots": 0,  # `reboots` when the coordinator's run last started counting `resurrections` (scale_out.py)
    "merge": {},
    # An incremental job (incremental.py): its passes over the source, its runs and their deliveries.
    "incremental": {},
}
# Keys that may hold more than one type; the others have the type of their default.
STATE_TYPES = {"cursor": (type(None), str, int), "starting": (type(None), int)}
RECENT_CURSORS = 1000  # positions a restarted run remembers, to stop a source that cycles back to one of them
POSITION_KEY_LENGTH = 12
CODE_KEY = "transform"  # the fingerprint of the code that makes dataset items, among those of the source's fields

Transform = Callable[[Any], Any]


def position_key(cursor: str | int) -> str:
    """A short, stable key of a cursor, page number or next URL: what the run remembers of positions read."""
    return hashlib.sha256(str(cursor).encode()).hexdigest()[:POSITION_KEY_LENGTH]


@dataclass(frozen=True)
class Position:
    """Where the source is read to, as the state record keeps it: `offset`, the source items used before it;
    `cursor`, what names the page there when an offset does not (a page number, a cursor, a next URL; None
    for offset paging and the first page); `skip`, the items at the start of that page already used."""

    offset: int = 0
    cursor: str | int | None = None
    skip: int = 0


class StateRecord:
    """The state record in memory (empty until `load`), what of the last push landed, and the lock under which
    the record and the dataset change together. A `crawl` counts pages, not a source offset."""

    def __init__(self, *, crawl: bool = False) -> None:
        self.crawl = crawl
        self.state: dict[str, Any] = {}
        self.landed = Landed([])  # items found after `pushed` at the restart: the next ones to skip
        self.commit_lock = asyncio.Lock()  # a commit, and a save for a stop, one at a time
        # Where the record and the dataset it counts are kept: the run's default storages, or the named ones of an
        # incremental job (`keep_in`), which outlive runs.
        self.store_name: str | None = None
        self.dataset: Dataset | None = None
        # Called before each save of a record that outlives the run: raises if the run may no longer write it.
        self.fence: Callable[[], Awaitable[None]] | None = None
        self.sealed = False  # the run writes the record no more (it released the incremental job it belongs to)
        self.code_changed = False  # the record was written by other code (load: allowed when `code_may_change`)

    async def keep_in(self, name: str) -> None:
        """Keep the record in the key-value store named `name`, and count the items of the dataset so named."""
        self.store_name, self.dataset = name, await Actor.open_dataset(name=name)

    @property
    def record_name(self) -> str:
        return STATE_KEY if self.store_name is None else f"{STATE_KEY} (key-value store {self.store_name!r})"

    @property
    def loaded(self) -> bool:
        return bool(self.state)

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

    def where(self) -> str:
        """How far the run is, for people: the items merged (a coordinator of parallel runs), pages crawled, or the
        next offset of the source."""
        if self.state["workers"]:
            return f"{self.pushed} items merged"
        return f"{self.state['pages']} pages saved" if self.crawl else f"next offset {self.offset}"

    def cursors_seen(self) -> list[str]:
        """The keys of the cursors (or next URLs) the run has read past, the last RECENT_CURSORS of them."""
        joined = self.state["cursorsSeen"]
        return [joined[n : n + POSITION_KEY_LENGTH] for n in range(0, len(joined), POSITION_KEY_LENGTH)]

    def remember_cursors(self, cursors: list[str | int]) -> None:
        """Add the positions of pages read past (before the next save) to those a restart remembers."""
        keys = "".join(position_key(cursor) for cursor in cursors)
        self.state["cursorsSeen"] = (self.state["cursorsSeen"] + keys)[-RECENT_CURSORS * POSITION_KEY_LENGTH :]

    async def load(
        self,
        source: dict[str, Any],
        code: Transform | ModuleType | None,
        *,
        code_may_change: bool = False,
        check_cursor: Callable[[Any], None] | None = None,
    ) -> None:
        """Load the state record, check that it was written for this `source` (the input fields that define
        what the offsets point at) and this `code` (the transform, or the module of a crawl's handlers: what makes
        dataset items; unless `code_may_change`), and reconcile it with the dataset.

        Raises StateError, before anything is written, when the record is corrupt or does not fit (`check_cursor`:
        the kind's check of the record's cursor, raising StateError).
        """
        await check_push_retries_can_be_turned_off(self.dataset)
        store = await Actor.open_key_value_store(name=self.store_name)
        saved = await store.get_value(STATE_KEY)
        if saved is None and await store.record_exists(STATE_KEY):
            raise StateError(f"The state record {self.record_name} is not valid JSON: fix or delete it to start over.")
        saved = _checked_state(saved, self.record_name)
        if check_cursor is not None:
            check_cursor(saved["cursor"])
        fingerprint = _fingerprint(source, code)
        changed = sorted(  # a field the record has and the input no longer gives (a requestBody dropped) counts too
            key
            for key in fingerprint.keys() | saved["source"].keys()
            if fingerprint.get(key) != saved["source"].get(key) and not (code_may_change and key == CODE_KEY)
        )
        self.code_changed = bool(saved["source"]) and fingerprint.get(CODE_KEY) != saved["source"].get(CODE_KEY)
        if saved["source"] and changed == [CODE_KEY] and saved["pending"] + len(saved["pendingRequests"]):
            raise StateError(
                f"The code that makes dataset items ({'your handlers' if self.crawl else 'transform'}) changed while a "
                f"push was under way (the state record {self.record_name} holds its marker): what landed cannot be "
                "compared with what the new code makes. Run the previous build once to finish that push, then the "
                "new one."
            )
        if saved["source"] and changed:
            raise StateError(
                f"The state record {self.record_name} was written for another source ({', '.join(changed)} changed): "
                + (
                    "its offsets mean nothing here. To start over, delete the record and empty the dataset "
                    "(locally: run without APIFY_PURGE_ON_START=0, or `apify run --purge`); to resume, restore the "
                    "input."
                    if self.store_name is None
                    else f"to start this job over, delete the key-value store, dataset and request queue named "
                    f"{self.store_name!r}, or name another dataset (datasetName); to go on, restore the input."
                )
            )
        landed = await items_after(saved["pushed"], saved["pending"], settle=saved["pending"] > 0, dataset=self.dataset)
        # The run's own record is the SDK's (`use_state`, saved at PERSIST_STATE and at exit too); a record in named
        # storages, which other runs write too, only by hand, past the fence (see persist).
        state = await Actor.use_state(dict(STATE_DEFAULTS)) if self.store_name is None else {}
        state.clear()  # a record written by an older version may lack newer keys, or hold retired ones
        state.update(saved)
        state["source"] = fingerprint
        self.state, self.landed = state, Landed(landed)
        # The state in memory always fits the dataset, for it may be saved at any moment (the SDK's at exit too): the
        # landed items of an offset page stay `pending` until that page is committed; those of a crawl's pages
        # are counted at once, split along the marker: whole pages are done, a cut page is finished later.
        if saved["pendingRequests"]:
            self._split_landed_along_the_marker(landed)
        if (self.offset or self.pushed or landed) and self.store_name is None:  # (a job's runs say it otherwise)
            Actor.log.info(
                (
                    f"Resuming with {self.pushed} items pushed from {self.state['pages']} pages"
                    if self.crawl
                    else f"Resuming at offset {self.offset} with {self.pushed} items pushed"
                )
                + (f"; {len(landed)} items of the last push landed after the last checkpoint" if landed else "")
            )

    def _split_landed_along_the_marker(self, landed: list[Any]) -> None:
        state, left = self.state, landed
        for key, count in state["pendingRequests"]:
            got, left = left[:count], left[count:]
            state["pushed"] += len(got)
            if len(got) == count:  # the whole page landed: that request is done
                state["unmarked"][key] = state["partial"].pop(key, 0) + count
                state["pages"] += 1
                continue
            if got:  # part of it (a push split in several requests): the rest is pushed when it comes again
                state["partial"][key] = state["partial"].get(key, 0) + len(got)
                self.landed = Landed(got, key)
            else:
                self.landed = Landed([])
            break
        else:
            self.landed = Landed([])
        state.update(pending=0, pendingRequests=[])

    def move_to(self, position: Position) -> None:
        """Start at `position` instead of the saved one: a worker of parallel runs skips what is not its part.
        Only before any work, with nothing pending."""
        if position != self.position and not self.state["pending"] and not self.landed:
            self.state.update(asdict(position))

    def stop_writing(self) -> None:
        """Write the record no more: the run released the incremental job it belongs to, which the next run may
        have claimed already (saves do nothing from now on)."""
        self.sealed = True

    async def persist(self) -> None:
        """Write the record now (callers hold the commit lock, or are the commit): past the fence, if any; not
        once sealed (`stop_writing`)."""
        if self.sealed:
            return
        if self.fence is not None:
            await self.fence()
        store = await Actor.open_key_value_store(name=self.store_name)
        if self.store_name is None:
            await store.persist_autosaved_values()
        else:  # a copy: the record as it is now, whatever changes while it is written
            await store.set_value(STATE_KEY, copy.deepcopy(self.state))

    async def save(self) -> None:
        """Write the record where the last commit took it, after the commit under way."""
        async with self.commit_lock:
            await self.persist()

    async def finish(self) -> None:
        """Mark the source as fully read, so that a restart of a finished run does nothing."""
        async with self.commit_lock:
            self.state["finished"] = True
            await self.persist()


def _checked_state(saved: Any, name: str = STATE_KEY) -> dict[str, Any]:
    """Return the saved state with defaults for missing keys, or raise StateError naming what is wrong."""
    if saved is None:
        return dict(STATE_DEFAULTS)
    if not isinstance(saved, dict):
        raise StateError(
            f"The state record {name} is a JSON {type(saved).__name__}, not an object: fix or delete it to start over."
        )
    merged = {**STATE_DEFAULTS, **saved}
    if isinstance(legacy := merged.pop("pendingRequest", None), str):  # a record of template 0.2: one page a push
        merged["pendingRequests"] = [[legacy, merged["pending"]]]
    wrong = [
        f"{key}={merged[key]!r}"
        for key, default in STATE_DEFAULTS.items()
        if type(merged[key]) not in STATE_TYPES.get(key, (type(default),))
        or (type(merged[key]) is int and merged[key] < 0)
    ]
    marker = merged["pendingRequests"]
    if not wrong and not all(
        isinstance(page, list) and len(page) == 2 and isinstance(page[0], str) and type(page[1]) is int
        for page in marker
    ):
        wrong.append(f"pendingRequests={marker!r}")
    if wrong:
        raise StateError(f"The state record {name} has invalid values ({', '.join(wrong)}): fix or delete it.")
    return merged


def _fingerprint(source: dict[str, Any], code: Any) -> dict[str, str]:
    """A short hash of each field that defines the source, and of the code that makes dataset items: enough
    to tell a changed input from the same one, with nothing of the input itself (it may hold secrets)."""
    parts = {**source} if code is None else {**source, CODE_KEY: code_identity(code)}
    return {key: hashlib.sha256(json.dumps(value).encode()).hexdigest()[:12] for key, value in parts.items()}


def code_identity(code: FunctionType | ModuleType) -> str:
    """What a function does, as its module's source says it: the function and every top-level definition of
    its module it names, directly or through those (helpers, constants, classes, imports), as `ast.unparse`
    writes them without docstrings or comments; for a module, all of its top-level code. The same in every
    process and Python release that parses the code alike (a bytecode hash is neither). It does not follow
    imports into other modules: code imported from elsewhere may change unnoticed."""
    module = code if isinstance(code, ModuleType) else sys.modules[code.__module__]
    try:
        tree = ast.parse(inspect.getsource(module))
    except OSError:  # no source at hand (an interactive session): the bytecode is all there is
        return code.__code__.co_code.hex() if isinstance(code, FunctionType) else module.__name__
    definitions: dict[str, list[ast.stmt]] = {}
    for statement in tree.body:
        for name in _names_defined(statement):
            definitions.setdefault(name, []).append(statement)
    wanted = list(definitions) if isinstance(code, ModuleType) else [code.__name__]
    used: list[ast.stmt] = []
    while wanted:
        for statement in definitions.pop(wanted.pop(), []):
            if statement not in used:
                used.append(statement)
                wanted += [node.id for node in ast.walk(statement) if isinstance(node, ast.Name)]
    used.sort(key=tree.body.index)
    return "\n".join(ast.unparse(_without_docstrings(statement)) for statement in used)


def _names_defined(statement: ast.stmt) -> list[str]:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [statement.name]
    if isinstance(statement, ast.Import | ast.ImportFrom):
        return [(alias.asname or alias.name).split(".")[0] for alias in statement.names]
    if isinstance(statement, ast.Assign | ast.AnnAssign | ast.AugAssign):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        return [node.id for target in targets for node in ast.walk(target) if isinstance(node, ast.Name)]
    return []


def _without_docstrings(statement: ast.stmt) -> ast.stmt:
    statement = copy.deepcopy(statement)
    for node in ast.walk(statement):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return statement
