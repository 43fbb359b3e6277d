"""Pagination styles: one small class per style behind one interface (after dlt's REST paginators).

A style knows how to ask for the page at a `Position` and where the next page starts, read from the page
that came back. A `Position` is what the state record saves: `offset` (source items before it), `cursor`
(the page number, cursor or next URL; None for offset paging and the first page) and `skip` (items from the
start of that page on already used, after a stop inside a page). A page named by a cursor may come back smaller
than when it was cut (pageSize lowered before a restart): what its `skip` leaves over is skipped on the next page,
for the items from a cursor on are the same whatever the page size.

With `requestBody` (POST, GraphQL, Elasticsearch), offset, page, cursor and limit are dotted paths into the body
instead of query parameters, and keep their JSON types: a cursor is saved as its JSON text (a `search_after`
list stays a list) and written back into the body as it came.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, unquote_plus, urljoin, urlsplit, urlunsplit

from .credentials import Secrets
from .ledger import SourceError
from .state_record import Position

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..actor_input import ActorInput


class NoNextPosition(SourceError):
    """The page says there is more (hasMorePath) but names no next page: a failed field (a Relay endCursor whose
    resolver failed is null), asked for again like a failed request, and never taken for the end of the data."""


@dataclass(frozen=True)
class Response:
    """What a style may read to find the next page: the page's items, the JSON body and the headers."""

    items: list[Any]
    body: Any
    headers: Mapping[str, str]


class Style:
    """How one pagination style asks for pages and finds the next one."""

    positional: ClassVar[bool]  # positions can be computed ahead (prefetch; a short page is confirmed)

    def __init__(self, actor_input: ActorInput, secrets: Secrets, query: Mapping[str, Any] | None = None) -> None:
        """`query`: parameters every request of the run carries (an incremental run's lower bound)."""
        self.input, self.secrets = actor_input, secrets
        self.api_url, self.page_size, self.limit_param = (
            page_url(actor_input.api_url, query) if query else actor_input.api_url,
            actor_input.page_size,
            actor_input.limit_param,
        )

    def params(self, at: Position) -> dict[str, Any]:
        """The position and page size to ask for the page at `at`: parameter name (or body path) -> value."""
        raise NotImplementedError

    def url(self, at: Position) -> str:
        if self.input.request_body is not None:
            return self.api_url  # the position goes in the body
        return page_url(self.api_url, self.params(at))

    def body(self, at: Position) -> dict[str, Any] | None:
        """The JSON body to POST for the page at `at` (requestBody with the position written into it), or None
        for a GET."""
        if self.input.request_body is None:
            return None
        body = copy.deepcopy(self.input.request_body)
        for path, value in self.params(at).items():
            *parents, last = path.split(".")
            node = body
            for key in parents:
                node = node.setdefault(key, {})
            node[last] = value
        return body

    def next(self, at: Position, response: Response) -> Position | None:
        """Where the page after the one at `at` starts; None when the response says there is none."""
        raise NotImplementedError

    def ahead(self, at: Position, step: int, count: int) -> list[Position]:
        """The positions of the `count` pages after the one at `at`, for fetching ahead (none by default)."""
        return []

    def after(self, at: Position, used: int) -> Position:
        """The position after the first `used` items of the page at `at` (those after its `skip`)."""
        return Position(offset=at.offset + used, cursor=at.cursor, skip=at.skip + used)

    def following(self, at: Position, served: int, cursor: str | int) -> Position:
        """The position of the page after the one at `at`, which served `served` items, named by `cursor`; with
        the part of `at`'s skip that the page did not hold."""
        return Position(offset=at.offset + max(0, served - at.skip), cursor=cursor, skip=max(0, at.skip - served))


class OffsetPages(Style):
    """`?offset=200&limit=100`: the position is the offset itself."""

    positional = True

    def params(self, at: Position) -> dict[str, Any]:
        return {self.input.offset_param: at.offset, self.limit_param: self.page_size}

    def next(self, at: Position, response: Response) -> Position | None:
        return Position(offset=at.offset + len(response.items))

    def ahead(self, at: Position, step: int, count: int) -> list[Position]:
        return [Position(offset=at.offset + step * n) for n in range(1, count + 1)]

    def after(self, at: Position, used: int) -> Position:
        return Position(offset=at.offset + used)


class PageNumbers(Style):
    """`?page=3&per_page=100`: the position is the page number (and the items of it already used)."""

    positional = True

    def number(self, at: Position) -> int:
        return self.input.first_page if at.cursor is None else int(at.cursor)

    def params(self, at: Position) -> dict[str, Any]:
        return {self.input.page_param: self.number(at), self.limit_param: self.page_size}

    def next(self, at: Position, response: Response) -> Position | None:
        return self.following(at, len(response.items), self.number(at) + 1)

    def ahead(self, at: Position, step: int, count: int) -> list[Position]:
        return [Position(cursor=self.number(at) + n) for n in range(1, count + 1)]  # fetched by url(), not offset


class BodyCursor(Style):
    """`?cursor=abc`, the next cursor read from the body (`meta.next_cursor`, a Relay `pageInfo.endCursor`) or,
    Stripe-like, from a field of the page's last item (`starting_after=<id>`, Elasticsearch's `search_after`
    from the last hit's `sort`); `hasMorePath` may say that there is no more."""

    positional = False

    def params(self, at: Position) -> dict[str, Any]:
        cursor: dict[str, Any] = {}
        if at.cursor is not None:
            in_body = self.input.request_body is not None
            cursor = {self.input.cursor_param: json.loads(str(at.cursor)) if in_body else at.cursor}
        return {**cursor, self.limit_param: self.page_size}

    def next(self, at: Position, response: Response) -> Position | None:
        has_more_path, cursor_path = self.input.has_more_path, self.input.cursor_path
        has_more = value_at(response.body, has_more_path, "hasMorePath") if has_more_path else None
        if has_more is False:
            return None
        if cursor_path:
            cursor = value_at(response.body, cursor_path, "cursorPath", missing=None)
        elif response.items and isinstance(response.items[-1], dict):
            cursor = response.items[-1].get(self.input.cursor_item_field)
        else:
            cursor = None
        if cursor is None or cursor in ("", []):
            if has_more is True:
                item_field = self.input.cursor_item_field
                where = f"cursorPath {cursor_path!r}" if cursor_path else f"cursorItemField {item_field!r}"
                raise NoNextPosition(f"hasMorePath {has_more_path!r} says there is more, but {where} gives no cursor")
            return None
        saved = json.dumps(cursor) if self.input.request_body is not None else str(cursor)
        return self.following(at, len(response.items), saved)


class NextUrl(Style):
    """The next page's URL in the body (`links.next`), or in the `Link: <...>; rel="next"` header (RFC 8288).
    The URL is saved as the server wrote it, less the run's known secret values; apiUrl's credential parameters
    are added again to fetch it, when it is on apiUrl's origin (or one the input allows)."""

    positional = False

    def url(self, at: Position) -> str:
        if at.cursor is None:
            return page_url(self.api_url, {self.limit_param: self.page_size})
        url = urljoin(self.api_url, str(at.cursor))
        if not self.secrets.may_receive(url) or not self.secrets.query_credentials:
            return url
        parts = urlsplit(url)
        names = {_decoded_name(pair) for pair in self.secrets.query_credentials}
        kept = [p for p in parts.query.split("&") if p and _decoded_name(p) not in names] if parts.query else []
        return urlunsplit(parts._replace(query="&".join(kept + self.secrets.query_credentials)))

    def next(self, at: Position, response: Response) -> Position | None:
        if self.input.pagination == "linkHeader":
            link = next_link(response.headers.get("link", ""))
        else:
            link = value_at(response.body, self.input.next_url_path, "nextUrlPath", missing=None)
        if not link:
            return None
        absolute = urljoin(self.url(at), str(link))
        return self.following(at, len(response.items), self.secrets.strip(absolute))


STYLES: dict[str, type[Style]] = {
    "offset": OffsetPages,
    "page": PageNumbers,
    "cursor": BodyCursor,
    "nextUrl": NextUrl,
    "linkHeader": NextUrl,
}


def style_for(actor_input: ActorInput, secrets: Secrets, query: Mapping[str, Any] | None = None) -> Style:
    """The style the input names, set up from its fields (and with `query` in every request)."""
    return STYLES[actor_input.pagination](actor_input, secrets, query)


def page_url(api_url: str, params: Mapping[str, Any]) -> str:
    """`api_url` with `params` set in its query string. The rest of the query stays exactly as written
    (`?flag`, `a=1,2`): only the parameters named in `params` are replaced or added."""
    parts = urlsplit(api_url)
    kept = [p for p in parts.query.split("&") if p and _decoded_name(p) not in params] if parts.query else []
    added = [f"{_quote(str(name))}={_quote(str(value))}" for name, value in params.items()]
    return urlunsplit(parts._replace(query="&".join(kept + added)))


def value_at(body: Any, path: str, field: str, *, missing: Any = ...) -> Any:
    """The value at the dotted `path` in a JSON body ("" is the body itself). A missing key raises SourceError
    naming `field`, unless a `missing` default is given."""
    node = body
    for key in path.split(".") if path else []:
        if not isinstance(node, dict) or key not in node:
            if missing is not ...:
                return missing
            raise SourceError(f"{field} {path!r}: the response has no key {key!r} there.")
        node = node[key]
    return node


def items_at(body: Any, items_path: str) -> list[Any]:
    """The list found at the dotted `items_path` inside a JSON body ("" means the body itself)."""
    node = value_at(body, items_path, "itemsPath")
    if not isinstance(node, list):
        where = f"itemsPath {items_path!r}" if items_path else "the response body (itemsPath is empty)"
        raise SourceError(f"{where} is a JSON {type(node).__name__}, not a list of items.")
    return node


# RFC 8288: link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param ), link-values separated by commas;
# a parameter's value is a token or a quoted string (which may hold commas and semicolons).
LINK_VALUE = re.compile(r'\s*<([^>]*)>((?:\s*;\s*[^\s=;,]+(?:\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;,"]*))?)*)\s*(?:,|$)')
LINK_PARAM = re.compile(r'\s*;\s*([^\s=;,]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^;,"]*))?')


def next_link(header: str) -> str | None:
    """The target of the link whose relation types (rel, a space-separated list, case-insensitive) include
    exactly `next`, in an RFC 8288 Link header; None when there is none (or the header cannot be parsed)."""
    position = 0
    while position < len(header.rstrip()):
        value = LINK_VALUE.match(header, position)
        if value is None:
            return None
        for name, raw in LINK_PARAM.findall(value.group(2)):
            relation = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw.strip()
            if name.lower() == "rel" and "next" in relation.lower().split():
                return value.group(1)
        position = value.end()
    return None


def _decoded_name(pair: str) -> str:
    return unquote_plus(pair.split("=", 1)[0])


def _quote(text: str) -> str:
    return quote(text, safe="")
