"""The website crawler behind main.py: a crawlee ParselCrawler whose pages are saved exactly once.

Crawlee alone is at-least-once: a request whose items landed but which was not yet marked handled when the
process died is handled again, and its items are pushed twice. Here each page is committed through
`ResumableRun.commit_request` (one save, one push), which remembers the requests whose items landed until the
queue has marked them handled; a request that comes again after a crash pushes nothing. Pages are counted by
the run's own state record, saved with every page, so maxRequestsPerCrawl holds across crashes too.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from apify import Actor
from crawlee import ConcurrencySettings, Request
from crawlee.crawlers import ParselCrawler, ParselCrawlingContext

from .resumable import ResumableRun, RunStopping

if TYPE_CHECKING:
    from collections.abc import Callable

    from parsel import Selector

    from .crawl_input import CrawlInput


async def crawl(run: ResumableRun, crawl_input: CrawlInput, extract: Callable[[str, Selector], list[Any]]) -> None:
    """Crawl from the start URLs until the queue is done, the page limit is reached, or the run must stop."""
    queue = await Actor.open_request_queue()
    await run.forget_handled(queue)
    _tell_run_when_marked(queue, run)
    proxy = None
    if crawl_input.proxy_configuration:
        proxy = await Actor.create_proxy_configuration(actor_proxy_input=crawl_input.proxy_configuration)
    crawler = ParselCrawler(
        request_manager=queue,
        proxy_configuration=proxy,
        max_request_retries=crawl_input.max_request_retries,
        max_crawl_depth=crawl_input.max_crawl_depth,
        concurrency_settings=ConcurrencySettings(
            max_concurrency=crawl_input.max_concurrency, desired_concurrency=crawl_input.max_concurrency
        ),
        configure_logging=False,
    )

    @crawler.router.default_handler
    async def save_page(context: ParselCrawlingContext) -> None:
        await context.enqueue_links(strategy="same-hostname")
        items = extract(context.request.loaded_url or context.request.url, context.selector)
        await run.commit_request(context.request.unique_key, items, max_pages=crawl_input.max_pages)
        if run.finished:
            crawler.stop("maxRequestsPerCrawl pages are in")

    @crawler.error_handler
    async def keep_the_retry(context: Any, error: Exception) -> None:
        if isinstance(error, RunStopping):
            context.request.retry_count -= 1  # the run stopped, not the page failed: it is crawled again later

    async def stop_when_asked() -> None:
        crawler.stop(f"the run is stopping ({await run.wait_for_stop()})")

    stopper = asyncio.create_task(stop_when_asked())
    try:
        await crawler.run([Request.from_url(url) for url in crawl_input.urls])
    finally:
        stopper.cancel()
    if not run.stopping:
        await run.finish()


def _tell_run_when_marked(queue: Any, run: ResumableRun) -> None:
    """Let the run know when the queue has marked a request handled, so that it can forget that request."""
    mark = queue.mark_request_as_handled

    async def mark_and_tell(request: Request) -> Any:
        processed = await mark(request)
        run.request_marked(request.unique_key)
        return processed

    queue.mark_request_as_handled = mark_and_tell
