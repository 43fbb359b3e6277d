"""The platform's requests to stop a run early, and the run's own: migrating, aborting, the charge limit.

A stop is announced (`stop_soon`, or the platform's MIGRATING and ABORTING events), the work under way ends
(`unless_stopping`, `wait_for_stop`), and the state record is saved after the commit under way. A migration
then asks the platform to reboot the run, at most MAX_REBOOTS times a run; an abort is final.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

from apify import Actor, Event

from .state_record import StateRecord

MAX_REBOOTS = 3  # more reboot requests than this in one run means a loop: leave restarts to the platform

T = TypeVar("T")


class StopRequests:
    """Why the run stops early (`why`: "migrating", "aborting", "charge limit", ...; None while it goes on), and
    the saves and the reboot that stop asks for."""

    def __init__(self, record: StateRecord) -> None:
        """Start listening for the platform's events."""
        self.why: str | None = None
        self._record = record
        self._requested = asyncio.Event()
        Actor.event_manager.on(event=Event.MIGRATING, listener=self._on_migrating)
        Actor.event_manager.on(event=Event.ABORTING, listener=self._on_aborting)

    async def unless_stopping(self, work: Awaitable[T]) -> T | None:
        """Await `work` (a page being fetched), or cancel it and return None as soon as the run must stop. Work that
        cancels itself (a CancelledError raised in it, no stop asked for) is an error, never taken for a stop: the run
        would end as done with the source unread."""
        task = asyncio.ensure_future(_contained(work))
        stop = asyncio.ensure_future(self._requested.wait())
        stopped = False
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                stopped = True
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if task.cancelled() and not stopped:
            raise RuntimeError(f"{_name_of(work)} was cancelled from inside (a CancelledError raised in it, no stop)")
        return None if task.cancelled() else task.result()

    def stop_soon(self, why: str) -> None:
        """Stop taking work (the charge limit is reached, or the run cannot go on): the stop saves the state."""
        self.why = self.why or why
        self._requested.set()

    async def wait_for_stop(self) -> str:
        """Wait until the platform asks the run to stop (or its budget ends it); return why."""
        await self._requested.wait()
        return self.why or "stopping"

    async def after_load(self) -> None:
        """Once the record is loaded: finish a migration announced before (its listener left it to this)."""
        if self.why == "migrating":
            await self._save_and_reboot()

    async def _on_migrating(self, _event_data: Any) -> None:
        # The SDK runs this listener a second time from inside Actor.reboot(): that call must return at once.
        if self.why == "migrating":
            return
        if self.why:  # aborted (or out of budget) already: that is final, save without a reboot
            if self._record.loaded:
                await self._record.save()
            return
        self.stop_soon("migrating")
        if self._record.loaded:  # before the record is loaded, after_load() finishes the job
            await self._save_and_reboot()

    async def _save_and_reboot(self) -> None:
        record = self._record
        async with record.commit_lock:  # the page being pushed reaches its checkpoint first
            if record.state["reboots"] >= MAX_REBOOTS:
                await record.persist()
                Actor.log.warning(f"Migrating after {MAX_REBOOTS} reboots in this run: waiting for the platform.")
                return
            record.state["reboots"] += 1
            await record.persist()
        Actor.log.info(f"Migrating: state saved ({record.where()}); asking the platform to reboot the run.")
        await Actor.reboot()

    async def _on_aborting(self, _event_data: Any) -> None:
        if self.why:
            return
        self.stop_soon("aborting")
        if self._record.loaded:  # before the record is loaded, the saved one is already the latest
            await self._record.save()
            Actor.log.info(f"Aborting: state saved ({self._record.where()}).")


def _name_of(work: Awaitable[Any]) -> str:
    """What a piece of work is, for a message: its coroutine's name (`SourcePages.page_at`)."""
    return getattr(work, "__qualname__", None) or type(work).__name__


def being_cancelled() -> bool:
    """Whether the current task is being cancelled: a CancelledError is then the cancel's (a stop, the process
    ending), not one that code it runs raised of its own (a driver's timeout)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _contained(work: Awaitable[Any]) -> Any:
    """`work`, with a sys.exit() or KeyboardInterrupt raised in it made an error of the run: raised in a task of its
    own either would end the event loop at once, before the run saved and said how it ended."""
    try:
        return await work
    except (SystemExit, KeyboardInterrupt) as error:
        raise RuntimeError(f"{type(error).__name__}({error}) raised in the run's work").with_traceback(
            error.__traceback__
        ) from None
