"""Crawl a website that needs a real browser into the default dataset: every page's items exactly once,
whatever happens to the run.

The story of a run: read the input, and hand it to the engine with your handlers (routes.py) and crawlee's
PlaywrightCrawler (headless Chromium; images, fonts and styles blocked unless the input says otherwise); the engine
restores where the last start stopped, crawls from the start URLs saving what each page pushed together with the
request that loaded it (or coordinates parallel runs, or goes on with an incremental crawl), stops cleanly when the
crawl ends or maxRequestsPerCrawl pages are saved, or when the platform migrates or aborts the run. A migration or a
crash at any instant loses no page and duplicates none (see engine/crawl_run.py, engine/crawling.py).

Customize routes.py (what pages become, which links to follow) and the input (browser_input.py with
.actor/input_schema.json).
"""

from __future__ import annotations

from apify import Actor
from crawlee.crawlers import PlaywrightCrawler, PlaywrightPreNavCrawlingContext

from . import routes
from .browser_input import BrowserInput
from .engine.crawl_run import CrawlRun


async def main() -> None:
    run = CrawlRun()  # hears migrating and aborting from the very start: made before the Actor starts
    async with Actor:
        browser_input = await run.read_input(BrowserInput)  # bad input: the run fails with one line
        hooks = [_block_images_fonts_and_styles] if browser_input.block_resources else []
        options = {**browser_input.crawler_options(), "pre_navigation_hooks": hooks}
        await run.crawl_site(browser_input, routes, PlaywrightCrawler, **options)


async def _block_images_fonts_and_styles(context: PlaywrightPreNavCrawlingContext) -> None:
    await context.block_requests()  # crawlee's default patterns: images, fonts, stylesheets, PDFs, archives
