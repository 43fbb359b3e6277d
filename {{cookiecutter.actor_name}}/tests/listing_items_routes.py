"""listing_routes.py, with items on the pages loaded again in each pass too (website kind): the home page (the start
URL) pushes its URL and title, as the generated routes.py does with every page, and the listing pushes its URL and
how many pages it lists, which changes when the site grows (a new version of the listing)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import listing_routes
from crawlee.crawlers import ParselCrawlingContext
from crawlee.router import Router
from local_site import LocalSite, sort_items

router = Router[ParselCrawlingContext]()
PAGES = 'a[href^="/page/"]'


@router.default_handler
async def home_page(context: ParselCrawlingContext) -> None:
    await context.push_data({"url": context.request.url, "title": context.selector.css("title::text").get()})
    await listing_routes.home_page(context)


@router.handler("LIST")
async def listing(context: ParselCrawlingContext) -> None:
    await context.push_data({"url": context.request.url, "pages": len(context.selector.css(PAGES))})
    await listing_routes.listing(context)


router.handler("DETAIL")(listing_routes.detail_page)


def expected_items(site: LocalSite, pages: Iterable[int], listed: Iterable[int] = (), *, home: bool = False) -> list:
    """What this router saves of `pages`, of the listing when it listed each of `listed` pages, and of the home
    page if `home`, sorted."""
    extra: list[Any] = [{"url": site.home, "title": "Home"}] if home else []
    extra += [{"url": f"{site.home}list", "pages": count} for count in listed]
    return sort_items(listing_routes.expected_items(site, pages) + extra)
