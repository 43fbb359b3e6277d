"""A run of the JSON kind (`JsonApiRun`), every mode behind the face main.py holds (paged_run.PagedRun): main.py
reads the input and hands it over with the source's class, `JsonApiSource`.

- restore: the state record, reconciled with the dataset (an incremental job's, claimed first);
- walk the source (paged_run.walk over json_api.JsonApiSource, the engine's `Pages`): pages fetched ahead,
  committed in order in groups (page_commits.py); with parallelRuns > 1 this run coordinates worker runs, each
  walking its stripe (scale_out*.py);
- an incremental run delivers the job's items since the last run that succeeded;
- stop: done, aborted, or migrating (then the platform reboots the run and it resumes).

Scale-out and incremental code is imported by the runs that use it only: a single run loads none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apify import Actor

from .json_api import http_client
from .modes import restore_job
from .page_commits import PageCommits
from .paged_run import PagedRun, walk

if TYPE_CHECKING:
    from ..actor_input import ActorInput
    from .incremental import IncrementalJob
    from .incremental_items import NewItems
    from .json_api import JsonApiSource
    from .resumable import ResumableRun
    from .scale_out_chunks import Stripe
    from .state_record import Transform


class JsonApiRun(PagedRun):
    """The run over a JSON API as main.py sees it: `read_input`, then `read_all(JsonApiSource, actor_input,
    transform=...)`."""

    async def _read_all(self, source_class: type[JsonApiSource], actor_input: ActorInput, transform: Transform) -> None:
        run = self.run
        # 1. Restore: where the last run stopped, reconciled with what the dataset already holds. An incremental
        #    job (incrementalField) keeps both in storages of its own, and goes on from the runs before it.
        job = await restore_job(run, actor_input, transform, claim=_claim_job)
        part = actor_input.part_of_job

        # 2. Walk the source. With parallelRuns > 1 this run coordinates: worker runs walk it, each its stripe
        #    of the source, and this run merges their items in order (scale_out.py, scale_out_chunks.py).
        if actor_input.parallel_runs > 1:
            from .scale_out import coordinate  # noqa: PLC0415 - scale-out only
            from .scale_out_chunks import ChunkMerge  # noqa: PLC0415

            await coordinate(run, actor_input, ChunkMerge)
        elif part is None:
            new = None
            if job is not None:
                from .incremental_items import NewItems  # noqa: PLC0415 - incremental runs only

                new = await NewItems.of(run, actor_input)
            await _walk(run, source_class, actor_input, transform, new=new)
        else:  # a worker: its stripe (unless another run has its part)
            from .scale_out import take_part  # noqa: PLC0415 - scale-out only
            from .scale_out_chunks import Stripe  # noqa: PLC0415

            if await take_part(run, part):
                await _walk(run, source_class, actor_input, transform, stripe=Stripe.of(part, actor_input))

        # 3. Deliver: an incremental run's dataset gets the job's items since the last run that succeeded.
        if job is not None and not run.stopping:
            await job.deliver(run)


async def _claim_job(actor_input: ActorInput) -> IncrementalJob:
    """The incremental job of this input, claimed (a half-done pass of a new build is read again from its start)."""
    from .incremental import IncrementalJob  # noqa: PLC0415 - incremental runs only
    from .incremental_items import restart_a_half_done_pass  # noqa: PLC0415

    return await IncrementalJob.claim(actor_input, half_done=restart_a_half_done_pass)


async def _walk(
    run: ResumableRun,
    source_class: type[JsonApiSource],
    actor_input: ActorInput,
    transform: Transform,
    *,
    stripe: Stripe | None = None,
    new: NewItems | None = None,
) -> None:
    """Read the source from where the run is to its end: pages are fetched ahead and committed in order, in groups;
    each group is one save of the position it starts at and one push (ahead: prefetchPages, for offset or page
    numbers). A worker of parallel runs reads only its `stripe` (scale_out_chunks.py); an incremental run keeps
    only the items that are `new` (incremental_items.py)."""
    proxy = None
    if actor_input.proxy_configuration:
        proxy = await Actor.create_proxy_configuration(actor_proxy_input=actor_input.proxy_configuration)
    kept, max_items = transform, actor_input.max_items
    if new is not None:  # an incremental run: the new items only, and maxItems of them counted from its start
        kept, max_items = new.only_new(transform), new.max_items(max_items)
    commits = PageCommits(
        run,
        kept,
        max_items,
        fetched_ahead=actor_input.prefetch_pages,
        read_past=new and new.read_past,
        marking=new and new.marking,
    )
    seen, query = run.cursors_seen(), new and new.query()
    async with (
        http_client() as http,
        source_class(http, actor_input, proxy, seen=seen, stripe=stripe, query=query) as source,
    ):
        run.move_to(source.first_position(run.position))
        await walk(run, source, commits, ahead=actor_input.pages_ahead)
