"""A router for the browser crawler's tests, as the generated routes.py has it (so that the tests hold whatever
you make of routes.py): every page, loaded in the browser, pushes its URL and title and enqueues the links on
its host name."""

from __future__ import annotations

from typing import Any

from crawlee.crawlers import PlaywrightCrawlingContext
from crawlee.router import Router
from local_site import LocalSite, sort_items

router = Router[PlaywrightCrawlingContext]()


@router.default_handler
async def default_handler(context: PlaywrightCrawlingContext) -> None:
    await context.push_data({"url": context.page.url, "title": await context.page.title()})
    await context.enqueue_links(strategy="same-hostname")


def expected_items(site: LocalSite, pages: range | None = None) -> list[Any]:
    """What this router saves of the site's pages (default: all), sorted."""
    return sort_items([{"url": site.url(n), "title": f"Page {n}"} for n in pages or range(site.pages)])
