"""A two-label router, as a crawlee user writes one: the start page (no label) enqueues DETAIL pages and saves
nothing; each DETAIL page pushes two items in two `push_data` calls (a dict, then a list) and enqueues on.
With RAISE_AFTER_PUSH="3,7", the DETAIL handler of those pages raises after its first push, once each; with
EXIT_ON="5", that page's handler calls sys.exit(0) after its first push."""

from __future__ import annotations

import os
import sys
from typing import Any

from crawlee.crawlers import ParselCrawlingContext
from crawlee.router import Router
from local_site import LocalSite, sort_items

router = Router[ParselCrawlingContext]()
RAISE_ONCE_ON = {f"/page/{n}" for n in os.environ.get("RAISE_AFTER_PUSH", "").split(",") if n}
EXIT_ON = f"/page/{os.environ['EXIT_ON']}" if "EXIT_ON" in os.environ else None


@router.default_handler
async def start_page(context: ParselCrawlingContext) -> None:
    await context.enqueue_links(selector='a[href^="/page/"]', label="DETAIL")


@router.handler("DETAIL")
async def detail_page(context: ParselCrawlingContext) -> None:
    url = context.request.loaded_url or context.request.url
    await context.push_data({"url": url, "part": 1})
    if (path := "/" + url.split("/", 3)[3]) == EXIT_ON:
        sys.exit(0)
    if path in RAISE_ONCE_ON:
        RAISE_ONCE_ON.discard(path)
        raise RuntimeError(f"the handler failed after a push on {path}")
    heading = context.selector.css("h1::text").get()
    await context.push_data([{"url": url, "part": 2, "heading": heading}])
    await context.enqueue_links(selector='a[href^="/page/"]', label="DETAIL")


def expected_items(site: LocalSite, pages: range | None = None) -> list[Any]:
    """Two items for each page but the start page (page 0), sorted."""
    numbers = pages or range(1, site.pages)
    items = [{"url": site.url(n), "part": 1} for n in numbers]
    items += [{"url": site.url(n), "part": 2, "heading": f"Page {n}"} for n in numbers]
    return sort_items(items)
