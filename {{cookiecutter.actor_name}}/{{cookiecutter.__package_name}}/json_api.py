"""Reading pages of a JSON API politely: page URLs, retries with backoff, the item list, pages ahead."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import impit
from apify import Actor

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from crawlee.http_clients import HttpClient
    from crawlee.proxy_configuration import ProxyInfo

REQUEST_TIMEOUT = timedelta(seconds=60)
BACKOFF_BASE_SECS = 0.5
BACKOFF_MAX_SECS = 60.0
RETRIED_ERRORS = (impit.HTTPError, TimeoutError)  # connection failures, resets, timeouts


class SourceError(Exception):
    """The source cannot give the page: a refused request, retries used up, or a body that is not a page."""


def page_url(api_url: str, params: dict[str, Any]) -> str:
    """`api_url` with `params` set in its query string; parameters already in the URL are kept."""
    parts = urlsplit(api_url)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key not in params]
    query += [(key, str(value)) for key, value in params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def items_at(body: Any, items_path: str) -> list[Any]:
    """The list found at the dotted `items_path` inside a JSON body ("" means the body itself)."""
    node = body
    for key in items_path.split(".") if items_path else []:
        if not isinstance(node, dict) or key not in node:
            raise SourceError(f"itemsPath {items_path!r}: the response has no key {key!r} there.")
        node = node[key]
    if not isinstance(node, list):
        where = f"itemsPath {items_path!r}" if items_path else "the response body (itemsPath is empty)"
        raise SourceError(f"{where} is a JSON {type(node).__name__}, not a list of items.")
    return node


async def get_json(http: HttpClient, url: str, *, max_retries: int, proxy_info: ProxyInfo | None = None) -> Any:
    """GET `url` and parse its JSON body, retrying 429, 5xx and connection errors with backoff and jitter."""
    attempt = 0
    while True:
        retry_after = None
        try:
            response = await http.send_request(url, proxy_info=proxy_info, timeout=REQUEST_TIMEOUT)
        except RETRIED_ERRORS as error:
            failure = f"{type(error).__name__}: {error}"
        else:
            status = response.status_code
            if status < 300:
                body = await response.read()
                try:
                    return json.loads(body)
                except ValueError as error:
                    raise SourceError(f"{url} did not answer with JSON ({error}).") from error
            if status != 429 and status < 500:
                raise SourceError(f"{url} answered HTTP {status}; this is not retried.")
            failure = f"HTTP {status}"
            retry_after = _retry_after_secs(response.headers.get("retry-after"))
        if attempt == max_retries:
            raise SourceError(f"{url} failed {attempt + 1} times; last: {failure}.")
        delay = retry_after if retry_after is not None else _backoff_secs(attempt)
        Actor.log.warning(f"{url}: {failure}; retry {attempt + 1} of {max_retries} in {delay:.1f} s")
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
    """Fetches the pages after the current one while it is being saved: up to `ahead` requests in flight,
    while pages are still handed out one at a time, strictly in offset order.

    Use it as an async context manager: leaving it cancels every fetch still in flight (at the end of the
    data, or when the run stops for a migration: those pages are simply fetched again after the restart).
    """

    def __init__(self, fetch: Callable[[int], Awaitable[list[Any]]], page_size: int) -> None:
        self._fetch = fetch
        self._page_size = page_size
        self._in_flight: dict[int, asyncio.Task[list[Any]]] = {}

    async def __aenter__(self) -> PagesAhead:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._cancel(list(self._in_flight))

    async def get(self, offset: int, ahead: int) -> list[Any]:
        """The page at `offset`, with the `ahead - 1` pages after it requested too."""
        await self._cancel([stale for stale in self._in_flight if stale < offset])
        for upcoming in range(offset, offset + max(1, ahead) * self._page_size, self._page_size):
            if upcoming not in self._in_flight:
                self._in_flight[upcoming] = asyncio.create_task(self._fetch(upcoming))
        return await self._in_flight.pop(offset)

    async def _cancel(self, offsets: list[int]) -> None:
        tasks = [self._in_flight.pop(offset) for offset in offsets]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # their errors no longer matter
