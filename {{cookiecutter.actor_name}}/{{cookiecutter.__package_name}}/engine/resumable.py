"""Exactly-once resumption for a run that works through a source: `ResumableRun`, what the kinds' code holds.

It combines the run's state record (state_record.py: load, check, reconcile with the dataset, save), the
requests to stop early (stops.py: migrating, aborting, the charge limit) and, here, the run's status message:
progress, and the final word on how the run ended. Also here: the group commit each kind's commit path builds
on (page_commits.py, crawling.py), and how the process ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any, NoReturn, Protocol, TypeVar

from apify import Actor
from pydantic import BaseModel, ValidationError

from .ledger import SourceError, StateError, error_text
from .state_record import StateRecord, Transform
from .stops import StopRequests, being_cancelled

__all__ = ["EngineRun", "GroupCommits", "ResumableRun", "StateError", "fail", "run_to_the_end", "unexpected"]

STATUS_INTERVAL_SECS = 5.0
# After a migration the platform kills the container within a minute; a run still alive long after
# that fails rather than exit 0 (which would mark it SUCCEEDED and never restart it).
MIGRATION_WAIT_SECS = 600.0

T = TypeVar("T")
# Whether an EngineRun of this process started, and ended its work (stopped, or failed with its one line): a process
# that ends with exit code 0 in between did not run to its end (run_to_the_end).
_STARTED, _ENDED = threading.Event(), threading.Event()
InputModel = TypeVar("InputModel", bound=BaseModel)


class Job(Protocol):
    """What `restore` needs of an incremental job (incremental.IncrementalJob). incremental.py builds on this module,
    not the other way round: a run that is not incremental imports none of it."""

    name: str  # its storages' name
    code_may_change: bool  # a new build may go on with the job (no pass left half-pushed)

    async def begin(self, run: ResumableRun) -> None: ...


class ResumableRun(StateRecord):
    """The run as its kind's code sees it: its state record (inherited: `state`, `position`, `pushed`,
    `commit_lock`, `persist`...), its stops (`stops`, reached through `stopping`, `stop_soon`...) and its status
    message (`status_message`), with `restore` and `stop`, the first and last steps of every run."""

    def __init__(self, *, crawl: bool = False) -> None:
        """Start listening for the platform's events. Create the run before `async with Actor`: a migration
        announced while the Actor starts up is then not missed. A `crawl` counts pages, not a source offset."""
        super().__init__(crawl=crawl)
        self.stops = StopRequests(self)
        self.status_message = StatusMessages(self)

    async def read_input(self, model: type[InputModel]) -> InputModel:
        """The run's input, validated by `model`; bad input fails the run with one line naming each bad field."""
        try:
            return model.model_validate(await Actor.get_input() or {})
        except ValidationError as error:
            await fail(f"Invalid input: {describe(error)}")
            raise SystemExit(1) from None  # (Actor.fail exits the process already)

    async def restore(
        self,
        source: dict[str, Any],
        code: Transform | ModuleType | None,
        *,
        job: Job | None = None,
        check_cursor: Callable[[Any], None] | None = None,
    ) -> None:
        """Load the state record for this `source` and `code` and reconcile it with the dataset (see
        StateRecord.load: StateError, before anything is written, when it is corrupt or does not fit, its `cursor`
        too when `check_cursor` refuses it): the run's own, or those of an incremental `job`, which then goes on from
        the runs before. Then finish a migration announced while the Actor started."""
        if job is not None:
            await self.keep_in(job.name)
        code_may_change = job is not None and job.code_may_change
        await self.load(source, code, code_may_change=code_may_change, check_cursor=check_cursor)
        if job is not None:
            await job.begin(self)
        await self.stops.after_load()

    # Stops: the platform's and the run's own.
    @property
    def stopping(self) -> str | None:
        """Why the run stops early: "migrating", "aborting", "charge limit", ...; None while it goes on."""
        return self.stops.why

    async def unless_stopping(self, work: Awaitable[T]) -> T | None:
        return await self.stops.unless_stopping(work)

    def stop_soon(self, why: str) -> None:
        self.stops.stop_soon(why)

    async def wait_for_stop(self) -> str:
        return await self.stops.wait_for_stop()

    async def stop(self) -> None:
        """End the run according to why the work ended: done, aborted, out of budget, or migrating."""
        try:
            await self.save()  # where the last commit took the run
        except StateError as error:  # the run may no longer write its record (an incremental job taken over)
            await fail(str(error))
            return
        if self.stopping == "migrating" and Actor.is_at_home():
            # The platform takes the process (after our reboot request, or on its own). Never exit 0 here.
            await asyncio.sleep(MIGRATION_WAIT_SECS)
            await fail("The platform did not restart the run after a migration.")
        else:
            await self.status_message.final(self.stopping)

    # The status message.
    def tell_if_over(self, max_items: int) -> None:
        """Say in the final status message when the dataset holds more than `max_items`: maxItems was lowered after
        they had landed (a push under way at a crash, or a run stopped before), and they are kept, never taken back."""
        if max_items and self.pushed > max_items:
            self.status_message.add_note(
                f"maxItems ({max_items}) is below the {self.pushed} items that had landed before it was lowered: "
                "they are kept."
            )

    async def report_progress(self, message: str | None = None) -> None:
        await self.status_message.report_progress(message)

    async def set_status(self, message: str, *, terminal: bool = False) -> None:
        await self.status_message.set_status(message, terminal=terminal)


class EngineRun:
    """The run as main.py holds it, for every kind: made before `async with Actor` (a migration announced while the
    Actor starts up is then not missed), `read_input`, then the kind's one call (paged_run.PagedRun.read_all,
    crawl_run.CrawlRun.crawl_site), which ends the run: done, stopped early, or failed with one line."""

    def __init__(self, *, crawl: bool = False) -> None:
        self.run = ResumableRun(crawl=crawl)  # listens for migrating and aborting from now on
        _STARTED.set()

    async def read_input(self, model: type[InputModel]) -> InputModel:
        """The run's input, validated by `model`; bad input fails the run with one line naming each bad field."""
        return await self.run.read_input(model)

    async def _to_the_end(self, work: Awaitable[None], hide: Callable[[str], str] | None = None) -> None:
        """Await the kind's `work`, then end the run: done, aborted, or migrating (then the platform reboots it and it
        resumes). A failure ends it with one line (`hide`: what hides the input's secrets in it); the state is kept,
        and a new start goes on from the last checkpoint."""

        def shown(message: str) -> str:
            _ENDED.set()  # the run ends with this failure: its exit code says so
            return hide(message) if hide else message

        try:
            await work
        except (StateError, SourceError) as error:
            await fail(shown(str(error)))
            return
        except Exception as error:  # a bug (in a source, a transform, a handler or the template): one line
            await fail(shown(unexpected(error)))
            return
        except asyncio.CancelledError as error:
            if being_cancelled():
                raise  # the run's own task is cancelled: the process ends
            await fail(shown(unexpected(error)))  # raised by the kind's code of its own, not a cancel
            return
        except BaseException as error:  # sys.exit() or a KeyboardInterrupt in the kind's code: it did not end the work
            await fail(shown(unexpected(error)))
            return
        await self.run.stop()
        _ENDED.set()


class StatusMessages:
    """The run's status message, for people: progress at most every STATUS_INTERVAL_SECS, and how the run ended."""

    def __init__(self, record: StateRecord) -> None:
        self._record = record
        self._status_at = 0.0
        self._notes: list[str] = []
        self.done: str | None = None  # how a run that is done tells it, when its kind says it otherwise
        self.going_on = "Resume locally with APIFY_PURGE_ON_START=0 or `apify run --resurrect`."  # after a stop
        self.counted_from = 0  # items pushed before this run (an incremental job's), which its messages leave out

    async def report_progress(self, message: str | None = None) -> None:
        """Show progress (`message`, or the items pushed and where the run is) in the status message, at most
        every STATUS_INTERVAL_SECS."""
        if time.monotonic() - self._status_at >= STATUS_INTERVAL_SECS:
            pushed = self._record.pushed - self.counted_from
            await self.set_status(message or f"{pushed} items pushed; {self._record.where()}.")

    def add_note(self, note: str) -> None:
        """A fact the final status message tells after how the run ended."""
        if note not in self._notes:
            self._notes.append(note)

    async def final(self, stopping: str | None) -> None:
        """The last status message of a run that ends here (not migrating): done, or stopped early and why."""
        record, state = self._record, self._record.state
        if self.done and stopping in (None, "charge limit"):  # the kind tells how it ended
            message = self.done
        elif stopping == "charge limit":
            message = (
                f"Stopped: the run's maximum total charge is reached, after {record.pushed} items ({record.where()}; "
                "state saved). Resurrect the run with a higher limit to go on."
            )
        elif stopping:
            pushed = record.pushed - self.counted_from
            message = f"Stopped ({stopping}) with {pushed} items pushed, {record.where()}; state saved. {self.going_on}"
        elif workers := state["workers"]:
            failed = _failed_pages(state, "the workers' logs")
            message = f"Done: {record.pushed} items merged from {len(workers)} parallel runs{failed}."
        else:
            read = f"from {state['pages']} pages" if record.crawl else f"source read to offset {record.offset}"
            message = f"Done: {record.pushed} items pushed, {read}{_failed_pages(state, 'the log')}."
        await self.set_status(" ".join([message, *self._notes]), terminal=True)

    async def set_status(self, message: str, *, terminal: bool = False) -> None:
        self._status_at = time.monotonic()
        try:
            await Actor.set_status_message(message, is_terminal=terminal or None)
        except Exception as error:  # progress for people must never stop the work
            Actor.log.warning(f"Could not set the status message: {error}")


def _failed_pages(state: dict[str, Any], log: str) -> str:
    failed = state["failed"]  # a coordinator's: its workers' (scale_out.py)
    return f"; {failed} page{'s' if failed > 1 else ''} failed after all retries (see {log})" if failed else ""


class GroupCommits:
    """Group commit: whatever is handed over while a commit is in flight goes into the next one, as one group,
    committed under the run's commit lock by one task. Each kind says what a commit of a group is (`commit_group`) and
    what follows it, done or not (`settle`)."""

    def __init__(self, run: ResumableRun) -> None:
        self._run = run
        self._waiting: list[Any] = []
        self._committer: asyncio.Task[None] | None = None

    def hand_over(self, waiting: Any) -> None:
        self._waiting.append(waiting)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_while_waiting())

    def drop_waiting(self) -> None:
        """Forget what waits and was not taken into a commit yet (the run is stopping)."""
        self._waiting.clear()

    async def committed(self) -> None:
        """Wait for the commits under way, shielded: a commit that saved its marker is never abandoned."""
        if self._committer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._committer)

    def failure(self) -> BaseException | None:
        """What the committing task failed with, if it did."""
        committer = self._committer
        if committer is None or not committer.done() or committer.cancelled():
            return None
        return committer.exception()

    async def commit_group(self, group: list[Any]) -> None:
        raise NotImplementedError

    def settle(self, group: list[Any]) -> None:
        """After the commit of `group`, whether it succeeded or not."""

    async def _commit_while_waiting(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                async with self._run.commit_lock:
                    await self.commit_group(group)
            finally:
                self.settle(group)


async def fail(message: str) -> None:
    """End the run as failed, with `message` as its status message and in its log (at home the SDK only sets the
    status message; locally it logs it), on one line."""
    message = " ".join(message.split())
    if Actor.is_at_home():
        Actor.log.error(message)
    await Actor.fail(status_message=message)


def describe(error: ValidationError) -> str:
    """A validation error as one line: each bad field (by its input name) and what is wrong with it."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in error.errors())


def unexpected(error: BaseException) -> str:
    """One line for an error nobody foresaw (a bug in a transform, a handler, or in this code): what it is and
    where it was raised, instead of a traceback."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (in {frames[-1].name}, {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    return f"The run failed on an unexpected error{where}: {error_text(error)}"


def run_to_the_end(main: Callable[[], Awaitable[None]]) -> NoReturn:
    """Run the Actor's `main()` and end the process with its exit code, without the interpreter's teardown.
    Seen here, rarely: a SIGABRT with no Python frame after "Exiting Actor" (a native library giving up while
    the interpreter shuts down), which would turn a run that saved everything into a failed one."""
    try:
        asyncio.run(main())
        code = 0
    except SystemExit as exit_:  # Actor.exit() ends with sys.exit(code)
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    if code == 0 and _STARTED.is_set() and not _ENDED.is_set():
        # The event loop ended under the run: a sys.exit() or KeyboardInterrupt raised in a task of its own (a
        # crawler's handler) ends it at once, before the run saved and said how it ended. Exit 0 would mark it done.
        print("The run ended before its work did: an exit raised in a task of the run (sys.exit() in a handler?).")
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
