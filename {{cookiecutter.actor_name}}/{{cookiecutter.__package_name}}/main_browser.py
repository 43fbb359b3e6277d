"""Crawl a website that needs a real browser into the default dataset: every page's items exactly once,
whatever happens to the run.

The story of a run: restore where the last run stopped; crawl from the start URLs in headless Chromium with your
handlers (routes.py), saving what each page pushed together with the request that loaded it; stop cleanly when
the crawl ends or maxRequestsPerCrawl pages are saved, or when the platform migrates or aborts the run. A
migration or a crash at any instant loses no page and duplicates none (see crawling.py and state_record.py).

Customize routes.py (what pages become, which links to follow) and the input (browser_input.py with
.actor/input_schema.json).
"""

from __future__ import annotations

from apify import Actor
from crawlee.crawlers import PlaywrightCrawler, PlaywrightPreNavCrawlingContext
from pydantic import ValidationError

from . import routes
from .browser_input import BrowserInput
from .engine.crawling import crawl
from .engine.incremental import IncrementalJob
from .engine.incremental_pages import Revisits
from .engine.resumable import ResumableRun, StateError, fail, unexpected
from .engine.scale_out import check_parallel_runs_kept, coordinate, open_part_dataset
from .engine.scale_out_pages import PageMerge, take_page_part


async def main() -> None:
    run = ResumableRun(crawl=True)  # listens for migrating and aborting from the very start
    async with Actor:
        try:
            browser_input = BrowserInput.model_validate(await Actor.get_input() or {})
        except ValidationError as error:
            await fail(f"Invalid input: {_describe(error)}")
            return

        try:
            # 1. Restore: the counts of the last run, reconciled with what the dataset already holds. An incremental
            #    crawl keeps both, and its queue, in storages of its own, and goes on from the runs before it.
            job = await IncrementalJob.claim(browser_input) if browser_input.incremental else None
            part = browser_input.part_of_job
            if part is not None:  # a worker pushes into a dataset of its own (scale_out.py)
                run.dataset = await open_part_dataset(part)
            await check_parallel_runs_kept(browser_input)  # the job's parallel runs are fixed at its start
            await run.restore(browser_input.source(), routes, job=job)

            # 2. Crawl in the browser: what each page pushed is saved with the request that loaded it (pages
            #    waiting to be saved go together, in one save and one push); the queue knows which are done.
            #    With parallelRuns > 1 this run coordinates: worker runs crawl from its queue, shared, and this run
            #    merges their pages (scale_out.py, scale_out_pages.py).
            hooks = [_block_images_fonts_and_styles] if browser_input.block_resources else []
            options = {**browser_input.crawler_options(), "pre_navigation_hooks": hooks}
            if run.finished:
                pass  # the crawl ended before this start: nothing is left to crawl
            elif browser_input.parallel_runs > 1:
                await coordinate(run, browser_input, PageMerge)
            elif part is None:
                revisits = Revisits.of_the_pass(run, browser_input.revisit_labels) if job else None
                await crawl(run, browser_input, routes.router, PlaywrightCrawler, revisits=revisits, **options)
            elif page_part := await take_page_part(run, part):  # a worker (unless another run has its part)
                await crawl(run, browser_input, routes.router, PlaywrightCrawler, part=page_part, **options)

            # 3. Deliver: an incremental run's dataset gets the job's items since the last run that succeeded.
            if job is not None and not run.stopping:
                await job.deliver(run)
        except StateError as error:
            await fail(str(error))
            return
        except Exception as error:  # a bug (in a transform, a handler or the template): one line, not a traceback
            await fail(unexpected(error))
            return

        # 4. Stop: done, aborted, or migrating (then the platform reboots the run and it resumes).
        await run.stop()


async def _block_images_fonts_and_styles(context: PlaywrightPreNavCrawlingContext) -> None:
    await context.block_requests()  # crawlee's default patterns: images, fonts, stylesheets, PDFs, archives


def _describe(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in error.errors())
