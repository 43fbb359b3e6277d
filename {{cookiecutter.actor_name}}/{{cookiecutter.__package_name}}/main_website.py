"""Crawl a website into the default dataset: every page's items exactly once, whatever happens to the run.

The story of a run: restore where the last run stopped; crawl from the start URLs, following links within
their hostnames, committing each page's items together with the request that loaded it; stop cleanly when the
crawl ends or maxRequestsPerCrawl pages are in, or when the platform migrates or aborts the run. A migration or
a crash at any instant loses no page and duplicates none (see resumable.py and crawling.py).

Customize `extract` (what a page becomes) and the input (crawl_input.py with .actor/input_schema.json).
"""

from __future__ import annotations

from typing import Any

from apify import Actor
from parsel import Selector
from pydantic import ValidationError

from .crawl_input import CrawlInput
from .crawling import crawl
from .resumable import ResumableRun, StateError


def extract(url: str, page: Selector) -> list[dict[str, Any]]:
    """The dataset items of one loaded page (dicts); an empty list for none.

    Must give the same result for the same page every time (no clocks, random numbers or outside lookups):
    after a crash, a page whose items were only partly saved is loaded again and what landed is compared.
    """
    return [{"url": url, "title": (page.css("title::text").get() or "").strip()}]


async def main() -> None:
    run = ResumableRun(crawl=True)  # listens for migrating and aborting from the very start
    async with Actor:
        try:
            crawl_input = CrawlInput.model_validate(await Actor.get_input() or {})
        except ValidationError as error:
            await Actor.fail(status_message=f"Invalid input: {_describe(error)}")
            return

        try:
            # 1. Restore: the counts of the last run, reconciled with what the dataset already holds.
            await run.restore(crawl_input.source(), extract)

            # 2. Crawl: each page's items are pushed with one push and saved with the request that loaded it;
            #    the request queue knows which pages are done.
            if not run.finished:
                await crawl(run, crawl_input, extract)
        except StateError as error:
            await Actor.fail(status_message=str(error))
            return

        # 3. Stop: done, aborted, or migrating (then the platform reboots the run and it resumes).
        await run.stop()


def _describe(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in error.errors())
