"""A small stand-in for the Apify platform's side of one run, on 127.0.0.1, to see migrations before production.

- events: a websocket server that sends `{"name": ..., "data": ...}` messages, as the platform does;
- API: an HTTP server answering the calls a run makes (`GET`/`PUT /v2/actor-runs/{id}`,
  `POST /v2/actor-runs/{id}/reboot`, `POST /v2/actor-runs/{id}/charge`) and recording them, with the state
  record as it was at each call;
- storage API: the default dataset and key-value store as the SDK's own Apify storage client reaches them
  (`/v2/datasets/default...`, `/v2/key-value-stores/default...`), kept in the local storage folder's layout
  so that tests read them as files. The platform's ways are switchable (`PlatformWays`): a dataset item count
  that lags pushes, pushes whose response is lost after the items were stored, pushes refused with 5xx;
- supervisor: starts the Actor with APIFY_IS_AT_HOME=1 (the Actor's code unchanged, all its storage through
  the API) and, like the platform, kills it after a reboot request, or when the migration's time is up, then
  starts it again on the same storage.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import brotli
from apify.storage_clients._apify._utils import unique_key_to_request_id
from harness import Storage, start_actor
from websockets.asyncio.server import ServerConnection, serve

RUN_ID = "standInRun0000001"
AT_HOME_ENTRY = "tests/at_home.py"


def run_object(status: str = "RUNNING", status_message: str | None = None) -> dict[str, Any]:
    """The run as GET /v2/actor-runs/{id} returns it (the fields apify-client requires)."""
    return {
        "id": RUN_ID,
        "actId": "standInActor00001",
        "userId": "standInUser000001",
        "startedAt": "2026-01-01T00:00:00.000Z",
        "status": status,
        "statusMessage": status_message,
        "meta": {"origin": "DEVELOPMENT"},
        "stats": {"restartCount": 0, "resurrectCount": 0, "computeUnits": 0},
        "options": {"build": "latest", "timeoutSecs": 3600, "memoryMbytes": 1024, "diskMbytes": 2048},
        "buildId": "standInBuild00001",
        "defaultKeyValueStoreId": "default",
        "defaultDatasetId": "default",
        "defaultRequestQueueId": "default",
    }


@dataclass
class ApiCall:
    method: str
    path: str
    body: Any
    at: float  # time.monotonic()
    state: Any  # the state record when the call arrived
    item_count: int  # the dataset's item count when the call arrived


@dataclass
class Migration:
    sent_at: float
    reboot_after_secs: float | None = None  # None: no reboot was asked
    state_at_reboot: Any = None
    item_count_at_reboot: int | None = None
    exit_code_before_kill: int | None = None  # set if the Actor ended by itself while migrating


@dataclass
class PlatformWays:
    """How the stand-in's storage API behaves, as the real one can."""

    item_count_lag_secs: float = 0.0  # a dataset's itemCount shows pushes this late (items show at once)
    storage_latency_secs: float = 0.0  # every storage call waits this long before it is answered (a round trip)
    lost_push_responses: set[int] = field(default_factory=set)  # these pushes (1 = first) store, then answer 502
    refused_pushes: set[int] = field(default_factory=set)  # these pushes store nothing and answer 503
    rejected_pushes: set[int] = field(default_factory=set)  # these pushes store nothing and answer 400
    slow_pushes: dict[int, float] = field(default_factory=dict)  # these pushes are answered this many s late
    # The first push of more than N items stores only N, and the Actor is killed then (a push cut by a crash).
    cut_push_after: int | None = None
    refused_marks: set[int] = field(default_factory=set)  # these marks of a request as handled (1 = first): 400


class StorageApi:
    """The default dataset and key-value store behind the API, in the storage folder's own file layout, and
    the default request queue, kept here (it outlives the Actor's restarts as the platform's does)."""

    def __init__(self, storage: Storage, ways: PlatformWays) -> None:
        self.storage, self.ways = storage, ways
        self.pushes = 0
        self.items_stored = 0  # by all pushes
        self.pushed_sizes: list[int] = []  # items in each push, as it came
        self.marks = 0  # requests marked handled (PUT with handledAt)
        self.on_cut: Any = None  # called to kill the Actor when a push is cut
        self.requests: dict[str, dict[str, Any]] = {}  # request queue: id -> request, in queue order
        self._counts: list[tuple[float, int]] = [(0.0, storage.item_count())]  # (time, count) after each push
        self._lock = threading.Lock()

    def answer(self, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> tuple[int, Any, dict]:
        parts = path.strip("/").split("/")  # v2, datasets|key-value-stores|request-queues, id, ...
        time.sleep(self.ways.storage_latency_secs)
        if parts[1] == "datasets":
            return self._dataset(method, parts[3:], query, raw)
        if parts[1] == "request-queues":
            with self._lock:
                return self._request_queue(method, parts[3:], query, raw)
        return self._key_value_store(method, parts[3:], raw)

    def _request_queue(  # noqa: PLR0911 - one answer per endpoint
        self, method: str, rest: list[str], query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, Any, dict]:
        forefront = query.get("forefront", ["false"])[0] == "true"
        if not rest:
            handled = sum(1 for request in self.requests.values() if request.get("handledAt"))
            data = {
                **_storage_metadata(),
                "totalRequestCount": len(self.requests),
                "handledRequestCount": handled,
                "pendingRequestCount": len(self.requests) - handled,
                "hadMultipleClients": False,
                "consoleUrl": "https://console.apify.com/storage/request-queues/default",
            }
            return 200, {"data": data}, {}
        if rest == ["requests", "batch"]:
            processed = [self._put_request(request, forefront, adding=True) for request in json.loads(raw)]
            return 201, {"data": {"processedRequests": processed, "unprocessedRequests": []}}, {}
        if rest == ["head"]:
            limit = int(query.get("limit", ["100"])[0])
            pending = [r for r in self.requests.values() if not r.get("handledAt")][:limit]
            items = [{k: r.get(k) for k in ("id", "uniqueKey", "url", "method", "retryCount")} for r in pending]
            data = {"limit": limit, "queueModifiedAt": _iso_now(), "hadMultipleClients": False, "items": items}
            return 200, {"data": data}, {}
        if rest == ["requests"]:
            limit = int(query.get("limit", ["1000"])[0])
            return 200, {"data": {"items": list(self.requests.values())[:limit], "limit": limit}}, {}
        request_id = unquote(rest[1])
        if method == "PUT":
            request = json.loads(raw)
            if request.get("handledAt"):
                self.marks += 1
                if self.marks in self.ways.refused_marks:
                    return 400, {"error": {"type": "invalid-input", "message": "stand-in: mark refused"}}, {}
            registered = self._put_request({**request, "id": request_id}, forefront, adding=False)
            return 200, {"data": {key: registered[key] for key in registered if key != "uniqueKey"}}, {}
        if request_id not in self.requests:
            return 404, {"error": {"type": "record-not-found", "message": f"no request {request_id}"}}, {}
        return 200, {"data": self.requests[request_id]}, {}

    def _put_request(self, request: dict[str, Any], forefront: bool, *, adding: bool) -> dict[str, Any]:
        request_id = request.get("id") or unique_key_to_request_id(request["uniqueKey"])
        known = self.requests.get(request_id)
        registered = {
            "requestId": request_id,
            "uniqueKey": request["uniqueKey"],
            "wasAlreadyPresent": known is not None,
            "wasAlreadyHandled": bool(known and known.get("handledAt")),
        }
        if known is None or not adding:  # adding never overwrites; an update does
            self.requests.pop(request_id, None)
            stored = {**request, "id": request_id}
            others = self.requests
            self.requests = {request_id: stored, **others} if forefront else {**others, request_id: stored}
        return registered

    def _dataset(  # noqa: PLR0911 - one answer per way of the platform
        self, method: str, rest: list[str], query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, Any, dict]:
        if not rest:
            count = self._lagging_item_count()
            data = {
                **_storage_metadata(),
                "itemCount": count,
                "cleanItemCount": count,
                "consoleUrl": "https://console.apify.com/storage/datasets/default",
            }
            return 200, {"data": data}, {}
        if method == "POST":
            items = json.loads(raw)
            items = items if isinstance(items, list) else [items]
            with self._lock:
                self.pushes += 1
                number = self.pushes
                self.pushed_sizes.append(len(items))
                if number in self.ways.refused_pushes:
                    return 503, {"error": {"type": "server-error", "message": "stand-in: push refused"}}, {}
                if number in self.ways.rejected_pushes:
                    return 400, {"error": {"type": "invalid-input", "message": "stand-in: push rejected"}}, {}
                if (cut := self.ways.cut_push_after) is not None and len(items) > cut:
                    self.ways.cut_push_after = None
                    self._append(items[:cut])
                    self.on_cut()
                    return 502, {"error": {"type": "bad-gateway", "message": "stand-in: cut"}}, {}
                self._append(items)
                if number in self.ways.lost_push_responses:
                    return 502, {"error": {"type": "bad-gateway", "message": "stand-in: response lost"}}, {}
            time.sleep(self.ways.slow_pushes.get(number, 0.0))
            return 201, {}, {}
        offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["999999999"])[0])
        count = self.storage.item_count()
        items = [self.storage.item(n) for n in range(offset, min(count, offset + limit))]
        headers = {
            "x-apify-pagination-total": str(self._lagging_item_count()),
            "x-apify-pagination-offset": str(offset),
            "x-apify-pagination-count": str(len(items)),
            "x-apify-pagination-limit": str(limit),
            "x-apify-pagination-desc": "false",
        }
        return 200, items, headers

    def _append(self, items: list[Any]) -> None:
        self.items_stored += len(items)
        count = self.storage.item_count()
        self.storage.dataset.mkdir(parents=True, exist_ok=True)
        for number, item in enumerate(items, start=count + 1):
            _write_atomically(self.storage.dataset / f"{number:09d}.json", json.dumps(item))
        _write_atomically(self.storage.dataset / "__metadata__.json", json.dumps({"item_count": count + len(items)}))
        self._counts.append((time.monotonic(), count + len(items)))

    def _lagging_item_count(self) -> int:
        seen_by = time.monotonic() - self.ways.item_count_lag_secs
        return max([count for at, count in self._counts if at <= seen_by] or [0])

    def _key_value_store(self, method: str, rest: list[str], raw: bytes) -> tuple[int, Any, dict]:
        if not rest:
            return 200, {"data": _storage_metadata()}, {}
        if rest[0] == "keys":
            keys = [{"key": path.name, "size": path.stat().st_size} for path in self._records()]
            return 200, {"data": {"items": keys, "count": len(keys), "limit": 1000, "isTruncated": False}}, {}
        key = unquote(rest[1])
        path = self.storage.store / key
        if key == "INPUT" and not path.exists():
            path = self.storage.store / "INPUT.json"  # where tests (and `apify run`) put the input
        if method == "PUT":
            self.storage.store.mkdir(parents=True, exist_ok=True)
            _write_atomically(self.storage.store / key, raw.decode())
            return 200, {}, {}
        if method == "DELETE":
            path.unlink(missing_ok=True)
            return 204, b"", {}
        if not path.exists():
            return 404, {"error": {"type": "record-not-found", "message": f"no record {key}"}}, {}
        return 200, path.read_bytes(), {"content-type": "application/json; charset=utf-8"}

    def _records(self) -> list[Path]:
        return sorted(p for p in self.storage.store.glob("*") if not p.name.endswith("__metadata__.json"))


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.replace(path)


def _storage_metadata() -> dict[str, Any]:
    """What every default storage's GET answers with, besides its counts."""
    now = _iso_now()
    return {"id": "default", "userId": "standInUser000001", "createdAt": now, "modifiedAt": now, "accessedAt": now}


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


@dataclass
class PlatformStandIn:
    storage: Storage
    env: dict[str, str] = field(default_factory=dict)
    ways: PlatformWays = field(default_factory=PlatformWays)
    calls: list[ApiCall] = field(default_factory=list)
    migrations: list[Migration] = field(default_factory=list)
    starts: int = 0
    exit_codes: list[int] = field(default_factory=list)

    async def __aenter__(self) -> PlatformStandIn:
        self._connections: set[ServerConnection] = set()
        self._connected = asyncio.Event()
        self._events = await serve(self._on_connection, "127.0.0.1", 0)
        self.storage_api = StorageApi(self.storage, self.ways)
        self.storage_api.on_cut = lambda: self.process.send_signal(signal.SIGKILL)
        self._api = ThreadingHTTPServer(("127.0.0.1", 0), self._api_handler())
        self._api.daemon_threads = True
        threading.Thread(target=self._api.serve_forever, daemon=True).start()
        self.process: subprocess.Popen | None = None
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._events.close()
        await self._events.wait_closed()
        self._api.shutdown()
        self._api.server_close()

    # --- the run's environment on the platform ------------------------------------------------------------

    def run_env(self) -> dict[str, str]:
        api = f"http://127.0.0.1:{self._api.server_address[1]}"
        events_port = self._events.sockets[0].getsockname()[1]
        return {
            "APIFY_IS_AT_HOME": "1",
            "ACTOR_RUN_ID": RUN_ID,
            "APIFY_TOKEN": "stand-in-token",
            "APIFY_API_BASE_URL": api,
            "APIFY_API_PUBLIC_BASE_URL": api,
            "ACTOR_EVENTS_WEBSOCKET_URL": f"ws://127.0.0.1:{events_port}",
            "ACTOR_DEFAULT_DATASET_ID": "default",
            "ACTOR_DEFAULT_KEY_VALUE_STORE_ID": "default",
            "ACTOR_DEFAULT_REQUEST_QUEUE_ID": "default",
            # Without these the charging manager asks the API for the run's pricing.
            "APIFY_ACTOR_PRICING_INFO": '{"pricingModel": "FREE"}',
            "APIFY_CHARGED_ACTOR_EVENT_COUNTS": '{"actor-start": 0}',
            **self.env,
        }

    # --- supervisor ---------------------------------------------------------------------------------------

    async def start(self, entry: str = AT_HOME_ENTRY, **env: str) -> None:
        """Start (or, after a kill, restart) the Actor on the same storage; wait until it listens for events."""
        self._connected.clear()
        self.process = start_actor(self.storage, entry=entry, **{**self.run_env(), **env})
        self.starts += 1
        self._reaped = False
        while not self._connected.is_set():
            if self.process.poll() is not None:
                self._reap()
                return  # it ended before connecting (a finished run, or a failure): the caller looks at why
            await asyncio.sleep(0.02)

    async def wait_for_exit(self, within: float = 60) -> int:
        deadline = time.monotonic() + within
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Actor did not end within {within} s")
            await asyncio.sleep(0.02)
        self._reap()
        if self.process.returncode == -signal.SIGABRT:  # not a way the platform ends a run: show why it happened
            log = (self.storage.root.parent / "actor.log").read_text(errors="replace")
            raise AssertionError(f"the Actor aborted (SIGABRT); the end of its log:\n{log[-6000:]}")
        return self.process.returncode

    async def wait_for_items(self, count: int, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while self.storage.item_count() < count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise TimeoutError(f"the dataset did not reach {count} items (it has {self.storage.item_count()})")
            await asyncio.sleep(0.01)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._reap()

    def _reap(self) -> None:
        """Record the exit code of the current process, once."""
        if not self._reaped:
            self._reaped = True
            self.exit_codes.append(self.process.returncode)

    async def migrate(self, time_remaining_secs: float = 5, *, restart: bool = True) -> Migration:
        """Send `migrating`, then do what the platform does: stop the container once the Actor asks for a
        reboot or the time is up, and start it again on the same storage."""
        reboots_before = len(self.reboot_calls())
        migration = Migration(sent_at=time.monotonic())
        self.migrations.append(migration)
        await self.send("migrating", {"timeRemainingSecs": time_remaining_secs})
        deadline = migration.sent_at + time_remaining_secs
        while time.monotonic() < deadline:
            if len(self.reboot_calls()) > reboots_before:
                call = self.reboot_calls()[reboots_before]
                migration.reboot_after_secs = call.at - migration.sent_at
                migration.state_at_reboot, migration.item_count_at_reboot = call.state, call.item_count
                break
            if self.process.poll() is not None:
                migration.exit_code_before_kill = self.process.returncode
                break
            await asyncio.sleep(0.01)
        if self.process.poll() is None:
            self.kill()
        self._reap()
        if restart:
            await self.start()
        return migration

    async def send(self, name: str, data: dict[str, Any] | None = None) -> None:
        message = json.dumps({"name": name, "data": data or {}})
        for connection in list(self._connections):
            await connection.send(message)

    def reboot_calls(self) -> list[ApiCall]:
        return [call for call in self.calls if call.method == "POST" and call.path.endswith("/reboot")]

    def status_messages(self) -> list[tuple[float, str, bool]]:
        """(time, message, terminal) of every status message the Actor set."""
        return [
            (call.at, call.body["statusMessage"], bool(call.body.get("isStatusMessageTerminal")))
            for call in self.calls
            if call.method == "PUT" and isinstance(call.body, dict) and "statusMessage" in call.body
        ]

    # --- events websocket ---------------------------------------------------------------------------------

    async def _on_connection(self, connection: ServerConnection) -> None:
        self._connections.add(connection)
        self._connected.set()
        try:
            await connection.wait_closed()
        finally:
            self._connections.discard(connection)

    # --- API ----------------------------------------------------------------------------------------------

    def _api_handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                raw = {"br": brotli.decompress, "gzip": gzip.decompress}.get(
                    self.headers.get("Content-Encoding", ""), bytes
                )(raw)
                url = urlsplit(self.path)
                path, headers = url.path, {"content-type": "application/json"}
                if path.startswith(("/v2/datasets/", "/v2/key-value-stores/", "/v2/request-queues/")):
                    status, payload, extra = standin.storage_api.answer(method, path, parse_qs(url.query), raw)
                    headers.update(extra)
                else:
                    body = json.loads(raw) if raw.strip() else None
                    at, state, count = time.monotonic(), _read_state(standin.storage), standin.storage.item_count()
                    standin.calls.append(ApiCall(method, path, body, at, state, count))
                    if path.startswith(f"/v2/actor-runs/{RUN_ID}"):
                        status, payload = 200, {"data": run_object(status_message=(body or {}).get("statusMessage"))}
                    else:
                        status, payload = 404, {"error": {"type": "record-not-found", "message": f"{method} {path}"}}
                data = (
                    payload if isinstance(payload, bytes) else b"" if payload is None else json.dumps(payload).encode()
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_PUT(self) -> None:
                self._answer("PUT")

            def do_POST(self) -> None:
                self._answer("POST")

            def do_HEAD(self) -> None:
                self._answer("HEAD")

            def do_DELETE(self) -> None:
                self._answer("DELETE")

            def log_message(self, *_args: object) -> None:
                pass

        return Handler


def _read_state(storage: Storage) -> Any:
    try:
        return storage.state()
    except ValueError:  # caught mid-write: not a JSON document yet
        return "unreadable"
