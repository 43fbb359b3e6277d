"""A router whose handlers add requests of their own, as a crawlee user writes them: page n pushes its URL and
title, then adds page n+1 (if the site has it) with `always_enqueue=True`, so the crawl is a chain, one page at a
time. With VIA_OLD_ADDRESSES set, it adds page n+1 by its old address (which redirects to the page) with the
header PASS (which guarded pages need)."""

from __future__ import annotations

import os
from typing import Any

from crawlee import Request
from crawlee.crawlers import ParselCrawlingContext
from crawlee.router import Router
from local_site import PASS, LocalSite, sort_items

router = Router[ParselCrawlingContext]()
VIA_OLD_ADDRESSES = bool(os.environ.get("VIA_OLD_ADDRESSES"))


@router.default_handler
async def chain_page(context: ParselCrawlingContext) -> None:
    url = context.request.loaded_url or context.request.url
    await context.push_data({"url": url, "title": context.selector.css("title::text").get()})
    after = int(url.rsplit("/", 1)[1]) + 1
    if context.selector.css(f'a[href="/page/{after}"]'):
        next_url = url.rsplit("/", 2)[0] + (f"/old/{after}" if VIA_OLD_ADDRESSES else f"/page/{after}")
        await context.add_requests([Request.from_url(next_url, headers=PASS, always_enqueue=True)])


def expected_items(site: LocalSite) -> list[Any]:
    """Every page of the site once, sorted."""
    return sort_items([{"url": site.url(n), "title": f"Page {n}"} for n in range(site.pages)])
