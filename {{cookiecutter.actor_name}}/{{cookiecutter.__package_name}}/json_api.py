"""Reading pages of a JSON API politely and safely: requests with retries, backoff and jitter, pages fetched
ahead, and the end of the data told apart from a page-size cap or an API that repeats itself."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import impit
from apify import Actor

from .credentials import Secrets
from .pagination import Response, SourceError, Style, items_at, style_for, value_at
from .resumable import Position, position_key
from .scale_out import Stripe

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping

    from apify import ProxyConfiguration
    from crawlee.http_clients import HttpClient
    from crawlee.proxy_configuration import ProxyInfo

__all__ = ["JsonApiSource", "Page", "SourceError"]

REQUEST_TIMEOUT = timedelta(seconds=60)
BACKOFF_BASE_SECS = 0.5
BACKOFF_MAX_SECS = 60.0
RETRIED_ERRORS = (impit.HTTPError, TimeoutError)  # connection failures, resets, timeouts
GONE_PAST_THE_END = (404, 416)  # what some APIs answer for a position after the last page


@dataclass(frozen=True)
class Page:
    """The items of one page from `at` on (its `skip` already left out), and where to go on."""

    items: list[Any]
    at: Position
    next: Position  # the page after this one (for a worker of parallel runs: in its stripe)
    is_last: bool
    style: Style
    chunk: int | None = None  # a worker of parallel runs: the chunk of the source the page is in

    def after(self, used: int) -> Position:
        """Where to go on after using the first `used` of `items`: the next page once all are used."""
        return self.next if used >= len(self.items) else self.style.after(self.at, used)


class JsonApiSource:
    """The pages of the JSON API the input names, in order, with the end of the data made sure of:

    - an empty page ends it; a short page is confirmed by asking for the next one (a page-size cap is not an
      end) unless `totalPath` says the data is complete; a confirming page that repeats the short one ends it;
    - a cursor or next URL given before (in this process, or before a restart: `seen`), or one full page served
      for two positions, stop with SourceError;
    - 404 or 416 for a position past the first page ends the data, with a warning.
    Positional styles (offset, page) fetch up to `ahead` pages at once; the others one page at a time.
    A worker of parallel runs reads only the pages of its `stripe` (scale_out.py).
    """

    def __init__(
        self,
        http: HttpClient,
        actor_input: Any,
        proxy: ProxyConfiguration | None,
        seen: Iterable[str] = (),
        stripe: Stripe | None = None,
    ) -> None:
        """`seen`: the keys (`position_key`) of positions an earlier start of the run has read past."""
        self._http, self._input, self._proxy, self._stripe = http, actor_input, proxy, stripe
        self.secrets = Secrets(actor_input.api_url, actor_input.headers.values(), actor_input.credential_origins)
        self.style = style_for(actor_input, self.secrets)
        self._step = actor_input.page_size  # how many items the API serves in a full page (less if it caps)
        self._pages = PagesAhead(self._fetch)
        self._previous: tuple[Position, list[Any]] | None = None
        self._seen = set(seen)  # keys of the cursors and next URLs read so far

    async def __aenter__(self) -> JsonApiSource:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._pages.close()

    def first_position(self, at: Position) -> Position:
        """Where to read from, given where the run is: `at`, or for a worker the start of its stripe after it."""
        return self._stripe.onward(at) if self._stripe else at

    async def page_at(self, at: Position, ahead: int) -> Page:
        served = await self._get(at, ahead)
        following = self.style.next(at, served)
        is_last = following is None or not served.items or self._is_complete(at, served)
        if not is_last and self.style.positional and len(served.items) < self._step:
            confirming = await self._get(following, ahead, peek=True)
            is_last = not confirming.items or confirming.items == served.items
            if not is_last:
                self._step = len(served.items)  # the API caps its pages: read on with the size it serves
        self._check_not_repeating(at, served, following, is_last)
        self._previous = (at, served.items)
        if self._stripe:
            served, following = self._within_the_chunk(at, served, following)
        following = following or self.style.after(at, len(served.items) - at.skip)
        chunk = self._stripe.chunk_of(at) if self._stripe else None
        return Page(served.items[at.skip :], at, following, is_last, self.style, chunk)

    def _within_the_chunk(
        self, at: Position, served: Response, following: Position | None
    ) -> tuple[Response, Position | None]:
        """A worker's page: cut at its chunk's end (offset paging, when the API serves pages of another size),
        and followed by the next page of its stripe."""
        stripe = self._stripe
        end = stripe.chunk_end(at)
        if end is not None and following is not None and following.offset > end:
            served = Response(served.items[: end - at.offset], served.body, served.headers)
            following = Position(offset=end)
        return served, following and stripe.onward(following)

    def _is_complete(self, at: Position, served: Response) -> bool:
        if not self._input.total_path:
            return False
        total = value_at(served.body, self._input.total_path, "totalPath")
        if not isinstance(total, int) or isinstance(total, bool):
            raise SourceError(f"totalPath {self._input.total_path!r} is a JSON {type(total).__name__}, not a count.")
        return at.offset - at.skip + len(served.items) >= total

    def _check_not_repeating(self, at: Position, served: Response, following: Position | None, last: bool) -> None:
        if self.style.positional:
            pass  # page numbers and offsets only go forward
        elif at.cursor is not None:
            self._seen.add(position_key(at.cursor))
        if following is not None and following.cursor is not None and position_key(following.cursor) in self._seen:
            raise SourceError(
                f"The API gave a {self._input.pagination} position it gave before, after {at.offset} items: "
                "it would be read forever. Check the pagination fields of the input."
            )
        previous = self._previous
        if previous and previous[0] != at and previous[1] == served.items and served.items and not last:
            raise SourceError(
                f"The API served the same full page for two positions (after {previous[0].offset} and "
                f"{at.offset} items): it ignores the position it is asked for. Check "
                + ("offsetParam" if self._input.pagination == "offset" else "the pagination fields")
                + " against the API's documentation."
            )

    async def _get(self, at: Position, ahead: int, *, peek: bool = False) -> Response:
        upcoming = self._ahead(at, ahead - 1) if self.style.positional else []
        urls = [self.style.url(at)] + [self.style.url(position) for position in upcoming]
        return await self._pages.get(urls, keep=peek, first_page=at == Position())

    def _ahead(self, at: Position, count: int) -> list[Position]:
        """The positions of the `count` pages to read after the one at `at` (a worker's: in its stripe)."""
        if not self._stripe:
            return self.style.ahead(at, self._step, count)
        upcoming: list[Position] = []
        for _ in range(count):
            at = self._stripe.onward(self.style.ahead(at, self._step, 1)[0])
            upcoming.append(at)
        return upcoming

    async def _fetch(self, url: str, first_page: bool) -> Response:
        proxy_info = await self._proxy.new_proxy_info() if self._proxy else None
        try:
            body, headers = await get_json(
                self._http,
                url,
                headers=self._input.headers if self.secrets.may_receive(url) else {},
                max_retries=self._input.max_request_retries,
                proxy_info=proxy_info,
                secrets=self.secrets,
            )
        except GoneError as error:
            if first_page:
                raise
            Actor.log.warning(f"{error} Taking that for the end of the data.")
            return Response([], None, {})
        return Response(items_at(body, self._input.items_path), body, headers)


class GoneError(SourceError):
    """The API answered 404 or 416: nothing there."""


async def get_json(
    http: HttpClient,
    url: str,
    *,
    headers: Mapping[str, str],
    max_retries: int,
    secrets: Secrets,
    proxy_info: ProxyInfo | None = None,
) -> tuple[Any, Mapping[str, str]]:
    """GET `url`, parse its JSON body; return it with the response headers. Retries 429, 5xx and connection
    errors with backoff and jitter. Every message has the run's secrets hidden."""
    shown = secrets.hide(url)
    attempt = 0
    while True:
        retry_after = None
        try:
            response = await http.send_request(
                url, headers=dict(headers), proxy_info=proxy_info, timeout=REQUEST_TIMEOUT
            )
        except RETRIED_ERRORS as error:
            failure = secrets.hide(f"{type(error).__name__}: {error}")
        else:
            status = response.status_code
            if status < 300:
                body = await response.read()
                try:
                    return json.loads(body), {name.lower(): value for name, value in response.headers.items()}
                except ValueError as error:
                    raise SourceError(f"{shown} did not answer with JSON ({error}).") from error
            if status in GONE_PAST_THE_END:
                raise GoneError(f"{shown} answered HTTP {status}.")
            if status != 429 and status < 500:
                raise SourceError(f"{shown} answered HTTP {status}; this is not retried.")
            failure = f"HTTP {status}"
            retry_after = _retry_after_secs(response.headers.get("retry-after"))
        if attempt == max_retries:
            raise SourceError(f"{shown} failed {attempt + 1} times; last: {failure}.")
        delay = retry_after if retry_after is not None else _backoff_secs(attempt)
        Actor.log.warning(f"{shown}: {failure}; retry {attempt + 1} of {max_retries} in {delay:.1f} s")
        await asyncio.sleep(delay)
        attempt += 1


def _backoff_secs(attempt: int) -> float:
    # Full jitter: clients that failed together do not come back together.
    return random.uniform(0, min(BACKOFF_MAX_SECS, BACKOFF_BASE_SECS * 2**attempt))


def _retry_after_secs(header: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay in seconds or an HTTP date), capped."""
    if not header:
        return None
    try:
        secs = float(header)
    except ValueError:
        try:
            secs = (parsedate_to_datetime(header) - datetime.now(UTC)).total_seconds()
        except ValueError:
            return None
    return min(max(secs, 0.0), BACKOFF_MAX_SECS)


class PagesAhead:
    """Fetches the pages after the current one while it is being saved: the requests named are in flight at
    once, while pages are still handed out one at a time, in the order they are asked for.

    Closing it cancels every fetch still in flight (at the end of the data, or when the run stops for a
    migration: those pages are simply fetched again after the restart).
    """

    def __init__(self, fetch: Callable[[str, bool], Awaitable[Response]]) -> None:
        self._fetch = fetch
        self._in_flight: dict[str, asyncio.Task[Response]] = {}

    async def get(self, urls: list[str], *, keep: bool = False, first_page: bool = False) -> Response:
        """The page at `urls[0]`, with the pages at the other URLs requested too; fetches in flight for any
        other URL are cancelled. With `keep`, the page stays at hand for the next `get` of it."""
        wanted, *_ = urls
        await self._cancel([url for url in self._in_flight if url not in urls])
        for url in urls:
            if url not in self._in_flight:
                self._in_flight[url] = asyncio.create_task(self._fetch(url, first_page and url == wanted))
        task = self._in_flight[wanted]
        try:
            return await task
        finally:
            if not keep or task.cancelled():
                self._in_flight.pop(wanted, None)

    async def close(self) -> None:
        await self._cancel(list(self._in_flight))

    async def _cancel(self, urls: list[str]) -> None:
        tasks = [self._in_flight.pop(url) for url in urls]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # their errors no longer matter
