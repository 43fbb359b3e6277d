"""Reading pages of a JSON API politely and safely: requests with retries, backoff and jitter, pages fetched
ahead, and the end of the data told apart from a page-size cap or an API that repeats itself.

GET, or POST with `requestBody` (GraphQL, Elasticsearch). An answer at HTTP 200 to a POST with a GraphQL `errors`
list is a failed attempt, retried like a 5xx, unless it also has data and the input accepts partial data; a GET's
body is no GraphQL answer (a REST error log's `errors` may be its items). With OAuth2 client
credentials (RFC 6749 section 4.4) a bearer token is fetched, renewed before it expires and once on a 401, and
hidden like every other secret.

Redirects are followed here, hop by hop, not by the HTTP client (which would send every credential but
`Authorization` to any origin): the input's headers, the bearer token and a body holding credentials go only to the
origins that may receive them, checked at each hop (`request_json`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus, urlencode, urljoin, urlsplit

import impit
from apify import Actor
from crawlee.http_clients import ImpitHttpClient

from .credentials import Secrets, body_without_secrets, origin
from .pagination import NoNextPosition, Response, SourceError, Style, items_at, style_for, value_at
from .state_record import Position, position_key

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping

    from apify import ProxyConfiguration
    from crawlee.http_clients import HttpClient
    from crawlee.proxy_configuration import ProxyInfo

    from .scale_out_chunks import Stripe

__all__ = ["JsonApiSource", "Page", "SourceError"]

REQUEST_TIMEOUT = timedelta(seconds=60)
BACKOFF_BASE_SECS = 0.5
BACKOFF_MAX_SECS = 60.0
RETRIED_ERRORS = (impit.HTTPError, TimeoutError)  # connection failures, resets, timeouts
GONE_PAST_THE_END = (404, 416)  # what some APIs answer for a position after the last page
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10  # hops one request follows; more is a loop or a misconfigured API
TOKEN_MARGIN_SECS = 60.0  # an OAuth2 token is renewed this long before it expires (a fifth of its life at most)
Request = tuple[str, str | None]  # a page's URL and, for a POST, its JSON body as text


def http_client() -> ImpitHttpClient:
    """The client for the API's and the token URL's requests. It follows no redirect: `request_json` does, deciding
    at each hop which credentials may go along."""
    return ImpitHttpClient(follow_redirects=False)


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
    A worker of parallel runs reads only the pages of its `stripe` (scale_out_chunks.py).
    """

    def __init__(
        self,
        http: HttpClient,
        actor_input: Any,
        proxy: ProxyConfiguration | None,
        *,
        seen: Iterable[str] = (),
        stripe: Stripe | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> None:
        """`seen`: the keys (`position_key`) of positions an earlier start of the run has read past; `query`:
        parameters every request carries."""
        self._http, self._input, self._proxy, self._stripe = http, actor_input, proxy, stripe
        body, api_url = actor_input.request_body, actor_input.api_url
        self.secrets = Secrets.of_request(api_url, actor_input.headers, body, actor_input.credential_origins)
        self._secret_body = body_without_secrets(body) != body  # a POST body that names a credential
        oauth2 = actor_input.oauth2_token_url
        self._oauth2 = OAuth2ClientCredentials(http, actor_input, self.secrets) if oauth2 else None
        self.style = style_for(actor_input, self.secrets, query)
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
        served, following = await self._served_and_next(at, ahead)
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
        # Items that echo the request (a self link, a caller field) hold no credential: hidden before the transform,
        # alike in every process (a restarted run compares the page read again with the items that landed).
        items = self.secrets.hide_in(served.items[at.skip :])
        return Page(items, at, following, is_last, self.style, chunk)

    async def _served_and_next(self, at: Position, ahead: int) -> tuple[Response, Position | None]:
        """The page at `at` and where the next one starts. A page that says there is more but names no next page is
        asked for again, with backoff, like a failed request; then the run fails (the rest is never taken as
        read)."""
        retries = self._input.max_request_retries
        for attempt in range(retries + 1):
            served = await self._get(at, ahead)
            try:
                return served, self.style.next(at, served)
            except NoNextPosition as error:
                failure = str(error)
            if attempt < retries:
                delay = _backoff_secs(attempt)
                shown = self.secrets.hide(self._request(at)[0])
                Actor.log.warning(f"{shown}: {failure}; retry {attempt + 1} of {retries} in {delay:.1f} s")
                await asyncio.sleep(delay)
        raise SourceError(f"{self.secrets.hide(self._request(at)[0])} failed {retries + 1} times; last: {failure}.")

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
        requests = [self._request(position) for position in (at, *upcoming)]
        return await self._pages.get(requests, keep=peek, first_page=at == Position())

    def _request(self, at: Position) -> Request:
        body = self.style.body(at)
        return self.style.url(at), None if body is None else json.dumps(body)

    def _ahead(self, at: Position, count: int) -> list[Position]:
        """The positions of the `count` pages to read after the one at `at` (a worker's: in its stripe)."""
        if not self._stripe:
            return self.style.ahead(at, self._step, count)
        upcoming: list[Position] = []
        for _ in range(count):
            at = self._stripe.onward(self.style.ahead(at, self._step, 1)[0])
            upcoming.append(at)
        return upcoming

    async def _fetch(self, request: Request, first_page: bool) -> Response:
        url, payload = request
        proxy_info = await self._proxy.new_proxy_info() if self._proxy else None
        try:
            body, headers = await request_json(
                self._http,
                url,
                headers={} if payload is None else {"Content-Type": "application/json"},
                credential_headers=self._input.headers,
                may_receive=self.secrets.may_receive,
                payload=None if payload is None else payload.encode(),
                secret_payload=self._secret_body,
                max_retries=self._input.max_request_retries,
                proxy_info=proxy_info,
                secrets=self.secrets,
                auth=self._oauth2,
                graphql=payload is not None,  # GraphQL is POSTed here: a GET's `errors` is the API's own field
                accept_partial_data=self._input.accept_partial_data,
            )
        except GoneError as error:
            if first_page:
                raise
            Actor.log.warning(f"{error} Taking that for the end of the data.")
            return Response([], None, {})
        return Response(items_at(body, self._input.items_path), body, headers)


class GoneError(SourceError):
    """The API answered 404 or 416: nothing there."""


class OAuth2ClientCredentials:
    """A bearer token from the input's OAuth2 token URL (RFC 6749 section 4.4, client credentials), kept in memory
    only: fetched when first needed, renewed before it expires and when the API refuses it. The client
    authenticates with HTTP Basic (section 2.3.1) or, with oauth2ClientAuth 'form', in the form."""

    def __init__(self, http: HttpClient, actor_input: Any, secrets: Secrets) -> None:
        self._http, self._input, self._secrets = http, actor_input, secrets
        secrets.add([actor_input.oauth2_client_secret])
        secrets.add_url(actor_input.oauth2_token_url)
        self._origin = origin(actor_input.oauth2_token_url)  # the only one that may receive the client secret
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._token = await self._new_token()
            return self._token

    async def refused(self, token: str) -> None:
        """The API answered 401 to `token`: get a new one, unless another request already did."""
        async with self._lock:
            if token == self._token:
                self._token = await self._new_token()

    async def _new_token(self) -> str:
        """A token from the token URL (its renewal time noted), hidden from then on like every secret."""
        given = self._input
        form = {"grant_type": "client_credentials"} | ({"scope": given.oauth2_scope} if given.oauth2_scope else {})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        in_form = given.oauth2_client_auth == "form"
        client: dict[str, str] = {}
        if in_form:
            form |= {"client_id": given.oauth2_client_id, "client_secret": given.oauth2_client_secret}
        else:
            pair = f"{quote_plus(given.oauth2_client_id)}:{quote_plus(given.oauth2_client_secret)}"
            basic = base64.b64encode(pair.encode()).decode()
            self._secrets.add([basic])
            client["Authorization"] = f"Basic {basic}"
        try:
            body, _headers = await request_json(
                self._http,
                given.oauth2_token_url,
                headers=headers,
                credential_headers=client,
                may_receive=lambda url: origin(url) == self._origin,
                payload=urlencode(form).encode(),
                secret_payload=in_form,
                max_retries=given.max_request_retries,
                secrets=self._secrets,
                graphql=False,
            )
        except GoneError as error:  # a 404 of the token URL is no end of the data
            raise SourceError(str(error)) from None
        token = body.get("access_token") if isinstance(body, dict) else None
        token_type = body.get("token_type", "bearer") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token or str(token_type).lower() != "bearer":
            raise SourceError("oauth2TokenUrl did not answer with a bearer access_token (RFC 6749 section 5.1).")
        self._secrets.add([token])
        lifetime = body.get("expires_in")
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
            self._renew_at = time.monotonic() + lifetime - min(TOKEN_MARGIN_SECS, lifetime / 5)
        else:
            self._renew_at = float("inf")  # no lifetime given: renewed when the API refuses it
        return token


async def request_json(
    http: HttpClient,
    url: str,
    *,
    headers: Mapping[str, str],
    max_retries: int,
    secrets: Secrets,
    may_receive: Callable[[str], bool],
    credential_headers: Mapping[str, str] | None = None,
    payload: bytes | None = None,
    secret_payload: bool = False,
    proxy_info: ProxyInfo | None = None,
    auth: OAuth2ClientCredentials | None = None,
    graphql: bool = True,
    accept_partial_data: bool = False,
) -> tuple[Any, Mapping[str, str]]:
    """GET `url` (POST `payload` when given), parse its JSON body; return it with the response headers. Retries
    429, 5xx, connection errors and (`graphql`) answers with GraphQL `errors` with backoff and jitter; with `auth`,
    sends its bearer token and renews it once on a 401. Every message has the run's secrets hidden.

    Redirects (`http` must not follow them: `http_client`) are followed here, up to MAX_REDIRECTS, each hop with
    its own retries. `credential_headers` and the bearer token go to a hop only if `may_receive` allows its URL; a
    `secret_payload` (a body that holds credentials) too, else the redirect stops with SourceError. As RFC 9110
    section 15.4 has it, a 303, and a 301 or 302 after a POST, is followed with a GET without the body.
    """
    first = secrets.hide(url)
    for hop in range(MAX_REDIRECTS + 1):
        trusted = may_receive(url)
        withheld = not trusted and bool(credential_headers or auth)
        answer = await _request_hop(
            http,
            url,
            shown=secrets.hide(url) + (_redirected_note(first, withheld=withheld) if hop else ""),
            headers={**headers, **((credential_headers or {}) if trusted else {})},
            payload=payload,
            max_retries=max_retries,
            secrets=secrets,
            proxy_info=proxy_info,
            auth=auth if trusted else None,
            graphql=graphql,
            accept_partial_data=accept_partial_data,
        )
        if not isinstance(answer, Redirect):
            return answer
        url, payload, headers = _redirected(
            url,
            answer,
            payload=payload,
            headers=headers,
            secrets=secrets,
            may_receive=may_receive,
            secret_payload=secret_payload,
        )
    raise SourceError(f"{first} redirected more than {MAX_REDIRECTS} times (last to {secrets.hide(url)}).")


def _redirected_note(first: str, *, withheld: bool) -> str:
    if not withheld:
        return f" (redirected from {first})"
    return f" (redirected from {first}; asked without the credentials, which this origin may not receive)"


@dataclass(frozen=True)
class Redirect:
    status: int
    location: str


def _redirected(
    url: str,
    redirect: Redirect,
    *,
    payload: bytes | None,
    headers: Mapping[str, str],
    secrets: Secrets,
    may_receive: Callable[[str], bool],
    secret_payload: bool,
) -> tuple[str, bytes | None, Mapping[str, str]]:
    """The next hop of a redirect from `url`: its URL (relative locations resolved against `url`; known secret
    values left out of it for an origin that may not receive them), its body and its headers."""
    target, status = urljoin(url, redirect.location), redirect.status
    went = f"{secrets.hide(url)} redirected (HTTP {status}) to"
    if urlsplit(target).scheme not in ("http", "https"):
        raise SourceError(f"{went} {secrets.hide(target)}, which is not an HTTP URL.")
    trusted = may_receive(target)
    if not trusted:
        target = secrets.strip(target)
    if payload is not None and status in (301, 302, 303):
        return target, None, {name: value for name, value in headers.items() if name.lower() != "content-type"}
    if payload is not None and secret_payload and not trusted:
        raise SourceError(
            f"{went} {secrets.hide(origin(target))}, which may not receive the credentials in the request's body: "
            "the request is not sent there. If that origin may have them, use it in the input (apiUrl, "
            "oauth2TokenUrl), or for apiUrl name it in credentialOrigins."
        )
    return target, payload, headers


async def _request_hop(
    http: HttpClient,
    url: str,
    *,
    shown: str,
    headers: Mapping[str, str],
    payload: bytes | None,
    max_retries: int,
    secrets: Secrets,
    proxy_info: ProxyInfo | None,
    auth: OAuth2ClientCredentials | None,
    graphql: bool,
    accept_partial_data: bool,
) -> tuple[Any, Mapping[str, str]] | Redirect:
    """One hop of `request_json`, with its retries: the parsed answer and its headers, or where it redirects."""
    attempt = 0
    renewed = False
    while True:
        retry_after = None
        sent = dict(headers)
        token = await auth.token() if auth else None
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        try:
            response = await http.send_request(
                url,
                method="GET" if payload is None else "POST",
                headers=sent,
                payload=payload,
                proxy_info=proxy_info,
                timeout=REQUEST_TIMEOUT,
            )
        except RETRIED_ERRORS as error:
            failure = secrets.hide(f"{type(error).__name__}: {error}")
        else:
            status = response.status_code
            if status < 300:
                body = await response.read()
                try:
                    parsed = json.loads(body)
                except ValueError as error:
                    raise SourceError(f"{shown} did not answer with JSON ({error}).") from error
                answer_headers = {name.lower(): value for name, value in response.headers.items()}
                error_message = graphql_error(parsed) if graphql else None
                if error_message is None:
                    return parsed, answer_headers
                failure = secrets.hide(f"GraphQL error: {error_message}")
                if accept_partial_data and parsed.get("data"):
                    Actor.log.warning(f"{shown}: {failure} (partial data accepted: acceptPartialData)")
                    return parsed, answer_headers
            elif status in REDIRECTS and (location := response.headers.get("location")):
                return Redirect(status, location)
            elif status == 401 and auth is not None and token is not None and not renewed:
                renewed = True  # the token may have expired early or been revoked: one new one, then as usual
                await auth.refused(token)
                continue
            elif status in GONE_PAST_THE_END:
                raise GoneError(f"{shown} answered HTTP {status}.")
            elif status != 429 and status < 500:
                said = secrets.hide(_what_it_said(await response.read()))
                raise SourceError(f"{shown} answered HTTP {status}; this is not retried{said}.")
            else:
                failure = f"HTTP {status}"
            retry_after = _retry_after_secs(response.headers.get("retry-after"))
        if attempt == max_retries:
            raise SourceError(f"{shown} failed {attempt + 1} times; last: {failure}.")
        delay = retry_after if retry_after is not None else _backoff_secs(attempt)
        Actor.log.warning(f"{shown}: {failure}; retry {attempt + 1} of {max_retries} in {delay:.1f} s")
        await asyncio.sleep(delay)
        attempt += 1


def graphql_error(body: Any) -> str | None:
    """The first message of a GraphQL answer's non-empty `errors` list; None when it has none."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return None
    first = errors[0]
    message = first.get("message") if isinstance(first, dict) else None
    return str(message if message is not None else first)[:500]


def _what_it_said(body: bytes) -> str:
    """An error answer's own words, briefly: an OAuth2 `error` (RFC 6749 section 5.2) or a GraphQL message."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return ""
    said = graphql_error(parsed)
    if said is None and isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        said = parsed["error"]
        if isinstance(parsed.get("error_description"), str):
            said += f": {parsed['error_description']}"
    return f" ({said[:300]})" if said else ""


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

    def __init__(self, fetch: Callable[[Any, bool], Awaitable[Response]]) -> None:
        self._fetch = fetch
        self._in_flight: dict[Hashable, asyncio.Task[Response]] = {}

    async def get(self, urls: list[Any], *, keep: bool = False, first_page: bool = False) -> Response:
        """The page at `urls[0]` (a URL, or a URL with a body: anything that names one request), with the pages
        at the others requested too; fetches in flight for any other are cancelled. With `keep`, the page stays
        at hand for the next `get` of it."""
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

    async def _cancel(self, urls: list[Any]) -> None:
        tasks = [self._in_flight.pop(url) for url in urls]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # their errors no longer matter
