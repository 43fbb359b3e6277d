"""A local website for the crawler's tests and rehearsal: real HTTP on 127.0.0.1, `pages` pages at /page/<n>.

Page n is titled "Page n" and links to pages 2n+1, 2n+2 and n+1 (so every page is reachable from page 0),
to itself, and to the same pages under the host name `localhost` and under another site: those are other host
names, which the crawler must not follow. Faults make chosen pages answer 429 or 5xx before they answer right;
optionally pages also link to old addresses that redirect (301) to the pages, and page 0 to missing pages (404).
Guarded pages answer 403 to a request without the header PASS; the script of some pages rewrites their URL in the
address bar while they load (history.replaceState, as single-page apps do with tracking parameters). With a
`listing`, the home page / links to the listing /list, which links to every page, and every page links back to it
and to the home page (a Home link, as nearly every site has);
pages may be added (`pages` raised) while the site runs, as on a site that grows between scheduled runs.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from harness import LocalServer, send_payload

PASS = {"X-Pass": "let-me-in"}
REWRITTEN = "?from=script"


@dataclass
class LocalSite(LocalServer):
    pages: int
    latency_secs: float = 0.0
    faults: dict[int, list[int]] = field(default_factory=dict)  # page -> statuses served before it answers right
    redirects: bool = False  # each page also links to /old/<n+1>, which redirects to /page/<n+1>
    broken_links: int = 0  # page 0 also links to this many pages that are not there (404)
    guarded: set[int] = field(default_factory=set)  # pages that need the header PASS
    rewrite_url: set[int] = field(default_factory=set)  # pages whose script adds REWRITTEN to their address
    listing: bool = False  # a home page /, and a listing /list of every page
    visits: Counter = field(default_factory=Counter)  # page (or "/", "/list") -> times it was served right

    def url(self, page: int) -> str:
        return f"{self.origin}/page/{page}"

    @property
    def home(self) -> str:
        return f"{self.origin}/"

    def html(self, page: int) -> str:
        links = [n for n in (2 * page + 1, 2 * page + 2, page + 1, page) if n < self.pages]
        anchors = "".join(f'<a href="/page/{n}">next {n}</a> ' for n in links)
        if self.redirects and page + 1 < self.pages:
            anchors += f'<a href="/old/{page + 1}">old address of {page + 1}</a> '
        if self.listing:
            anchors += '<a href="/list">all pages</a> <a href="/">home</a> '
        if page == 0:
            anchors += "".join(f'<a href="/missing/{n}">gone</a> ' for n in range(self.broken_links))
        elsewhere = f'<a href="http://localhost:{self.port}/page/{page}">same page, other host name</a>'
        elsewhere += ' <a href="https://example.invalid/">another site</a>'
        script = f'<script>history.replaceState(null, "", location.pathname + "{REWRITTEN}")</script>'
        head = f"<head><title>Page {page}</title>{script if page in self.rewrite_url else ''}</head>"
        return f"<html>{head}<body><h1>Page {page}</h1>{anchors}{elsewhere}</body></html>"

    def forbids(self, path: str, headers: Any) -> bool:
        """Whether a request for `path` with `headers` is for a guarded page without the header PASS."""
        number = path.split("?", maxsplit=1)[0].removeprefix("/page/")
        guarded = path.startswith("/page/") and number.isdigit() and int(number) in self.guarded
        return guarded and any(headers.get(name) != value for name, value in PASS.items())

    def _listing_html(self, path: str) -> str:
        if path == "/":
            return '<html><head><title>Home</title></head><body><a href="/list">all pages</a></body></html>'
        anchors = "".join(f'<a href="/page/{n}">page {n}</a> ' for n in range(self.pages)) + '<a href="/">home</a>'
        return f"<html><head><title>All pages</title></head><body>{anchors}</body></html>"

    def _answer(self, path: str) -> tuple[int, str]:
        if self.listing and path in ("/", "/list"):
            with self._lock:
                self.visits[path] += 1
            time.sleep(self.latency_secs)
            return 200, self._listing_html(path)
        if path.startswith("/old/"):
            return 301, f"/page/{path.removeprefix('/old/')}"
        number = path.split("?", maxsplit=1)[0].removeprefix("/page/")
        if not path.startswith("/page/") or not number.isdigit() or int(number) >= self.pages:
            return 404, "<html><head><title>Not found</title></head></html>"
        page = int(number)
        with self._lock:
            pending = self.faults.get(page)
            status = pending.pop(0) if pending else 200
            if status == 200:
                self.visits[page] += 1
        time.sleep(self.latency_secs)
        return status, self.html(page) if status == 200 else "<html><head><title>Busy</title></head></html>"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                forbidden = 403, "<html><head><title>Forbidden</title></head></html>"
                status, text = forbidden if site.forbids(self.path, self.headers) else site._answer(self.path)
                if status == 301:
                    self.send_response(status)
                    self.send_header("Location", text)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {"Retry-After": "0"} if status == 429 else {}
                send_payload(self, status, text.encode(), "text/html; charset=utf-8", headers)

            def log_message(self, *_args: object) -> None:
                pass

        return Handler


def sort_items(items: list[Any]) -> list[Any]:
    """Items in a stable order (a crawl at any concurrency saves pages in no fixed order)."""
    return sorted(items, key=lambda item: (str(item.get("url")), repr(sorted(item.items()))))
