"""A router for incremental crawls of a site that grows (local_site.py with a `listing`), for either crawler kind
(it uses only what HTTP and browser crawling contexts share): the home page (the start URL, no label) enqueues
the listing as LIST; the listing enqueues every page as DETAIL; each DETAIL page pushes one item and enqueues the
listing again (one request a pass: the queue takes its key once)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crawlee.router import Router
from local_site import LocalSite, sort_items

router = Router[Any]()
LISTING = 'a[href="/list"]'


@router.default_handler
async def home_page(context: Any) -> None:
    await context.enqueue_links(selector=LISTING, label="LIST")


@router.handler("LIST")
async def listing(context: Any) -> None:
    await context.enqueue_links(selector='a[href^="/page/"]', label="DETAIL")


@router.handler("DETAIL")
async def detail_page(context: Any) -> None:
    await context.push_data({"url": context.request.url})
    await context.enqueue_links(selector=LISTING, label="LIST")


def expected_items(site: LocalSite, pages: Iterable[int]) -> list[Any]:
    """What this router saves of `pages`, sorted."""
    return sort_items([{"url": site.url(n)} for n in pages])
