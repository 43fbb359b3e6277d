"""What the tests, the demo and the rehearsal share: a local paginated JSON source, a way to run the Actor
as a real subprocess on a storage folder of its own, and readers for what it left there.

The source is real HTTP on 127.0.0.1. Items are `{"id": i, "name": "item-i"}` for i in 0..total-1.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STATE_KEY = "APIFY_GLOBAL_STATE"
TEST_ENTRY = "tests/at_home.py"  # the Actor's main(), run with what the environment asks of a test


def package_name() -> str:
    """The Actor's package: the one folder at the project root with a __main__.py."""
    (main,) = PROJECT_ROOT.glob("*/__main__.py")
    return main.parent.name


# Waits of the Actor that only span an interval, which tests may shorten (name -> its module): set in the
# environment of a run started through a test entry point (tests/at_home.py, tests/crash_after_push.py).


TUNABLE_WAITS = {
    "STATUS_INTERVAL_SECS": "engine.resumable",
    "PUSH_SETTLE_SECS": "engine.ledger",
    "PUSH_BACKOFF_SECS": "engine.ledger",
    "COORDINATOR_CHECK_SECS": "engine.scale_out",
    "CLAIM_SETTLE_SECS": "engine.incremental",
    "LEASE_SECS": "engine.incremental",
}
# A crawler's test may run it with a router of the tests' own (a module in tests/) in place of routes.py; a JSON
# kind's test with a transform of its own ("module:function", the module in tests/) in place of main.transform.
ROUTES_VARIABLE = "TEST_ROUTES"
TRANSFORM_VARIABLE = "TEST_TRANSFORM"


def run_main_of_the_actor() -> None:
    """What a test entry point runs: the Actor's unchanged `main()`, with the waits the environment shortens
    and, for a crawler, the test's own router."""
    package = package_name()
    for name, module in TUNABLE_WAITS.items():
        if name in os.environ:
            setattr(importlib.import_module(f"{package}.{module}"), name, float(os.environ[name]))
    if routes := os.environ.get(ROUTES_VARIABLE):
        sys.modules[f"{package}.routes"] = importlib.import_module(routes)
        importlib.import_module(package).routes = sys.modules[f"{package}.routes"]
    if (PROJECT_ROOT / package / "source.py").exists():  # your own source: its reads disturbed as the env asks
        importlib.import_module("custom_entry").disturb_reads()
    main = importlib.import_module(f"{package}.main")
    if transform := os.environ.get(TRANSFORM_VARIABLE):
        module, name = transform.split(":")
        main.transform = getattr(importlib.import_module(module), name)
    run_to_the_end = importlib.import_module(f"{package}.engine.resumable").run_to_the_end
    run_to_the_end(main.main)  # as __main__.py does


def source_item(index: int) -> dict[str, Any]:
    return {"id": index, "name": f"item-{index}"}


def expected_items(count: int, style: str = "offset") -> list[Any]:
    """What the Actor's own `transform` makes of the first `count` source items, in order: what the dataset
    must hold after reading them, each exactly once. (So these tests go on passing when you change it.)"""
    transform = importlib.import_module(f"{package_name()}.main").transform
    return [out for index in range(count) if (out := transform(source_item_in(style, index))) is not None]


class LoopbackServer(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 for many clients at once: a crawler's concurrent requests, or a run's dozens
    of API calls at once. socketserver's default listen backlog (5) drops connections beyond it, and a dropped
    connection waits out the client's retry or timeout: seconds that no real server would add."""

    request_queue_size = 256
    daemon_threads = True


class LocalServer:
    """What the tests' local HTTP sources and sites share: a LoopbackServer on a free port, bound when the
    (dataclass) object is made and served by a thread of its own while the object is used as a context manager.
    A subclass gives its request handler (`_handler_class`); `_lock` guards what the handler threads share."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = LoopbackServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def send_payload(
    handler: BaseHTTPRequestHandler, status: int, payload: bytes, content_type: str, headers: dict[str, str]
) -> None:
    """Answer `handler`'s request with `payload` and `headers`. A client that went away meanwhile (killed while it
    waited, or a fetch cancelled) is no error of the server's."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(payload)))
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    with contextlib.suppress(OSError):
        handler.wfile.write(payload)


# The input that reads PaginatedSource(style=...) with each pagination style (apiUrl added by `input_for`).
STYLE_INPUTS: dict[str, dict[str, Any]] = {
    "offset": {},
    "page": {"pagination": "page", "pageParam": "page", "limitParam": "per_page"},
    "cursor": {"pagination": "cursor", "cursorPath": "meta.next_cursor", "itemsPath": "data"},
    "cursorItem": {
        "pagination": "cursor",
        "cursorParam": "starting_after",
        "cursorItemField": "id",
        "hasMorePath": "has_more",
        "itemsPath": "data",
    },
    "nextUrl": {"pagination": "nextUrl", "nextUrlPath": "links.next", "itemsPath": "data"},
    "linkHeader": {"pagination": "linkHeader", "limitParam": "per_page"},
    # POST bodies (the URL path is set by `input_for`): GraphQL with page numbers in its variables, a Relay
    # connection, and Elasticsearch's search_after (the items are the hits: see `source_item_in`).
    "graphqlPage": {
        "pagination": "page",
        "requestBody": {
            "query": "query($page: Int!, $perPage: Int!) { items(page: $page, perPage: $perPage) { id name } }",
            "variables": {},
        },
        "pageParam": "variables.page",
        "limitParam": "variables.perPage",
        "itemsPath": "data.items",
    },
    "graphqlRelay": {
        "pagination": "cursor",
        "requestBody": {
            "query": "query($first: Int!, $after: String) { connection(first: $first, after: $after) "
            "{ nodes { id name } pageInfo { hasNextPage endCursor } } }",
            "variables": {"after": None},
        },
        "cursorParam": "variables.after",
        "limitParam": "variables.first",
        "cursorPath": "data.connection.pageInfo.endCursor",
        "hasMorePath": "data.connection.pageInfo.hasNextPage",
        "itemsPath": "data.connection.nodes",
    },
    "searchAfter": {
        "pagination": "cursor",
        "requestBody": {"query": {"match_all": {}}, "sort": [{"id": "asc"}, {"name": "asc"}]},
        "cursorParam": "search_after",
        "limitParam": "size",
        "cursorItemField": "sort",
        "itemsPath": "hits.hits",
    },
}
# OAuth2 client credentials (RFC 6749 4.4), in front of any style: what `input_for` adds with token_lifetime_secs.
OAUTH2_INPUT = {"oauth2ClientId": "test-client", "oauth2Scope": "items:read"}
OAUTH2_SECRET = "SENTINEL-client-secret-4b9e17"  # a test's own


def source_item_in(style: str, index: int) -> Any:
    """The source's item at `index` as the source serves it in `style` (an Elasticsearch hit, or the item)."""
    if style == "searchAfter":
        return {"_id": str(index), "_source": source_item(index), "sort": [index, f"item-{index}"]}
    return source_item(index)


GRAPHQL_SCHEMA = """
type Item { id: Int! name: String! }
type PageInfo { hasNextPage: Boolean! endCursor: String }
type Connection { nodes: [Item!]! pageInfo: PageInfo! }
type Query {
  items(page: Int!, perPage: Int!): [Item!]!
  connection(first: Int!, after: String): Connection!
  note: String
}
"""


@dataclass(frozen=True)
class Received:
    """A request as the source received it."""

    method: str
    target: str  # path and query
    headers: dict[str, str]
    body: str


@dataclass
class PaginatedSource(LocalServer):
    """A paginated JSON API on 127.0.0.1 in any pagination style (STYLE_INPUTS), with the quirks a test asks for.

    Pages are known by the index of their first item ("start"): faults maps a start to HTTP statuses served,
    in turn, before that page is served right; slow_pages maps a start to extra seconds that page takes.
    max_page_size caps the page size as many APIs do; past_the_end says what a position after the last item
    gets ("empty", "repeat" the last page, "404" or "416"); ignore_position serves the first page whatever is asked.
    With required_headers or required_query set, a request without them gets 401. With token_lifetime_secs, the
    API wants a bearer token from POST /token (client credentials, HTTP Basic or in the form; OAUTH2_SECRET),
    which it refuses with 401 after that many seconds (it tells clients 1.5 times as long: early revocation);
    the tokens issued are recorded. graphql_errors maps a start to GraphQL answers served, in turn, at HTTP 200
    before the page is served right: "error" (data null), "partial" (the data, and an error), "cursorNull" (a Relay
    page with hasNextPage true and endCursor null) or "cursorFailed" (the same, endCursor's resolver failing: an
    error too). next_query adds parameters to next URLs (Facebook's access_token); fault_description is said in the
    body of injected faults; echo_request puts the request into each item (a HAL self link, a caller field).
    redirects maps a path to the status and Location it answers, the request's query added to the Location.
    Requests are recorded as they arrive: their positions (`requests`) and everything they carried (`received`).
    """

    total: int
    style: str = "offset"
    items_path: str = ""
    offset_param: str = "offset"
    limit_param: str = "limit"
    latency_secs: float = 0.0
    slow_pages: dict[int, float] = field(default_factory=dict)
    faults: dict[int, list[int]] = field(default_factory=dict)
    retry_after: str | None = None
    not_objects: set[int] = field(default_factory=set)  # items served as a bare string instead of an object
    max_page_size: int | None = None
    past_the_end: str = "empty"
    ignore_position: bool = False
    next_host: str | None = None  # next URLs (nextUrl, linkHeader) name this host, absolutely, instead of ours
    cursor_loop: dict[int, int] = field(default_factory=dict)  # cursor style: the cursor c<key> is served as c<value>
    required_headers: dict[str, str] = field(default_factory=dict)
    required_query: dict[str, str] = field(default_factory=dict)
    token_lifetime_secs: float | None = None
    client_auth: str = "basic"  # how the OAuth2 client must authenticate at /token: "basic" or "form"
    graphql_errors: dict[int, list[str]] = field(default_factory=dict)
    redirects: dict[str, tuple[int, str]] = field(default_factory=dict)
    next_query: dict[str, str] = field(default_factory=dict)
    fault_description: str = ""
    echo_request: bool = False
    received: list[Received] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)  # token issued -> when it expires (time.monotonic())
    refused_tokens: list[str] = field(default_factory=list)  # tokens a request was refused with (401), in turn
    requests: list[tuple[int, int, int]] = field(default_factory=list)  # (start, limit, status) asked for
    answered: list[tuple[int, float]] = field(default_factory=list)  # (start, time.monotonic()) answered

    @property
    def url(self) -> str:
        return f"{self.origin}/items"

    def input_for(self, **fields: Any) -> dict[str, Any]:
        """The Actor input that reads this source in its style, with `fields` added."""
        style_input = {**STYLE_INPUTS[self.style]}
        if self.style in ("offset", "page") and self.items_path:
            style_input["itemsPath"] = self.items_path
        if self.token_lifetime_secs is not None:
            style_input |= {**OAUTH2_INPUT, "oauth2TokenUrl": self.url.replace("/items", "/token")}
            style_input |= {"oauth2ClientSecret": OAUTH2_SECRET, "oauth2ClientAuth": self.client_auth}
        path = {"graphqlPage": "/graphql", "graphqlRelay": "/graphql", "searchAfter": "/items/_search"}
        return {"apiUrl": self.url.replace("/items", path.get(self.style, "/items")), **style_input, **fields}

    def page_items(self, start: int, limit: int, echo: dict[str, Any] | None = None) -> list[Any]:
        indexes = range(start, min(start + limit, self.total))
        return [f"item-{i}" if i in self.not_objects else source_item(i) | (echo or {}) for i in indexes]

    def page_body(self, offset: int, limit: int, echo: dict[str, Any] | None = None) -> Any:
        body: Any = self.page_items(offset, limit, echo)
        for key in reversed(self.items_path.split(".") if self.items_path else []):
            body = {key: body, "total": self.total}
        return body

    def _start_and_limit(self, query: dict[str, str]) -> tuple[int, int] | str:
        limit_name = STYLE_INPUTS[self.style].get("limitParam", self.limit_param)
        position_name = {"offset": self.offset_param, "page": "page", "cursor": "cursor"}.get(self.style, "start")
        position_name = "starting_after" if self.style == "cursorItem" else position_name
        limit, position = query.get(limit_name, ""), query.get(position_name, "")
        if not limit.isdigit() or not (position.isdigit() or position.startswith("c") or position == ""):
            return f"{limit_name} must be an integer, {position_name} a position"
        limit = min(int(limit), self.max_page_size or int(limit))
        if self.style == "offset":
            start = int(position) if position else -1
        elif self.style == "page":
            start = (int(position or 1) - 1) * limit
        elif self.style == "cursorItem":
            start = int(position) + 1 if position else 0
        else:
            start = int(position.removeprefix("c") or 0)
        return (0 if self.ignore_position else start), limit

    def _authorized(self, headers: Any) -> bool:
        if self.token_lifetime_secs is None:
            return True
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        with self._lock:
            if self.tokens.get(token, 0.0) > time.monotonic():
                return True
            self.refused_tokens.append(token)
            return False

    def _token(self, headers: Any, form: dict[str, str]) -> tuple[int, Any]:
        """RFC 6749 4.4: client credentials, by HTTP Basic (2.3.1: each part form-encoded) or in the form."""
        client = form.get("client_id"), form.get("client_secret")
        if self.client_auth == "basic" and (basic := headers.get("Authorization", "")).startswith("Basic "):
            pair = base64.b64decode(basic.removeprefix("Basic ")).decode().split(":", 1)
            client = unquote_plus(pair[0]), unquote_plus(pair[-1])
        if client != ("test-client", OAUTH2_SECRET) or form.get("grant_type") != "client_credentials":
            return 401, {"error": "invalid_client"}
        token = f"token-{len(self.tokens)}-{random.randrange(10**9)}"
        with self._lock:
            self.tokens[token] = time.monotonic() + (self.token_lifetime_secs or 0.0)
        expires_in = (self.token_lifetime_secs or 0.0) * 1.5
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}

    def _answer(
        self, query: dict[str, str], headers: Any, posted: dict[str, Any] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        if (
            any(headers.get(name) != value for name, value in self.required_headers.items())
            or any(query.get(name) != value for name, value in self.required_query.items())
            or not self._authorized(headers)
        ):
            return 401, {"error": "unauthorized"}, {}
        parsed = self._start_and_limit(query) if posted is None else self._posted_start_and_limit(posted)
        if isinstance(parsed, str) or parsed[0] < 0:
            return 400, {"error": parsed if isinstance(parsed, str) else "a position is required"}, {}
        start, limit = parsed
        with self._lock:
            pending = self.faults.get(start)
            status = pending.pop(0) if pending else 200
            self.requests.append((start, limit, status))
        time.sleep(self.latency_secs + self.slow_pages.get(start, 0.0))
        self.answered.append((start, time.monotonic()))
        if status != 200:
            return status, {"error": "injected fault", "error_description": self.fault_description}, {}
        with self._lock:
            pending_errors = self.graphql_errors.get(start)
            graphql_error = pending_errors.pop(0) if pending_errors else None
        if start >= self.total > 0:
            if self.past_the_end in ("404", "416"):
                return int(self.past_the_end), {"error": "no such page"}, {}
            if self.past_the_end == "repeat":
                start = (self.total - 1) // limit * limit
        if posted is not None:
            return 200, self._posted_page(start, limit, posted, graphql_error), {}
        return (200, *self._page(start, limit, query, headers))

    def _posted_start_and_limit(self, posted: dict[str, Any]) -> tuple[int, int]:
        variables = posted.get("variables") or {}
        if self.style == "graphqlPage":
            limit = variables["perPage"]
            start = (variables["page"] - 1) * limit
        elif self.style == "graphqlRelay":
            limit, after = variables["first"], variables.get("after")
            start = int(after.removeprefix("c")) if after else 0
        else:  # searchAfter: the last hit's sort values, [id, name]
            limit, after = posted["size"], posted.get("search_after")
            start = after[0] + 1 if after else 0
        return (0 if self.ignore_position else start), min(limit, self.max_page_size or limit)

    def _posted_page(self, start: int, limit: int, posted: dict[str, Any], graphql_error: str | None) -> Any:
        after = min(start + limit, self.total)
        if self.style == "searchAfter":
            hits = [source_item_in(self.style, index) for index in range(start, after)]
            return {"hits": {"total": {"value": self.total}, "hits": hits}}
        from graphql import build_schema, graphql_sync  # noqa: PLC0415 - a test-only dependency, for this kind

        items, more = self.page_items(start, limit), after < self.total

        class Root:  # graphql-core calls a root value's methods as the resolvers of the query's fields
            def items(self, _info: Any, **_args: Any) -> Any:
                if graphql_error == "error":
                    raise ValueError("items are not available right now")
                return items

            def connection(self, info: Any, **_args: Any) -> Any:
                page_info: Any = {"hasNextPage": more, "endCursor": f"c{after}" if items else None}
                if graphql_error == "cursorNull":
                    page_info["endCursor"] = None
                elif graphql_error == "cursorFailed":
                    page_info = FailingCursor(more)
                return {"nodes": self.items(info), "pageInfo": page_info}

            def note(self, _info: Any) -> Any:
                raise ValueError("note is deprecated")

        class FailingCursor:  # pageInfo whose nullable endCursor's resolver fails: null, with an error
            def __init__(self, more: bool) -> None:
                self.hasNextPage = more  # the GraphQL field's name

            def endCursor(self, _info: Any) -> Any:  # the GraphQL field's name
                raise ValueError("endCursor is not available right now")

        query = posted["query"]
        if graphql_error == "partial":  # one more field, which fails: the data comes with an error
            query = query.rstrip().removesuffix("}") + " note }"
        schema = build_schema(GRAPHQL_SCHEMA)
        return graphql_sync(schema, query, root_value=Root(), variable_values=posted.get("variables")).formatted

    def _page(self, start: int, limit: int, query: dict[str, str], headers: Any) -> tuple[Any, dict[str, str]]:
        echo = None
        if self.echo_request:
            link = {"self": {"href": f"{self.url}?{urlencode(query)}"}}
            echo = {"_links": link, "caller": headers.get("Authorization", "")}
        items, after = self.page_items(start, limit, echo), min(start + limit, self.total)
        more = after < self.total
        if self.style in ("offset", "page"):
            return self.page_body(start, limit, echo), {}
        if self.style == "cursor":
            next_cursor = f"c{self.cursor_loop.get(after, after)}" if more else None
            return {"data": items, "meta": {"next_cursor": next_cursor}}, {}
        if self.style == "cursorItem":
            return {"data": items, "has_more": more}, {}
        # Next URLs keep every query parameter of the request, credentials included (as GitHub's do).
        next_query = urlencode({**query, "start": after, **self.next_query})
        if self.style == "nextUrl":
            where = f"http://{self.next_host}:{self.port}" if self.next_host else ""
            return {"data": items, "links": {"next": f"{where}/items?{next_query}" if more else None}}, {}
        link = f'<{self.url}?{next_query}>; rel="next", ' if more else ""
        return items, {"Link": link + f'<{self.url}?{urlencode({**query, "start": 0})}>; rel="first"'}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if self._redirected(""):
                    return
                if parts.path != "/items":
                    status, body, headers = 404, {"error": "not found"}, {}
                else:
                    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
                    status, body, headers = source._answer(query, self.headers)
                self._send(status, body, headers)

            def do_POST(self) -> None:
                sent = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                path, headers = urlsplit(self.path).path, {}
                if self._redirected(sent):
                    return
                if path == "/token":
                    form = {name: values[0] for name, values in parse_qs(sent).items()}
                    status, body = source._token(self.headers, form)
                elif path in ("/graphql", "/items/_search"):
                    status, body, headers = source._answer({}, self.headers, posted=json.loads(sent))
                else:
                    status, body = 404, {"error": "not found"}
                self._send(status, body, headers)

            def _redirected(self, body: str) -> bool:
                """Record the request; answer it with a redirect if its path is one of `redirects`."""
                parts = urlsplit(self.path)
                headers = {name.lower(): value for name, value in self.headers.items()}
                source.received.append(Received(self.command, self.path, headers, body))
                if parts.path not in source.redirects:
                    return False
                status, location = source.redirects[parts.path]
                self._send(status, {}, {"Location": location + (f"?{parts.query}" if parts.query else "")})
                return True

            def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
                if status == 429 and source.retry_after is not None:
                    headers = {**headers, "Retry-After": source.retry_after}
                send_payload(self, status, json.dumps(body).encode(), "application/json", headers)

            def log_message(self, *_args: object) -> None:  # keep test output readable
                pass

        return Handler


class Storage:
    """The Actor's local storage folder: input, state record and default dataset, read as files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = root / "key_value_stores" / "default"
        self.dataset = root / "datasets" / "default"

    def write_record(self, key: str, text: str, content_type: str = "application/json") -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        (self.store / key).write_text(text)
        metadata = {"key": key, "content_type": content_type, "size": len(text.encode())}
        (self.store / f"{key}.__metadata__.json").write_text(json.dumps(metadata))

    def write_input(self, actor_input: dict[str, Any]) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        (self.store / "INPUT.json").write_text(json.dumps(actor_input))

    def state(self) -> Any:
        path = self.store / STATE_KEY
        return json.loads(path.read_text()) if path.exists() else None

    def progress(self) -> dict[str, Any]:
        """Where the saved run stands: the state record's position, counts and end mark."""
        state = self.state()
        return {key: state[key] for key in ("offset", "pushed", "pending", "finished")}

    def item_count(self) -> int:
        path = self.dataset / "__metadata__.json"
        return json.loads(path.read_text())["item_count"] if path.exists() else 0

    def item(self, index: int) -> Any:
        return json.loads((self.dataset / f"{index + 1:09d}.json").read_text())

    def items(self) -> list[Any]:
        """The dataset's items in order (files past item_count are orphans of a crash, not items)."""
        return [self.item(index) for index in range(self.item_count())]

    def state_text(self) -> str:
        return (self.store / STATE_KEY).read_text()

    def snapshot(self) -> dict[str, bytes]:
        """Every record and item file and its bytes (not the __metadata__ files, whose access times change
        on every open), with the item count: to prove that a failed run changed nothing."""
        files = {str(p.relative_to(self.root)): p.read_bytes() for p in sorted(self.root.rglob("*")) if p.is_file()}
        kept = {name: data for name, data in files.items() if not name.endswith("/__metadata__.json")}
        return {**kept, "item_count": str(self.item_count()).encode()}


# Where crawlee finds a browser (the browser kind): kept from the tests' environment (see conftest.py).
BROWSER_VARIABLES = ("CRAWLEE_DEFAULT_BROWSER_PATH", "APIFY_DEFAULT_BROWSER_PATH", "CRAWLEE_DISABLE_BROWSER_SANDBOX")


def actor_env(storage: Storage, **extra: str) -> dict[str, str]:
    """The environment of a local run that resumes from `storage` (purge on start would delete the state)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("APIFY_", "ACTOR_", "CRAWLEE_")) or k in BROWSER_VARIABLES
    }
    env.update(APIFY_LOCAL_STORAGE_DIR=str(storage.root), APIFY_PURGE_ON_START="0", PYTHONUNBUFFERED="1")
    # A process that aborts (SIGABRT: a native library giving up) writes every thread's Python stack to its log.
    env.update(PYTHONFAULTHANDLER="1")
    env.update(extra)
    return env


def start_actor(
    storage: Storage, *, entry: str | None = None, log_path: Path | None = None, **env: str
) -> subprocess.Popen:
    """Start `python -m <package>` (or a test entry script) from the project root; output goes to log_path."""
    environment = actor_env(storage, **env)
    if entry is None and (ROUTES_VARIABLE in environment or TRANSFORM_VARIABLE in environment):
        entry = TEST_ENTRY
    command = [sys.executable, entry] if entry else [sys.executable, "-m", package_name()]
    log = open(log_path or storage.root.parent / "actor.log", "ab")  # noqa: SIM115 - the child writes to it
    try:
        return subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=log, stderr=log)
    finally:
        log.close()


class Patience:
    """How long to wait before taking a wait for a hang, counted in the time this machine gives a process: a second
    of wall time counts in full on an idle machine and as cores / load average on a loaded one (a CI runner, the
    tests' own workers, other work), where everything is slower but no more hung."""

    def __init__(self, secs: float) -> None:
        self.secs, self.left, self._at = secs, secs, time.monotonic()

    def spent(self) -> bool:
        now = time.monotonic()
        share = min(1.0, (os.cpu_count() or 1) / max(os.getloadavg()[0], 0.01))
        self.left -= (now - self._at) * share
        self._at = now
        return self.left <= 0


def run_actor(storage: Storage, *, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run the Actor to its end (killed if it has not ended within `timeout` s of Patience); return its exit code
    and output."""
    log_path = storage.root.parent / f"actor-{time.monotonic_ns()}.log"
    process = start_actor(storage, log_path=log_path, **kwargs)
    patience = Patience(timeout)
    try:
        while process.poll() is None:
            if patience.spent():
                raise TimeoutError(f"the Actor did not end within {timeout} s of Patience (harness.Patience)")
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, log_path.read_text(errors="replace"), "")


def kill_while_working(storage: Storage, chance: random.Random, within_secs: float) -> bool:
    """Start the Actor and kill it once it lands a new item (see `kill_once_working`); whether it was killed."""
    landed_before = storage.item_count()
    process = start_actor(storage)
    return kill_once_working(process, lambda: storage.item_count() != landed_before, chance, within_secs)


def kill_once_working(
    process: subprocess.Popen, working: Callable[[], bool], chance: random.Random, within_secs: float
) -> bool:
    """Wait until the Actor's `process` is `working()` (new work landed: so that a slow start-up on a busy
    machine does not make it a kill before any work; a minute of Patience at most), then SIGKILL it at a random moment
    within `within_secs`, unless it ends first. Returns whether it was killed."""
    patience = Patience(60)
    while not working() and process.poll() is None and not patience.spent():
        time.sleep(0.01)
    try:
        process.wait(timeout=chance.uniform(0, within_secs))
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True
    return False


def refusal_of(storage: Storage, actor_input: dict[str, Any]) -> str:
    """Run the Actor on bad input: it must fail with one `Invalid input:` line and write nothing; that line."""
    storage.write_input(actor_input)
    result = run_actor(storage)
    assert result.returncode == 1
    (line,) = [line for line in result.stdout.splitlines() if "Invalid input:" in line]
    assert storage.item_count() == 0
    assert storage.state() is None
    return line


def assert_model_matches_schema(model: Any, schema: dict[str, Any], name: str) -> None:
    """The input model (pydantic) and the input schema Apify Console shows describe field `name` alike."""
    described = model.model_json_schema(by_alias=True)
    assert set(described["properties"]) == set(schema["properties"])
    assert set(described["required"]) == set(schema["required"])
    spec, field = schema["properties"][name], described["properties"][name]
    if "type" in field:  # an optional field is anyOf [its type, null]
        assert field["type"] == spec["type"]
    for rule in ("default", "minimum", "maximum", "minLength", "pattern", "enum"):
        assert field.get(rule) == spec.get(rule), rule


def duplicates_and_missing(items: list[Any], expected: list[Any]) -> tuple[int, int]:
    """How many items are there more often than expected, and how many expected ones are not there."""
    have = Counter(json.dumps(item, sort_keys=True) for item in items)
    want = Counter(json.dumps(item, sort_keys=True) for item in expected)
    return sum((have - want).values()), sum((want - have).values())
