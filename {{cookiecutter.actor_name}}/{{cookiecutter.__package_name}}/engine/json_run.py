"""A run of the JSON kind, every mode behind one call (`read_json_api`): main.py reads the input and hands it over.

- restore: the state record, reconciled with the dataset (an incremental job's, claimed first);
- walk the source (json_api.py): pages fetched ahead, committed in order in groups (page_commits.py); with
  parallelRuns > 1 this run coordinates worker runs, each walking its stripe (scale_out*.py);
- an incremental run delivers the job's items since the last run that succeeded;
- stop: done, aborted, or migrating (then the platform reboots the run and it resumes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apify import Actor

from .incremental import IncrementalJob
from .incremental_items import NewItems, restart_a_half_done_pass
from .json_api import JsonApiSource, SourceError, http_client
from .page_commits import PageCommits
from .resumable import ResumableRun, StateError, fail, unexpected
from .scale_out import check_parallel_runs_kept, coordinate, open_part_dataset, take_part
from .scale_out_chunks import ChunkMerge, Stripe

if TYPE_CHECKING:
    from ..actor_input import ActorInput
    from .state_record import Transform


async def read_json_api(run: ResumableRun, actor_input: ActorInput, *, transform: Transform) -> None:
    """Read the JSON API of `actor_input` into the dataset, each item as `transform` makes it, exactly once, from
    where the last start of this run (or the incremental job) stopped; then end the run. A failure ends it with one
    line: the state is kept, and a new start goes on from the last checkpoint."""
    try:
        # 1. Restore: where the last run stopped, reconciled with what the dataset already holds. An incremental
        #    job (incrementalField) keeps both in storages of its own, and goes on from the runs before it.
        job = None
        if actor_input.incremental:
            job = await IncrementalJob.claim(actor_input, half_done=restart_a_half_done_pass)
        part = actor_input.part_of_job
        if part is not None:  # a worker pushes into a dataset of its own (scale_out.py)
            run.dataset = await open_part_dataset(part)
        await check_parallel_runs_kept(actor_input)  # the job's parallel runs are fixed at its start
        await run.restore(actor_input.source(), transform, job=job)

        # 2. Walk the source. With parallelRuns > 1 this run coordinates: worker runs walk it, each its stripe
        #    of the source, and this run merges their items in order (scale_out.py, scale_out_chunks.py).
        if actor_input.parallel_runs > 1:
            await coordinate(run, actor_input, ChunkMerge)
        elif part is None:
            new = await NewItems.of(run, actor_input) if job else None
            await walk(run, actor_input, transform, new=new)
        elif await take_part(run, part):  # a worker: its stripe (unless another run has its part)
            await walk(run, actor_input, transform, Stripe.of(part, actor_input))

        # 3. Deliver: an incremental run's dataset gets the job's items since the last run that succeeded.
        if job is not None and not run.stopping:
            await job.deliver(run)
    except (StateError, SourceError) as error:
        await fail(str(error))
        return
    except Exception as error:  # a bug (in a transform or the template): one line, not a traceback
        await fail(unexpected(error))
        return

    # 4. Stop: done, aborted, or migrating (then the platform reboots the run and it resumes).
    await run.stop()


async def walk(
    run: ResumableRun,
    actor_input: ActorInput,
    transform: Transform,
    stripe: Stripe | None = None,
    new: NewItems | None = None,
) -> None:
    """Read the source from where the run is to its end: pages are fetched ahead and committed in order, in groups;
    each group is one save of the position it starts at and one push (ahead: prefetchPages, for offset or page
    numbers). A worker of parallel runs reads only its `stripe` (scale_out_chunks.py); an incremental run keeps
    only the items that are `new` (incremental.py)."""
    proxy = None
    if actor_input.proxy_configuration:
        proxy = await Actor.create_proxy_configuration(actor_proxy_input=actor_input.proxy_configuration)
    kept, max_items = transform, actor_input.max_items
    if new is not None:  # an incremental run: the new items only, and maxItems of them counted from its start
        kept, max_items = new.only_new(transform), new.max_items(max_items)
    async with (
        http_client() as http,
        JsonApiSource(
            http, actor_input, proxy, seen=run.cursors_seen(), stripe=stripe, query=new and new.query()
        ) as source,
        PageCommits(
            run,
            kept,
            max_items,
            fetched_ahead=actor_input.prefetch_pages,
            read_past=new and new.read_past,
            marking=new and new.marking,
        ) as commits,
    ):
        run.move_to(source.first_position(run.position))
        at = run.position
        while not run.finished and not run.stopping and commits.wants_more:
            ahead = actor_input.pages_ahead(commits.items_wanted())
            page = await run.unless_stopping(source.page_at(at, ahead))
            if page is None:
                break  # migrating or aborting: this page is fetched again after the restart
            await commits.add(page)
            if page.is_last:
                break
            at = page.next
    if commits.read_to_the_end and not run.stopping:
        await run.finish()  # the source has ended
