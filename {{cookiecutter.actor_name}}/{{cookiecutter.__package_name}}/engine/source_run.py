"""One run over your own source, exactly once, from its input to its end (`SourceRun`): the modes are the engine's
business.

    restore (the state record, reconciled with the dataset; an incremental job's, claimed first)
    → walk (paged_run.py): read a page, hand it to the commits (one save of the position, then one push, per group),
      read the next
    → stop early on migrating (save, reboot), aborting, the charge limit, maxItems
    → an incremental run delivers the job's items since the last run that succeeded
    → stop: done, or saved for the restart

Built on the machinery every kind shares (paged_run.py, resumable.py, state_record.py, page_commits.py, ledger.py,
stops.py, incremental.py): nothing here is copied from it.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import TYPE_CHECKING

from .page_commits import PageCommits
from .paged_run import PagedRun, walk
from .reading import Source, SourcePages
from .state_record import Transform, code_identity

if TYPE_CHECKING:
    from .incremental import IncrementalJob
    from .resumable import ResumableRun
    from .source_input import SourceInput

SOURCE_CODE_KEY = "sourceCode"  # in the source's identity: the code of the module that defines the source's class


class SourceRun(PagedRun):
    """The run over your own source as main.py sees it: `read_input`, then `read_all(Source, actor_input,
    transform=...)`, which makes `Source(actor_input)` (a source that cannot be made: one line), restores, reads it
    with checkpoints, stops for migrating (save and reboot), aborting, the charge limit and maxItems, delivers an
    incremental run, and ends the run."""

    async def _read_all(self, source_class: type[Source], actor_input: SourceInput, transform: Transform) -> None:
        source = source_class(actor_input)
        run = self.run
        job = await _claim_job(actor_input) if actor_input.incremental else None
        identity = {**actor_input.source(), SOURCE_CODE_KEY: code_identity(sys.modules[source_class.__module__])}
        await run.restore(identity, transform, job=job, check_cursor=SourcePages.check_cursor)
        if run.finished and job is None:
            return  # a finished run restarted: nothing is read again
        pages = SourcePages(
            source,
            actor_input.secrets(),
            actor_input.secret_fields(),
            retries=actor_input.max_read_retries,
            seen=run.cursors_seen(),
            going_on_from=_going_on_from(run) if job is not None else None,
        )
        max_items = actor_input.max_items
        if job is not None and max_items:  # an incremental run: maxItems of its own, counted from its start
            max_items += run.state["incremental"]["startPushed"]
        async with source:
            await walk(run, pages, PageCommits(run, transform, max_items, fetched_ahead=1))
        if job is not None and not run.stopping:
            await job.deliver(run)

    def _hidden(self, actor_input: SourceInput, message: str) -> str:
        return actor_input.secrets().hide(message)


def _going_on_from(run: ResumableRun) -> str | None:
    """The saved position where the incremental job's last pass ended, while this pass (which goes on from there, see
    GoingOnJob) has read nothing past it: None in the first pass, or once it has."""
    at = run.position
    return at.cursor if run.state["incremental"]["pass"] > 1 and at.offset == 0 else None


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
