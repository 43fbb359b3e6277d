"""A router for incremental crawls of local_site.py's site with a listing, as users write one from the generated
routes.py (website kind): every page pushes its URL and title and follows every link on its host name, unlabelled
(the Home link back to the start URL among them, and the listing's link); only the home page (the start URL)
enqueues the listing with the label LIST, first, which revisitLabels loads again in each pass. The listing pushes its
URL and how many pages it lists."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from crawlee.crawlers import ParselCrawlingContext
from crawlee.router import Router
from local_site import LocalSite, sort_items

router = Router[ParselCrawlingContext]()
LISTING = 'a[href="/list"]'
PAGES = 'a[href^="/page/"]'


@router.default_handler
async def page(context: ParselCrawlingContext) -> None:
    url = context.request.loaded_url or context.request.url
    await context.push_data({"url": url, "title": context.selector.css("title::text").get()})
    if urlsplit(context.request.url).path == "/":  # the home page
        await context.enqueue_links(selector=LISTING, label="LIST")
    await context.enqueue_links(strategy="same-hostname")


@router.handler("LIST")
async def listing(context: ParselCrawlingContext) -> None:
    await context.push_data({"url": context.request.url, "pages": len(context.selector.css(PAGES))})
    await context.enqueue_links(strategy="same-hostname")


def expected_items(site: LocalSite, pages: Iterable[int], listed: Iterable[int] = (), *, home: bool = False) -> list:
    """What this router saves of `pages`, of the listing when it listed each of `listed` pages, and of the home
    page if `home`, sorted."""
    items: list[Any] = [{"url": site.url(n), "title": f"Page {n}"} for n in pages]
    items += [{"url": site.home, "title": "Home"}] if home else []
    items += [{"url": f"{site.home}list", "pages": count} for count in listed]
    return sort_items(items)
