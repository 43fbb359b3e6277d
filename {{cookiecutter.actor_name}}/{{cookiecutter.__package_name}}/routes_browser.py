"""Your crawl: what each kind of page becomes and which links to follow, as crawlee's `Router` with handlers,
for pages loaded in a real browser (Playwright's `context.page`: wait for selectors, click, scroll).

Write handlers as in crawlee's documentation: `@router.default_handler` for every page without a label,
`@router.handler("LABEL")` for the pages enqueued with that label. Push the page's dataset items with
`context.push_data` (any number of calls, a dict or a list of dicts each), and follow links with
`context.enqueue_links` (selector, label, globs, strategy) or `context.add_requests`.

The template makes it exactly once (crawling.py): everything a handler pushed for a page is saved together
with the page's request, once, whatever happens to the run. A handler that raises saves nothing of that
attempt: the retry starts clean. What the template needs from you:
- the same page must give the same items every time (no clocks, random numbers or outside lookups in them):
  after a crash, a page whose items were only partly saved is loaded again and what landed is compared;
- push into the default dataset only (no dataset_id, dataset_name or dataset_alias).
"""

from __future__ import annotations

from crawlee.crawlers import PlaywrightCrawlingContext
from crawlee.router import Router

router = Router[PlaywrightCrawlingContext]()


@router.default_handler
async def default_handler(context: PlaywrightCrawlingContext) -> None:
    """Every page, once the browser has loaded it: its URL and title; then the links on the same host name."""
    await context.push_data({"url": context.page.url, "title": await context.page.title()})
    await context.enqueue_links(strategy="same-hostname")
