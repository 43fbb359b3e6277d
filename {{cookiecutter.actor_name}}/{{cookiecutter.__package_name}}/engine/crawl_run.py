"""A run of a crawler (the website or browser kind), every mode behind one call (`CrawlRun.crawl_site`): main.py
reads the input and hands it over, with your routes and the crawler class.

- restore: the counts of the last start, reconciled with the dataset (an incremental crawl's, claimed first);
- crawl (crawling.py): what each page pushed is saved with the request that loaded it (pages waiting to be saved go
  together, in one save and one push); with parallelRuns > 1 this run coordinates worker runs that crawl from its
  queue, shared, and merges their pages (scale_out.py, scale_out_pages.py);
- an incremental run delivers the job's items since the last run that succeeded;
- stop: done, aborted, or migrating (then the platform reboots the run and it resumes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .crawling import crawl
from .modes import restore_job
from .resumable import EngineRun

if TYPE_CHECKING:
    from types import ModuleType

    from crawlee.crawlers import BasicCrawler

    from ..crawl_input import CrawlInput
    from .incremental import IncrementalJob


class CrawlRun(EngineRun):
    """The run of a crawler as main.py sees it: `read_input`, then `crawl_site(crawl_input, routes, crawler_class)`."""

    def __init__(self) -> None:
        super().__init__(crawl=True)  # a crawl counts pages, not a source offset

    async def crawl_site(
        self, crawl_input: CrawlInput, routes: ModuleType, crawler_class: type[BasicCrawler], **options: Any
    ) -> None:
        """Crawl from `crawl_input`'s start URLs with the handlers of `routes` (its `router`) in a crawler of
        `crawler_class` made with `options`, every page's items exactly once, from where the last start of this run
        (or the incremental job) stopped; then end the run. A failure ends it with one line: the state is kept, and a
        new start goes on from the last checkpoint."""
        await self._to_the_end(self._crawl(crawl_input, routes, crawler_class, **options))

    async def _crawl(
        self, crawl_input: CrawlInput, routes: ModuleType, crawler_class: type[BasicCrawler], **options: Any
    ) -> None:
        run = self.run
        # 1. Restore: the counts of the last run, reconciled with what the dataset already holds. An incremental
        #    crawl keeps both, and its queue, in storages of its own, and goes on from the runs before it.
        job = await restore_job(run, crawl_input, routes, claim=_claim_job)
        part = crawl_input.part_of_job

        # 2. Crawl, or coordinate the worker runs, or be one of them.
        if run.finished:
            pass  # the crawl ended before this start: nothing is left to crawl
        elif crawl_input.parallel_runs > 1:
            from .scale_out import coordinate  # noqa: PLC0415 - scale-out only
            from .scale_out_pages import PageMerge  # noqa: PLC0415

            await coordinate(run, crawl_input, PageMerge)
        elif part is None:
            revisits = None
            if job is not None:
                from .incremental_pages import Revisits  # noqa: PLC0415 - incremental runs only

                revisits = Revisits.of_the_pass(run, crawl_input.revisit_labels)
            await crawl(run, crawl_input, routes.router, crawler_class, revisits=revisits, **options)
        else:  # a worker (unless another run has its part)
            from .scale_out_pages import take_page_part  # noqa: PLC0415 - scale-out only

            if page_part := await take_page_part(run, part):
                await crawl(run, crawl_input, routes.router, crawler_class, part=page_part, **options)

        # 3. Deliver: an incremental run's dataset gets the job's items since the last run that succeeded.
        if job is not None and not run.stopping:
            await job.deliver(run)


async def _claim_job(crawl_input: CrawlInput) -> IncrementalJob:
    """The incremental crawl of this input, claimed (incremental code is imported by incremental runs only)."""
    from .incremental import IncrementalJob  # noqa: PLC0415 - incremental runs only

    return await IncrementalJob.claim(crawl_input)
