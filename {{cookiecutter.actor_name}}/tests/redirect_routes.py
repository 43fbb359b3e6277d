"""A site of redirects and a router for them, for either crawler kind (the router uses only what HTTP and browser
crawling contexts share: each item is the request's label and the URL its page was loaded from).

The site (RedirectSite, local_site.py's with three more paths):
- `/form` is a page with a search form; `POST /search` answers 303 (Post/Redirect/Get; or `post_redirect`: 302) to
  `/results`, which answers a GET and refuses a POST (405), as most result pages do;
- `/file` answers 302 to a one-time address, `/file?token=T<n>`, a new token on every request (a signed download
  link); a token used once is redirected again, to a new one; after ONE_TIME_TOKENS tokens `/file` answers 404, so
  that a crawl that keeps asking ends;
- `/old/<n>` answers 301 to `/page/<n>` (local_site.py's).

The router: the default handler pushes its item; on `/form` it sends the form (a POST, label RESULTS); on
`/two-labels` it adds `/old/1` twice, under unique keys of its own with the labels A and B (crawlee's way to load a
URL twice, for two handlers). The handlers of RESULTS, A and B push their item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from crawlee import Request
from crawlee.router import Router
from harness import send_payload
from local_site import LocalSite, sort_items

ONE_TIME_TOKENS = 30
SEARCH = b"q=shoes"
router = Router[Any]()


def item(context: Any) -> dict[str, Any]:
    return {"label": context.request.label, "url": context.request.loaded_url or context.request.url}


@router.default_handler
async def page(context: Any) -> None:
    await context.push_data(item(context))
    parts = urlsplit(context.request.url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.path == "/form":
        headers = {"content-type": "application/x-www-form-urlencoded"}
        search = Request.from_url(f"{origin}/search", method="POST", payload=SEARCH, headers=headers, label="RESULTS")
        await context.add_requests([search])
    if parts.path == "/two-labels":
        own = [Request.from_url(f"{origin}/old/1", unique_key=f"{label}-1", label=label) for label in ("A", "B")]
        await context.add_requests(own)


@router.handler("RESULTS")
@router.handler("A")
@router.handler("B")
async def labelled(context: Any) -> None:
    await context.push_data(item(context))


@dataclass
class RedirectSite(LocalSite):
    post_redirect: int = 303
    posts: list[tuple[str, bytes]] = field(default_factory=list)  # (path, body) of every POST received
    tokens: int = 0  # one-time addresses handed out
    used_tokens: set[str] = field(default_factory=set)

    def _redirect(self, path: str) -> str | None:
        """Where a GET of `path` is redirected (302), if it is: /file, and a one-time address used before."""
        with self._lock:
            if path != "/file" and not (path.startswith("/file?token=") and path in self.used_tokens):
                return None
            self.tokens += 1
            return None if self.tokens > ONE_TIME_TOKENS else f"/file?token=T{self.tokens}"

    def _page(self, path: str) -> str | None:
        """The HTML a GET of one of this site's own pages answers (None: not one of them)."""
        title = {"/form": "Search", "/results": "Results for shoes", "/two-labels": "Two labels"}.get(path)
        if path.startswith("/file?token=T"):
            title = "The file"
        if title is None:
            return None
        with self._lock:
            self.used_tokens.add(path)
            self.visits[path.split("?", maxsplit=1)[0]] += 1
        form = '<form method="post" action="/search"><input name="q"></form>' if path == "/form" else ""
        return f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{form}</body></html>"

    def _handler_class(self) -> Any:
        site, plain = self, super()._handler_class()

        class Handler(plain):
            def do_GET(self) -> None:
                if (location := site._redirect(self.path)) is not None:
                    self._redirect_to(302, location)
                elif self.path.startswith("/file") and self.path in site.used_tokens | {"/file"}:
                    self._answer_with(404, "<html><head><title>Gone</title></head></html>")
                elif (html := site._page(self.path)) is not None:
                    self._answer_with(200, html)
                else:
                    super().do_GET()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with site._lock:
                    site.posts.append((self.path, body))
                if self.path == "/search":
                    self._redirect_to(site.post_redirect, "/results")
                else:  # /results and the rest take no POST
                    self._answer_with(405, "<html><head><title>Method not allowed</title></head></html>")

            def _redirect_to(self, status: int, location: str) -> None:
                self.send_response(status)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _answer_with(self, status: int, html: str) -> None:
                send_payload(self, status, html.encode(), "text/html; charset=utf-8", {})

        return Handler


def expected_items(site: RedirectSite, *pairs: tuple[str | None, str]) -> list[dict[str, Any]]:
    """The items of (label, path) pairs, sorted."""
    return sort_items([{"label": label, "url": f"{site.origin}{path}"} for label, path in pairs])
