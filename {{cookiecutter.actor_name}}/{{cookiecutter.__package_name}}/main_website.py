"""Crawl a website into the default dataset: every page's items exactly once, whatever happens to the run.

The story of a run: read the input, and hand it to the engine with your handlers (routes.py) and the crawler class;
the engine restores where the last start stopped, crawls from the start URLs saving what each page pushed together
with the request that loaded it (or coordinates parallel runs, or goes on with an incremental crawl), stops cleanly
when the crawl ends or maxRequestsPerCrawl pages are saved, or when the platform migrates or aborts the run. A
migration or a crash at any instant loses no page and duplicates none (see engine/crawl_run.py, engine/crawling.py).

Customize routes.py (what pages become, which links to follow) and the input (crawl_input.py with
.actor/input_schema.json).
"""

from __future__ import annotations

from apify import Actor
from crawlee.crawlers import ParselCrawler

from . import routes
from .crawl_input import CrawlInput
from .engine.crawl_run import CrawlRun


async def main() -> None:
    run = CrawlRun()  # hears migrating and aborting from the very start: made before the Actor starts
    async with Actor:
        crawl_input = await run.read_input(CrawlInput)  # bad input: the run fails with one line
        await run.crawl_site(crawl_input, routes, ParselCrawler)
