"""Read every item of a paginated JSON API into the default dataset, exactly once.

The story of a run: restore where the last run stopped; walk the source page by page, pushing the pages and
checkpointing their position; stop cleanly when the source ends, or when the platform migrates or aborts
the run. A migration or a crash at any instant loses no item and duplicates none (see state_record.py).

Customize `transform` (what each item becomes) and the input (actor_input.py with .actor/input_schema.json).
"""

from __future__ import annotations

from typing import Any

from apify import Actor
from pydantic import ValidationError

from .actor_input import ActorInput
from .engine.incremental import IncrementalJob
from .engine.incremental_items import NewItems, restart_a_half_done_pass
from .engine.json_api import JsonApiSource, SourceError, http_client
from .engine.page_commits import PageCommits
from .engine.resumable import ResumableRun, StateError, fail, unexpected
from .engine.scale_out import check_parallel_runs_kept, coordinate, open_part_dataset, take_part
from .engine.scale_out_chunks import ChunkMerge, Stripe


def transform(item: Any) -> Any | None:
    """Turn one source item into one dataset item (a dict); return None to drop it.

    Must give the same result for the same item every time: a resumed run fetches the page it was on
    again and relies on that to skip what already landed.
    """
    return item


async def main() -> None:
    run = ResumableRun()  # listens for migrating and aborting from the very start
    async with Actor:
        try:
            actor_input = ActorInput.model_validate(await Actor.get_input() or {})
        except ValidationError as error:
            await fail(f"Invalid input: {_describe(error)}")
            return

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
                await walk(run, actor_input, new=await NewItems.of(run, actor_input) if job else None)
            elif await take_part(run, part):  # a worker: its stripe (unless another run has its part)
                await walk(run, actor_input, Stripe.of(part, actor_input))

            # 3. Deliver: an incremental run's dataset gets the job's items since the last run that succeeded.
            if job is not None and not run.stopping:
                await job.deliver(run)
        except (StateError, SourceError) as error:
            await fail(str(error))
            return
        except Exception as error:  # a bug (in a transform, a handler or the template): one line, not a traceback
            await fail(unexpected(error))
            return

        # 4. Stop: done, aborted, or migrating (then the platform reboots the run and it resumes).
        await run.stop()


async def walk(
    run: ResumableRun, actor_input: ActorInput, stripe: Stripe | None = None, new: NewItems | None = None
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


def _describe(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in error.errors())
