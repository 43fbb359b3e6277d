"""One run over a source, exactly once, from its input to its end (`SourceRun`): the modes are the engine's business.

    restore (the state record, reconciled with the dataset; an incremental job's, claimed first)
    → walk: read a page, hand it to the commits (one save of the position, then one push, per group), read the next
    → stop early on migrating (save, reboot), aborting, the charge limit, maxItems
    → an incremental run delivers the job's items since the last run that succeeded
    → stop: done, or saved for the restart

Built on the machinery every kind shares (resumable.py, state_record.py, page_commits.py, ledger.py, stops.py,
incremental.py): nothing here is copied from it.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from .page_commits import PageCommits
from .reading import Source, SourceError, SourcePages
from .resumable import ResumableRun, StateError, fail, unexpected
from .state_record import Transform, code_identity

if TYPE_CHECKING:
    from .incremental import IncrementalJob
    from .source_input import SourceInput

InputModel = TypeVar("InputModel", bound=BaseModel)
SOURCE_CODE_KEY = "sourceCode"  # in the source's identity: the code of the module that defines the source's class


class SourceRun:
    """The run as main.py sees it: `read_input`, then `read_all` of a source. Create it before `async with Actor`:
    a migration announced while the Actor starts up is then not missed."""

    def __init__(self) -> None:
        self.run = ResumableRun()  # listens for migrating and aborting from now on

    async def read_input(self, model: type[InputModel]) -> InputModel:
        """The run's input, validated by `model`; bad input fails the run with one line naming each bad field."""
        return await self.run.read_input(model)

    async def read_all(self, source_class: type[Source], actor_input: SourceInput, *, transform: Transform) -> None:
        """Read the source `source_class(actor_input)` from where the last start of this run (or the incremental job)
        stopped to its end into the dataset, each item as `transform` makes it (None: dropped), exactly once; then end
        the run. A failure ends it with one line (a source that cannot even be made too): the state is kept, and a new
        start goes on from the last checkpoint."""
        secrets = actor_input.secrets()
        try:
            await self._read_all(source_class(actor_input), actor_input, transform)
        except (StateError, SourceError) as error:
            await fail(secrets.hide(str(error)))
            return
        except Exception as error:  # a bug (in read, transform or the template): one line, not a traceback
            await fail(secrets.hide(unexpected(error)))
            return
        await self.run.stop()

    async def _read_all(self, source: Source, actor_input: SourceInput, transform: Transform) -> None:
        run = self.run
        job = await _claim_job(actor_input) if actor_input.incremental else None
        identity = {**actor_input.source(), SOURCE_CODE_KEY: code_identity(sys.modules[type(source).__module__])}
        await run.restore(identity, transform, job=job)
        if run.finished and job is None:
            return  # a finished run restarted: nothing is read again
        async with source:
            await _walk(run, source, actor_input, transform, job)
        if job is not None and not run.stopping:
            await job.deliver(run)


async def _claim_job(actor_input: SourceInput) -> IncrementalJob:
    """The incremental job of this input, claimed (incremental code is imported by incremental runs only)."""
    from .incremental import IncrementalJob  # noqa: PLC0415 - a run that is not incremental runs none of it

    class GoingOnJob(IncrementalJob):
        """A job whose next pass goes on where the last one ended (the last page read again, past what it gave): a
        keyset or append-only source gives only its new items."""

        def _next_pass(self, run: ResumableRun) -> None:
            ended = run.position
            super()._next_pass(run)
            run.state.update(asdict(ended), offset=0)

    return await GoingOnJob.claim(actor_input)


async def _walk(
    run: ResumableRun, source: Source, actor_input: SourceInput, transform: Transform, job: IncrementalJob | None
) -> None:
    """Read the source page by page from where the run is; each page is handed to the commits while the next is read."""
    secrets = actor_input.secrets()
    pages = SourcePages(
        source, secrets, actor_input.secret_fields(), retries=actor_input.max_read_retries, seen=run.cursors_seen()
    )
    max_items = actor_input.max_items
    if job is not None and max_items:  # an incremental run: maxItems of its own, counted from its start
        max_items += run.state["incremental"]["startPushed"]
    async with PageCommits(run, transform, max_items, fetched_ahead=1) as commits:
        at = run.position
        while not run.stopping and commits.wants_more:
            page = await run.unless_stopping(pages.page_at(at))
            if page is None:
                break  # migrating or aborting: this page is read again after the restart
            await commits.add(page)
            if page.is_last:
                break
            at = page.next
    if commits.read_to_the_end and not run.stopping:
        await run.finish()
