"""The fault campaign's site and router for the crawler kinds (see campaign.py).

The site is local_site.py's, with pages of five sorts drawn by the scenario: `plain` pages push one item,
`empty` ones push nothing (a listing page), `many` ones push hundreds of items in several pushes, `always` ones
also add two leaf pages with `always_enqueue=True`, one of them twice (three requests, each saved once), and
`guarded` ones are reached only through a request the router adds with a header and a unique key of its own that
looks like an always_enqueue one, to an old address that redirects (301) to the page, which answers 403 without
the header.
`replace` pages rewrite their own URL with `history.replaceState` while they load (a browser runs it).
Items carry field names a merge could take for its own (`#page`, `#of`, `#chunk`).

A handler adds its requests in an order drawn for each process (as a handler adding from a set does: a set's order
changes between processes), from the scenario's seed and how many processes the run has started before this one.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from crawlee import Request
from crawlee.router import Router
from local_site import LocalSite

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

SCENARIO_VARIABLE = "CAMPAIGN_SITE"  # JSON {"pages": N, "sorts": {page: sort}, "odd_every": N, "seed": S}
HEADER = {"x-campaign": "let-me-in"}
PUSH_SIZE = 150  # a `many` page pushes its items in pushes of this many
MANY = 400
LEAVES = {"l": "leaf", "L": "leaf", "t": "twig"}  # the requests an `always` page adds (key letter: URL query)


def items_of(key: str, sort: str, odd_every: int) -> list[dict[str, Any]]:
    """What the router pushes for a request: `p<n>` (page n), `l<n>` and `L<n>` (the leaf page n adds twice) or
    `t<n>` (the other leaf page n adds); the items of every `odd_every`th page have fields named as a merge could
    name its own."""
    if key[0] in LEAVES:
        return [{"url": f"/page/{key[1:]}?{LEAVES[key[0]]}", "leaf": True}]
    n = int(key[1:])
    odd = {"#page": f"user-{n}", "#of": [n], "#chunk": None} if odd_every and n % odd_every == 0 else {}
    if sort == "empty":
        return []
    if sort == "many":
        return [{"url": f"/page/{n}", "i": i, **odd} for i in range(MANY)]
    return [{"url": f"/page/{n}", "sort": sort, **odd}]


def expected_requests(pages: int, sorts: dict[int, str], odd_every: int) -> dict[str, list[dict[str, Any]]]:
    """Every request of a whole crawl of the site, and its items."""
    keys = {f"p{n}": sorts.get(n, "plain") for n in range(pages)}
    keys |= {f"{leaf}{n}": "leaf" for n, sort in sorts.items() if sort == "always" for leaf in LEAVES}
    return {key: items_of(key, sort, odd_every) for key, sort in keys.items()}


def children(n: int, pages: int) -> list[int]:
    return [m for m in (2 * n + 1, 2 * n + 2, n + 1) if m < pages]


@dataclass
class CampaignSite(LocalSite):
    sorts: dict[int, str] = field(default_factory=dict)

    def html(self, page: int) -> str:
        anchors = "".join(
            f'<a href="/page/{m}">page {m}</a> ' for m in children(page, self.pages) if self.sorts.get(m) != "guarded"
        )
        script = ""
        if self.sorts.get(page) == "replace":
            # As single-page apps do with a view or session ID: another address on every load.
            script = "<script>history.replaceState(null, '', location.pathname + '?view=' + Date.now());</script>"
        return f"<html><head><title>Page {page}</title>{script}</head><body>{anchors}</body></html>"

    def _answer(self, path: str) -> tuple[int, str]:
        return super()._answer(path.split("?", maxsplit=1)[0])

    def _handler_class(self) -> Any:
        site, plain = self, super()._handler_class()

        class Guarded(plain):
            def do_GET(self) -> None:
                number = re.search(r"/(?:page|old)/(\d+)", self.path)
                guarded = number and site.sorts.get(int(number[1])) == "guarded"
                if guarded and self.headers.get("x-campaign") != HEADER["x-campaign"]:
                    self.send_response(403)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                super().do_GET()

        return Guarded


router = Router[Any]()
_SITE = json.loads(os.environ.get(SCENARIO_VARIABLE, '{"pages": 0, "sorts": {}, "odd_every": 0, "seed": 0}'))
PAGES, SORTS, ODD_EVERY = _SITE["pages"], {int(n): sort for n, sort in _SITE["sorts"].items()}, _SITE["odd_every"]


def _process_number() -> int:
    """How many processes of this run (its storage) started before this one: counted in a file next to it."""
    counter = Path(os.environ.get("APIFY_LOCAL_STORAGE_DIR", "storage")).parent / "campaign-processes"
    number = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(number + 1))
    return number


_PROCESS = f"{_SITE['seed']} {os.environ.get('ACTOR_RUN_ID', '')} {_process_number()}" if PAGES else ""


def _page_of(url: str) -> int:
    return int(re.search(r"/(?:page|old)/(\d+)", url)[1])  # type: ignore[index]


@router.default_handler
async def page(context: Any) -> None:
    n = _page_of(context.request.loaded_url or context.request.url)
    items = items_of(f"p{n}", SORTS.get(n, "plain"), ODD_EVERY)
    for start in range(0, len(items), PUSH_SIZE):
        await context.push_data(items[start : start + PUSH_SIZE])
    parts = urlsplit(context.request.url)
    origin = f"{parts.scheme}://{parts.netloc}"
    adds: list[Callable[[], Awaitable[Any]]] = [lambda: context.enqueue_links(selector='a[href^="/page/"]')]
    requests = []
    if SORTS.get(n) == "always":
        leaves = [f"{origin}/page/{n}?{query}" for query in LEAVES.values()]
        requests += [Request.from_url(url, label="LEAF", always_enqueue=True) for url in leaves]
    for m in children(n, PAGES):
        if SORTS.get(m) == "guarded":  # a key of the handler's own, 17 letters and digits and "|", as crawlee's look
            key = f"guardedPage{m:06d}|old-{m}"
            requests.append(Request.from_url(f"{origin}/old/{m}", headers=HEADER, unique_key=key))
    adds += [lambda request=request: context.add_requests([request]) for request in requests]
    random.Random(f"{_PROCESS} {n}").shuffle(adds)
    for add in adds:
        await add()


@router.handler("LEAF")
async def leaf(context: Any) -> None:
    letter = "t" if context.request.url.endswith("twig") else "l"
    await context.push_data(items_of(f"{letter}{_page_of(context.request.url)}", "leaf", ODD_EVERY))
