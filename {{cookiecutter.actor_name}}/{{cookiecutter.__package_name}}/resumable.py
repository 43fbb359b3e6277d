"""Exactly-once resumption for a run that walks a source by offsets: the machinery behind main.py.

The state record (`Actor.use_state`, key APIFY_GLOBAL_STATE) holds `offset`, the next source offset, and
`pushed`, how many dataset items the run has written. Both change together, right after each page's single
`push_data`, and are persisted at once. The dataset is the ledger: after a crash or a migration,
`item_count - pushed` is how many items of the page at `offset` landed after the last checkpoint; they are
skipped when that page is fetched again. Nothing is lost and nothing is pushed twice, provided the same
page gives the same items (a stable source and a deterministic transform).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from apify import Actor, Event

STATE_KEY = "APIFY_GLOBAL_STATE"  # the record Actor.use_state() keeps by default
STATE_DEFAULTS: dict[str, Any] = {"offset": 0, "pushed": 0, "reboots": 0, "finished": False}
MAX_REBOOTS = 3  # more reboot requests than this in one run means a loop: leave restarts to the platform
STATUS_INTERVAL_SECS = 5.0
# After a migration the platform kills the container within a minute; a run still alive long after
# that fails rather than exit 0 (which would mark it SUCCEEDED and never restart it).
MIGRATION_WAIT_SECS = 600.0
# On the platform a dataset's item_count can lag a push by a few seconds.
ITEM_COUNT_LAG_SECS = 10.0


class StateError(Exception):
    """The state record or the dataset cannot be trusted: resuming would lose or duplicate items."""


class ResumableRun:
    """The run's checkpoint, its reconciliation with the dataset, and the migrating/aborting handlers."""

    def __init__(self) -> None:
        """Start listening for the platform's events. Create the run before `async with Actor`: a migration
        announced while the Actor starts up is then not missed."""
        self.state: dict[str, Any] = {}  # loaded by restore()
        self.stopping: str | None = None  # "migrating" or "aborting" once the platform asks us to stop
        self._landed = 0  # items of the page at `offset` already in the dataset (see module doc)
        self._commit_lock = asyncio.Lock()
        self._status_at = 0.0
        Actor.event_manager.on(event=Event.MIGRATING, listener=self._on_migrating)
        Actor.event_manager.on(event=Event.ABORTING, listener=self._on_aborting)

    @property
    def offset(self) -> int:
        return self.state["offset"]

    @property
    def pushed(self) -> int:
        return self.state["pushed"]

    @property
    def finished(self) -> bool:
        return self.state["finished"]

    async def restore(self) -> None:
        """Load the state record and check it against the dataset.

        Raises StateError, before anything is written, when the record is corrupt or does not fit the dataset.
        """
        store = await Actor.open_key_value_store()
        saved = await store.get_value(STATE_KEY)
        if saved is None and await store.record_exists(STATE_KEY):
            raise StateError(f"The state record {STATE_KEY} is not valid JSON: fix or delete it to start over.")
        saved = _checked_state(saved)
        item_count = await _item_count(at_least=saved["pushed"])
        landed = item_count - saved["pushed"]
        if landed < 0:
            raise StateError(
                f"The dataset holds {item_count} items but the state record {STATE_KEY} says {saved['pushed']} "
                "were pushed: the record belongs to another dataset. Delete it, or restore the dataset."
            )
        state = await Actor.use_state(dict(STATE_DEFAULTS))
        for key, value in STATE_DEFAULTS.items():
            state.setdefault(key, value)  # a record written by an older version may lack newer keys
        self.state, self._landed = state, landed
        if self.offset or self.pushed or landed:
            Actor.log.info(
                f"Resuming at offset {self.offset} with {self.pushed} items pushed"
                + (f"; {landed} items of the next page landed after the last checkpoint" if landed else "")
            )
        if self.stopping == "migrating":  # announced before the state was loaded: the listener left this to us
            await self._save_and_reboot()

    async def commit(self, items: Sequence[Any], next_offset: int) -> bool:
        """Push one page's items with one push_data call, then checkpoint `next_offset`.

        Returns False, pushing nothing, once the run is stopping: the page is fetched again after the restart.
        """
        async with self._commit_lock:
            if self.stopping:
                return False
            if self._landed > len(items):
                raise StateError(
                    f"{self._landed} items landed after the last checkpoint, but the page at offset "
                    f"{self.offset} now gives only {len(items)}: the source or the transform changed."
                )
            fresh = items[self._landed :]
            if fresh:
                await Actor.push_data(list(fresh))
            # Offset and count move together, with no await between them.
            self.state["offset"] = next_offset
            self.state["pushed"] += len(items)
            self._landed = 0
            await self._persist()
        await self._report_progress()
        return True

    async def finish(self) -> None:
        """Mark the source as fully read, so that a restart of a finished run does nothing."""
        async with self._commit_lock:
            self.state["finished"] = True
            await self._persist()

    async def stop(self) -> None:
        """End the run according to why the loop ended: finished, aborted, or migrating."""
        if self.stopping == "migrating" and Actor.is_at_home():
            # The platform takes the process (after our reboot request, or on its own). Never exit 0 here.
            await asyncio.sleep(MIGRATION_WAIT_SECS)
            await Actor.fail(status_message="The platform did not restart the run after a migration.")
        elif self.stopping:
            await self._set_status(
                f"Stopped ({self.stopping}) at offset {self.offset} with {self.pushed} items pushed; state saved. "
                "Resume locally with APIFY_PURGE_ON_START=0 or `apify run --resurrect`.",
                terminal=True,
            )
        else:
            await self._set_status(
                f"Done: {self.pushed} items pushed, source read to offset {self.offset}.", terminal=True
            )

    async def _on_migrating(self, _event_data: Any) -> None:
        # The SDK runs this listener a second time from inside Actor.reboot(): that call must return at once.
        if self.stopping == "migrating":
            return
        self.stopping = "migrating"
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
        if self.state:  # before restore(), the saved record is already the latest
            async with self._commit_lock:
                await self._persist()
            Actor.log.info(f"Aborting: state saved at offset {self.offset}.")

    async def _persist(self) -> None:
        store = await Actor.open_key_value_store()
        await store.persist_autosaved_values()

    async def _report_progress(self) -> None:
        if time.monotonic() - self._status_at >= STATUS_INTERVAL_SECS:
            await self._set_status(f"{self.pushed} items pushed; next offset {self.offset}.")

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
        if type(merged[key]) is not type(default) or (type(default) is int and merged[key] < 0)
    ]
    if wrong:
        raise StateError(f"The state record {STATE_KEY} has invalid values ({', '.join(wrong)}): fix or delete it.")
    return merged


async def _item_count(at_least: int) -> int:
    """The dataset's item count; on the platform, wait briefly for a lagging count to reach `at_least`."""
    dataset = await Actor.open_dataset()
    deadline = time.monotonic() + (ITEM_COUNT_LAG_SECS if Actor.is_at_home() else 0)
    while True:
        count = (await dataset.get_metadata()).item_count
        if count >= at_least or time.monotonic() >= deadline:
            return count
        await asyncio.sleep(1)
