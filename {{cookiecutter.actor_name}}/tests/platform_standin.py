"""A small stand-in for the Apify platform, on 127.0.0.1, to see migrations before production.

- events: a websocket server that sends `{"name": ..., "data": ...}` messages to each run, as the platform does;
- API: an HTTP server answering the calls runs make (`GET`/`PUT /v2/actor-runs/{id}`,
  `POST /v2/actor-runs/{id}/reboot`, `POST /v2/actor-runs/{id}/charge`) and recording the main run's, with its
  state record as it was at each call;
- runs API: `POST /v2/acts/{id}/runs` (apify-client 3 says `/v2/actors/...`) starts another run of the same
  Actor (its own process and default storages), `GET /v2/actor-runs/{id}?waitForFinish=N`, `POST .../abort`
  (`gracefully`: the `aborting` event, then a kill), `POST .../resurrect` (the same storages, a new process);
- scheduled runs: `start_scheduled_run` starts a run as a schedule does (the same input each time, its own run
  ID and fresh default storages), one after another or two at once; `kill_run` (for good: FAILED),
  `migrate_run`, `abort_run`, `wait_for_run`, `status_of`; `GET /v2/actor-runs/{id}` answers every run's true
  status, also of runs that ended long ago;
- storage API: each run's default dataset, key-value store and request queue, reachable by ID from any run, as
  the SDK's own Apify storage client reaches them; named storages (`POST /v2/datasets?name=...`, the same for
  key-value stores and request queues: get or create by name, a stable ID), shared by all runs and kept after
  them, in the main storage folder under their name (`datasets/<name>`, `key_value_stores/<name>`,
  `request_queues/<name>`: `named_storage(name)` reads them); datasets, stores (with each record's content
  type) and named queues kept in the local storage folder's layout so that tests read them as files; unnamed
  datasets (`POST /v2/datasets` without a name, what the SDK does for an alias), reachable by ID from any run and
  kept in the storage folder of the run that created them (`datasets/<its ID>`: `created_datasets(run_id)` reads
  them), with that run's platform ways (a cut push kills it). The
  request queue has the shared-access calls (list and lock the head, prolong and delete a lock, unlock a
  client's requests; locks expire, `clientKey` owns them). The platform's ways are switchable
  (`PlatformWays`): a dataset item count that lags pushes, pushes whose response is lost after the items were
  stored, pushes refused with 5xx, a share of all storage calls refused or answered late, queue locks that
  expire early;
- pricing: the Actor's (`pricing`: pay-per-event prices, or free), given to every run it starts; as the platform,
  it charges each item written to a run's default dataset as one `apify-default-dataset-item` event, however it is
  written (`charged_items`), and tells a restarted run what it was charged so far. A caller is known by its
  token: each run has its own;
- supervisor: starts the Actor with APIFY_IS_AT_HOME=1 (the Actor's code unchanged, all its storage through
  the API) and, like the platform, kills a run after a reboot request, or when the migration's time is up, then
  starts it again on the same storage; a run that exits by itself ends SUCCEEDED (exit 0) or FAILED.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import brotli
from apify.storage_clients._apify._utils import unique_key_to_request_id
from crawlee.storage_clients._file_system import FileSystemRequestQueueClient
from harness import LoopbackServer, Patience, Storage, start_actor
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

ACTOR_ID = "standInActor00001"
RUN_ID = "standInRun0000001"  # the main run: the one a test starts; runs it starts get other IDs
AT_HOME_ENTRY = "tests/at_home.py"
TERMINAL = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED-OUT")
MAX_WAIT_FOR_FINISH_SECS = 60  # as the API caps `waitForFinish`
DATASET_ITEM_EVENT = "apify-default-dataset-item"  # charged by the platform for each item of a run's default dataset
TOKEN_PREFIX = "standInToken-"  # a run's token: this and its run ID (the stand-in knows a caller by it)


def storage_ids(run_id: str) -> dict[str, str]:
    """The IDs of a run's default storages (the stand-in knows each storage by its ID, as the API does)."""
    return {"dataset": f"{run_id}Dataset", "key-value-store": f"{run_id}Store", "request-queue": f"{run_id}Queue"}


# The storage kinds as the API names them in paths, and their folders in the local storage layout.
STORAGE_FOLDERS = {"datasets": "datasets", "key-value-stores": "key_value_stores", "request-queues": "request_queues"}


def named_storage_ids(name: str) -> dict[str, str]:
    """The IDs of the named storages of one name (stable: the same name always has the same IDs)."""
    return {
        "dataset": f"named-dataset-{name}",
        "key-value-store": f"named-store-{name}",
        "request-queue": f"named-queue-{name}",
    }


def named_storage(root: Path, name: str) -> Storage:
    """The named dataset and key-value store of this name in the storage folder `root`, read as files."""
    storage = Storage(root)
    storage.dataset, storage.store = root / "datasets" / name, root / "key_value_stores" / name
    return storage


def run_object(
    status: str = "RUNNING", status_message: str | None = None, *, run_id: str = RUN_ID, restarts: int = 0
) -> dict[str, Any]:
    """The run as GET /v2/actor-runs/{id} returns it (the fields apify-client requires)."""
    ids = storage_ids(run_id)
    return {
        "id": run_id,
        "actId": ACTOR_ID,
        "userId": "standInUser000001",
        "startedAt": "2026-01-01T00:00:00.000Z",
        "status": status,
        "statusMessage": status_message,
        "meta": {"origin": "DEVELOPMENT"},
        "stats": {"restartCount": restarts, "resurrectCount": 0, "computeUnits": 0},
        "options": {"build": "latest", "timeoutSecs": 3600, "memoryMbytes": 1024, "diskMbytes": 2048},
        "buildId": "standInBuild00001",
        "buildNumber": "0.0.1",
        "defaultKeyValueStoreId": ids["key-value-store"],
        "defaultDatasetId": ids["dataset"],
        "defaultRequestQueueId": ids["request-queue"],
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
    # The main run is killed as its Nth start of another run is answered: the run is started, its ID never heard.
    kill_after_run_start: int | None = None
    # Worker w's first push of more than N items stores only N, and that worker is killed then: (w, N).
    cut_worker_push_after: tuple[int, int] | None = None
    refused_share: float = 0.0  # this share of storage calls (at random) is answered 503, having done nothing
    slow_share: float = 0.0  # this share of storage calls (at random) is answered slow_secs late
    slow_secs: float = 0.0
    max_lock_secs: int | None = None  # request-queue locks last at most this long, whatever the client asked
    chance: random.Random = field(default_factory=lambda: random.Random(0))  # draws the shares' calls


class StorageApi:
    """One run's default dataset and key-value store behind the API, in the storage folder's own file layout, and
    its default request queue, kept here (it outlives the run's restarts as the platform's does). Or an unnamed
    dataset (`unnamed_dataset_id`). Or, with a `name`, the named dataset, store and queue of that name (`storage`
    from `named_storage`), the queue's requests also kept as files (`request_queues/<name>/<file name of the unique
    key>.json`, as crawlee's file-system client names them), read back in the order they were last written."""

    def __init__(
        self,
        storage: Storage,
        ways: PlatformWays,
        run_id: str = RUN_ID,
        *,
        name: str | None = None,
        unnamed_dataset_id: str | None = None,
    ) -> None:
        self.storage, self.ways, self.name = storage, ways, name
        self.ids = named_storage_ids(name) if name else storage_ids(run_id)
        if unnamed_dataset_id is not None:  # an unnamed dataset (a store and a queue are never created unnamed here)
            self.ids = {"dataset": unnamed_dataset_id}
        self.queue_folder = storage.root / "request_queues" / name if name else None
        self.pushes = 0
        self.items_stored = 0  # by all pushes
        self.pushed_sizes: list[int] = []  # items in each push, as it came
        self.marks = 0  # requests marked handled (PUT with handledAt)
        self.on_cut: Any = None  # called to kill the Actor when a push is cut
        self.requests: dict[str, dict[str, Any]] = {}  # request queue: id -> request, in queue order
        if self.queue_folder and self.queue_folder.exists():  # a named queue that an earlier stand-in kept
            files = sorted(self.queue_folder.glob("*.json"), key=lambda path: path.stat().st_mtime_ns)
            kept = [json.loads(path.read_text()) for path in files if path.name != "__metadata__.json"]
            self.requests = {request["id"]: request for request in kept}
        self.locks: dict[str, tuple[str, float]] = {}  # request id -> (clientKey, time.time() it expires)
        self.client_keys: set[str] = set()  # the clients that have used the queue
        self._counts: list[tuple[float, int]] = [(0.0, storage.item_count())]  # (time, count) after each push
        self._lock = threading.Lock()
        # A push or record write sent by a run killed since is done all the same: its restart (seconds later on the
        # platform) waits for it, or the restarted run could read its storages before the write lands.
        self.writes_in_flight = 0
        self._in_flight = threading.Lock()

    def wait_for_writes_in_flight(self, within: float = 30) -> None:
        patience = Patience(within)
        while self.writes_in_flight and not patience.spent():
            time.sleep(0.01)

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], raw: bytes, content_type: str | None = None
    ) -> tuple[int, Any, dict]:
        parts = path.strip("/").split("/")  # v2, datasets|key-value-stores|request-queues, id, ...
        writing = parts[1] != "request-queues" and method in ("POST", "PUT", "DELETE")
        if writing:
            with self._in_flight:
                self.writes_in_flight += 1
        try:
            return self._answer(method, parts, query, raw, content_type)
        finally:
            if writing:
                with self._in_flight:
                    self.writes_in_flight -= 1

    def _answer(
        self, method: str, parts: list[str], query: dict[str, list[str]], raw: bytes, content_type: str | None
    ) -> tuple[int, Any, dict]:
        time.sleep(self.ways.storage_latency_secs)
        if self.ways.slow_share and self.ways.chance.random() < self.ways.slow_share:
            time.sleep(self.ways.slow_secs)
        if self.ways.refused_share and self.ways.chance.random() < self.ways.refused_share:
            return 503, {"error": {"type": "server-error", "message": "stand-in: storage call refused"}}, {}
        if parts[1] == "datasets":
            return self._dataset(method, parts[3:], query, raw)
        if parts[1] == "request-queues":
            with self._lock:
                return self._request_queue(method, parts[3:], query, raw)
        return self._key_value_store(method, parts[3:], raw, content_type)

    def _request_queue(  # noqa: PLR0911 - one answer per endpoint
        self, method: str, rest: list[str], query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, Any, dict]:
        forefront = query.get("forefront", ["false"])[0] == "true"
        client = query.get("clientKey", [""])[0]
        if client:
            self.client_keys.add(client)
        if not rest:
            handled = sum(1 for request in self.requests.values() if request.get("handledAt"))
            data = {
                **self._metadata("request-queue"),
                "totalRequestCount": len(self.requests),
                "handledRequestCount": handled,
                "pendingRequestCount": len(self.requests) - handled,
                "hadMultipleClients": len(self.client_keys) > 1,
            }
            return 200, {"data": data}, {}
        if rest == ["requests", "batch"]:
            processed = [self._put_request(request, forefront, adding=True) for request in json.loads(raw)]
            return 201, {"data": {"processedRequests": processed, "unprocessedRequests": []}}, {}
        if rest[0] == "head":  # GET head: the first pending requests not locked; POST head/lock: lock them too
            limit = int(query.get("limit", ["100"])[0])
            pending = [r for r in self.requests.values() if not r.get("handledAt") and not self._locked(r["id"])]
            items = [{k: r.get(k) for k in ("id", "uniqueKey", "url", "method", "retryCount")} for r in pending[:limit]]
            data = {"limit": limit, "queueModifiedAt": _iso_now(), "hadMultipleClients": len(self.client_keys) > 1}
            if rest == ["head", "lock"]:
                expires = time.time() + self._lock_secs(query)
                for item in items:
                    self.locks[item["id"]] = (client, expires)
                    item["lockExpiresAt"] = _iso(expires)
                has_locked = any(self._locked(r["id"]) for r in self.requests.values() if not r.get("handledAt"))
                data.update(clientKey=client, lockSecs=int(query["lockSecs"][0]), queueHasLockedRequests=has_locked)
            return 200, {"data": {**data, "items": items}}, {}
        if rest == ["requests", "unlock"]:
            mine = [request_id for request_id, (owner, _expires) in self.locks.items() if owner == client]
            for request_id in mine:
                del self.locks[request_id]
            return 200, {"data": {"unlockedCount": len(mine)}}, {}
        if rest == ["requests"]:
            limit = int(query.get("limit", ["1000"])[0])
            return 200, {"data": {"items": list(self.requests.values())[:limit], "limit": limit}}, {}
        request_id = unquote(rest[1])
        if rest[2:] == ["lock"]:
            return self._lock_call(method, request_id, client, query, forefront)
        if method == "PUT":
            request = json.loads(raw)
            if request.get("handledAt"):
                self.marks += 1
                if self.marks in self.ways.refused_marks:
                    return 400, {"error": {"type": "invalid-input", "message": "stand-in: mark refused"}}, {}
                self.locks.pop(request_id, None)
            registered = self._put_request({**request, "id": request_id}, forefront, adding=False)
            return 200, {"data": {key: registered[key] for key in registered if key != "uniqueKey"}}, {}
        if request_id not in self.requests:
            return 404, {"error": {"type": "record-not-found", "message": f"no request {request_id}"}}, {}
        return 200, {"data": self.requests[request_id]}, {}

    def _lock_call(
        self, method: str, request_id: str, client: str, query: dict[str, list[str]], forefront: bool
    ) -> tuple[int, Any, dict]:
        """Prolong (PUT) or delete (DELETE) a request's lock: only the client that holds it may."""
        if request_id not in self.requests:
            return 404, {"error": {"type": "record-not-found", "message": f"no request {request_id}"}}, {}
        owner = self.locks.get(request_id, (client, 0.0))[0] if self._locked(request_id) else client
        if owner != client:
            message = f"request {request_id} is locked by another client"
            return 403, {"error": {"type": "request-locked-by-another-client", "message": message}}, {}
        if method == "DELETE":
            self.locks.pop(request_id, None)
            if forefront:  # back to the head of the queue
                self.requests = {request_id: self.requests.pop(request_id), **self.requests}
            return 204, None, {}
        expires = time.time() + self._lock_secs(query)
        self.locks[request_id] = (client, expires)
        return 200, {"data": {"lockExpiresAt": _iso(expires)}}, {}

    def _lock_secs(self, query: dict[str, list[str]]) -> int:
        return min(int(query["lockSecs"][0]), self.ways.max_lock_secs or int(query["lockSecs"][0]))

    def _locked(self, request_id: str) -> bool:
        return request_id in self.locks and self.locks[request_id][1] > time.time()

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
            self._save_request(stored)
        return registered

    def _save_request(self, request: dict[str, Any]) -> None:
        """Write a named queue's request, and its counts, where crawlee's file-system client would."""
        if self.queue_folder is None:
            return
        file_name = FileSystemRequestQueueClient._get_file_base_name_from_unique_key(request["uniqueKey"])
        self.queue_folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.queue_folder / f"{file_name}.json", json.dumps(request))
        handled = sum(1 for stored in self.requests.values() if stored.get("handledAt"))
        counts = {"handled_request_count": handled, "pending_request_count": len(self.requests) - handled}
        metadata = {"id": self.ids["request-queue"], "name": self.name, "total_request_count": len(self.requests)}
        _write_atomically(self.queue_folder / "__metadata__.json", json.dumps({**metadata, **counts}))

    def _dataset(  # noqa: PLR0911 - one answer per way of the platform
        self, method: str, rest: list[str], query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, Any, dict]:
        if not rest:
            count = self._lagging_item_count()
            data = {**self._metadata("dataset"), "itemCount": count, "cleanItemCount": count}
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

    def _key_value_store(
        self, method: str, rest: list[str], raw: bytes, content_type: str | None
    ) -> tuple[int, Any, dict]:
        if not rest:
            return 200, {"data": self._metadata("key-value-store")}, {}
        if rest[0] == "keys":
            keys = [{"key": path.name, "size": path.stat().st_size} for path in self._records()]
            return 200, {"data": {"items": keys, "count": len(keys), "limit": 1000, "isTruncated": False}}, {}
        key = unquote(rest[1])
        path = self.storage.store / key
        if key == "INPUT" and not path.exists():
            path = self.storage.store / "INPUT.json"  # where tests (and `apify run`) put the input
        # A record's content type is kept beside it, as the file-system client keeps it: a string set by
        # `set_value` is text/plain, and comes back as a string.
        described = self.storage.store / f"{key}.__metadata__.json"
        if method == "PUT":
            self.storage.store.mkdir(parents=True, exist_ok=True)
            _write_atomically(self.storage.store / key, raw)
            record = {"key": key, "content_type": content_type or "application/json", "size": len(raw)}
            _write_atomically(described, json.dumps(record))
            return 200, {}, {}
        if method == "DELETE":
            path.unlink(missing_ok=True)
            described.unlink(missing_ok=True)
            return 204, b"", {}
        if not path.exists():
            return 404, {"error": {"type": "record-not-found", "message": f"no record {key}"}}, {}
        stored_type = json.loads(described.read_text())["content_type"] if described.exists() else None
        return 200, path.read_bytes(), {"content-type": stored_type or "application/json; charset=utf-8"}

    def _metadata(self, kind: str) -> dict[str, Any]:
        """What a storage's GET answers with, besides its counts."""
        now, storage_id = _iso_now(), self.ids[kind]
        return {
            "id": storage_id,
            "name": self.name,
            "userId": "standInUser000001",
            "createdAt": now,
            "modifiedAt": now,
            "accessedAt": now,
            "consoleUrl": f"https://console.apify.com/storage/{kind}s/{storage_id}",
        }

    def _records(self) -> list[Path]:
        return sorted(p for p in self.storage.store.glob("*") if not p.name.endswith("__metadata__.json"))


def _write_atomically(path: Path, content: str | bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(content if isinstance(content, bytes) else content.encode())
    temporary.replace(path)


def _iso_now() -> str:
    return _iso(time.time())


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"


@dataclass
class OtherRun:
    """A run other than the main one (started through the runs API, or by a schedule): its own process, storage
    folder and default storages."""

    run_id: str
    storage: Storage
    storage_api: StorageApi
    scheduled: bool = False  # started by start_scheduled_run (else by a run, through the runs API)
    entry: str | None = None  # what it runs and its own environment (None: the main run's, as it is at each start)
    env: dict[str, str] | None = None
    status: str = "READY"
    status_message: str | None = None
    process: subprocess.Popen | None = None
    starts: int = 0
    exit_codes: list[int] = field(default_factory=list)
    reboot_asked: bool = False  # the run asked for a reboot (or the migration's time is up): restart it
    abort_asked: bool = False
    resurrections: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of its run API calls
    changed: threading.Condition = field(default_factory=threading.Condition)


@dataclass
class PlatformStandIn:
    storage: Storage
    env: dict[str, str] = field(default_factory=dict)
    ways: PlatformWays = field(default_factory=PlatformWays)
    calls: list[ApiCall] = field(default_factory=list)
    migrations: list[Migration] = field(default_factory=list)
    starts: int = 0
    exit_codes: list[int] = field(default_factory=list)
    abort_grace_secs: float = 30.0  # a graceful abort kills the run this long after `aborting`, as the platform does
    disruptions: list[str] = field(default_factory=list)  # what a rehearsal did, for its report
    others: dict[str, OtherRun] = field(default_factory=dict)  # runs started through the runs API, by ID
    main_status: str = "RUNNING"  # what the API says of the main run (a test sets FAILED for one that died for good)
    pricing: dict[str, Any] | None = None  # the Actor's pricing (APIFY_ACTOR_PRICING_INFO of every run); None: free

    async def __aenter__(self) -> PlatformStandIn:
        self._loop = asyncio.get_running_loop()
        self._connections: dict[str, set[ServerConnection]] = {}  # run ID -> its event websockets
        self._connected = asyncio.Event()
        self._events = await serve(self._on_connection, "127.0.0.1", 0)
        self.storage_api = StorageApi(self.storage, self.ways)
        self.storage_api.on_cut = lambda: self.process.send_signal(signal.SIGKILL)
        self._storages: dict[str, StorageApi] = {}  # storage ID -> the API of the run that owns it (or named)
        self._named: dict[str, StorageApi] = {}  # name -> the named storages of that name
        self._unnamed: dict[str, list[StorageApi]] = {}  # run ID -> the unnamed datasets it created
        self._lock = threading.Lock()
        self._newest: subprocess.Popen | None = None  # the run process started last: a cut named push kills it
        self._own_storages(self.storage_api)
        self._start_env: dict[str, str] = {}
        self._entry = AT_HOME_ENTRY
        self._closing = False
        self._api = LoopbackServer(("127.0.0.1", 0), self._api_handler())
        threading.Thread(target=self._api.serve_forever, daemon=True).start()
        self.process: subprocess.Popen | None = None
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._closing = True
        for process in [self.process, *(other.process for other in self.others.values())]:
            if process and process.poll() is None:
                process.kill()
                process.wait()
        self._events.close()
        await self._events.wait_closed()
        self._api.shutdown()
        self._api.server_close()

    def _own_storages(self, api: StorageApi) -> None:
        for storage_id in api.ids.values():
            self._storages[storage_id] = api

    def _get_or_create(self, collection: str, name: str | None, caller: str) -> tuple[int, Any]:
        """`POST /v2/datasets?name=...` (and key-value stores, request queues): the named storage, created if it
        does not exist yet (201), else as it is (200). Each name has its own storage of each kind. Without a name,
        a new unnamed dataset, kept in the storage folder of the `caller` run."""
        if not name and collection == "datasets":
            return self._create_unnamed_dataset(caller)
        if not name:  # the platform would create an unnamed storage: no run here asks for a store or a queue
            message = "stand-in: only named storages and unnamed datasets are created"
            return 400, {"error": {"type": "invalid-input", "message": message}}
        with self._lock:
            if (api := self._named.get(name)) is None:
                api = self._named[name] = StorageApi(named_storage(self.storage.root, name), self.ways, name=name)
                api.on_cut = lambda: self._newest and self._newest.send_signal(signal.SIGKILL)
            kind = collection.removesuffix("s")
            folder = self.storage.root / STORAGE_FOLDERS[collection] / name
            created = not folder.exists()
            folder.mkdir(parents=True, exist_ok=True)
            self._storages[api.ids[kind]] = api
        # Answered as a GET of the storage, with the platform's ways (a refused answer here is a lost one).
        status, payload, _headers = api.answer("GET", f"/v2/{collection}/{api.ids[kind]}", {}, b"")
        return (201 if created and status == 200 else status), payload

    def _create_unnamed_dataset(self, caller: str) -> tuple[int, Any]:
        """A new unnamed dataset, in the storage folder of the run `caller` (`datasets/<its ID>`), with that run's
        platform ways: a cut push kills that run."""
        owner = self.storage_api if caller not in self.others else self.others[caller].storage_api
        with self._lock:
            dataset_id = f"unnamedDataset{sum(map(len, self._unnamed.values())) + 1:05d}"
            storage = Storage(owner.storage.root)
            storage.dataset = storage.root / "datasets" / dataset_id
            storage.dataset.mkdir(parents=True)
            api = StorageApi(storage, owner.ways, unnamed_dataset_id=dataset_id)
            api.on_cut = owner.on_cut
            self._unnamed.setdefault(caller, []).append(api)
            self._storages[dataset_id] = api
        status, payload, _headers = api.answer("GET", f"/v2/datasets/{dataset_id}", {}, b"")
        return (201 if status == 200 else status), payload

    def created_datasets(self, run_id: str = RUN_ID) -> list[Storage]:
        """The unnamed datasets run `run_id` created, read as files."""
        return [api.storage for api in self._unnamed.get(run_id, [])]

    def _wait_for_writes_of(self, run_id: str, api: StorageApi) -> None:
        """Before a run starts again: let the writes it sent before it was killed land (see StorageApi)."""
        for each in [api, *self._unnamed.get(run_id, [])]:
            each.wait_for_writes_in_flight()

    def charged_items(self) -> dict[str, int]:
        """Per run ID, the dataset-item events the platform charges the run (0 for each unless the Actor's pricing
        prices DATASET_ITEM_EVENT): every item written to its default dataset."""
        apis = {RUN_ID: self.storage_api} | {run_id: other.storage_api for run_id, other in self.others.items()}
        return {run_id: api.items_stored if self._items_priced() else 0 for run_id, api in apis.items()}

    def _items_priced(self) -> bool:
        return DATASET_ITEM_EVENT in ((self.pricing or {}).get("pricingPerEvent") or {}).get("actorChargeEvents", {})

    # --- the run's environment on the platform ------------------------------------------------------------

    def run_env(self, run_id: str = RUN_ID) -> dict[str, str]:
        api = f"http://127.0.0.1:{self._api.server_address[1]}"
        events_port = self._events.sockets[0].getsockname()[1]
        ids = storage_ids(run_id)
        return {
            "APIFY_IS_AT_HOME": "1",
            "ACTOR_ID": ACTOR_ID,
            "ACTOR_BUILD_NUMBER": "0.0.1",
            "ACTOR_RUN_ID": run_id,
            "APIFY_TOKEN": f"{TOKEN_PREFIX}{run_id}",
            "APIFY_API_BASE_URL": api,
            "APIFY_API_PUBLIC_BASE_URL": api,
            "ACTOR_EVENTS_WEBSOCKET_URL": f"ws://127.0.0.1:{events_port}/{run_id}",
            "ACTOR_DEFAULT_DATASET_ID": ids["dataset"],
            "ACTOR_DEFAULT_KEY_VALUE_STORE_ID": ids["key-value-store"],
            "ACTOR_DEFAULT_REQUEST_QUEUE_ID": ids["request-queue"],
            # Without these the charging manager asks the API for the run's pricing (and what it was charged so far).
            "APIFY_ACTOR_PRICING_INFO": json.dumps(self.pricing or {"pricingModel": "FREE"}),
            "APIFY_CHARGED_ACTOR_EVENT_COUNTS": json.dumps(
                {DATASET_ITEM_EVENT: self.charged_items().get(run_id, 0)}
                if self._items_priced()
                else {"actor-start": 0}
            ),
            # The stand-in's key-value stores answer a write's reader at once: an incremental run's claim need not wait
            # as long as on the platform (a wait the test entry points may shorten, harness.TUNABLE_WAITS).
            "CLAIM_SETTLE_SECS": "0.2",
            **self.env,
        }

    # --- supervisor ---------------------------------------------------------------------------------------

    async def start(self, entry: str = AT_HOME_ENTRY, *, main_env: dict[str, str] | None = None, **env: str) -> None:
        """Start (or, after a kill, restart) the Actor on the same storage; wait until it listens for events.
        Runs it starts run the same `entry` with the same `env` (`main_env` is this run's only: a charge limit)."""
        self._connected.clear()
        if entry == AT_HOME_ENTRY:
            self._entry, self._start_env = entry, env
        await asyncio.to_thread(self._wait_for_writes_of, RUN_ID, self.storage_api)
        self.process = self._newest = start_actor(
            self.storage, entry=entry, **{**self.run_env(), **env, **(main_env or {})}
        )
        self.starts += 1
        self._reaped = False
        while not self._connected.is_set():
            if self.process.poll() is not None:
                self._reap()
                return  # it ended before connecting (a finished run, or a failure): the caller looks at why
            await asyncio.sleep(0.02)

    async def wait_for_exit(self, within: float = 60) -> int:
        patience = Patience(within)
        while self.process.poll() is None:
            if patience.spent():
                raise TimeoutError(f"the Actor did not end within {within} s of Patience")
            await asyncio.sleep(0.02)
        self._reap()
        if self.process.returncode == -signal.SIGABRT:  # not a way the platform ends a run: show why it happened
            log = (self.storage.root.parent / "actor.log").read_text(errors="replace")
            raise AssertionError(f"the Actor aborted (SIGABRT); the end of its log:\n{log[-6000:]}")
        return self.process.returncode

    async def wait_for_items(self, count: int, within: float = 60) -> None:
        patience = Patience(within)
        while self.storage.item_count() < count:
            if patience.spent() or self.process.poll() is not None:
                raise TimeoutError(f"the dataset did not reach {count} items (it has {self.storage.item_count()})")
            await asyncio.sleep(0.01)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._reap()

    def reap(self) -> None:
        """Record the exit code of the main run's process, which has ended."""
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
        remaining = Patience(time_remaining_secs)  # the platform's seconds, on a machine that may be loaded
        while not remaining.spent():
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

    async def send(self, name: str, data: dict[str, Any] | None = None, *, run_id: str = RUN_ID) -> None:
        message = json.dumps({"name": name, "data": data or {}})
        for connection in list(self._connections.get(run_id, ())):
            with contextlib.suppress(ConnectionClosed):
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

    # --- the other runs (started through the runs API) ----------------------------------------------------

    def start_run(self, run_input: bytes, *, scheduled: bool = False) -> OtherRun:
        """Start a run of the Actor with its own run ID and fresh default storages, as the runs API does."""
        run_id = f"standInRun{len(self.others) + 2:07d}"
        storage = Storage(self.storage.root.parent / "runs" / run_id / "storage")
        storage.root.mkdir(parents=True)
        storage.write_input(json.loads(run_input or b"{}"))
        cut = self.ways.cut_worker_push_after
        workers = sum(1 for other in self.others.values() if not other.scheduled)
        cut_after = cut[1] if cut and cut[0] == workers and not scheduled else None
        api = StorageApi(storage, replace(self.ways, cut_push_after=cut_after), run_id)
        entry, own_env = (self._entry, self._start_env) if scheduled else (None, None)
        other = OtherRun(run_id, storage, api, scheduled=scheduled, entry=entry, env=own_env)
        other.storage_api.on_cut = lambda: other.process.send_signal(signal.SIGKILL)
        self.others[run_id] = other
        self._own_storages(other.storage_api)
        self._run_process(other)
        return other

    def _run_process(self, other: OtherRun) -> None:
        """Start the run's process and watch it in a thread, as the platform watches a container."""
        log_path = other.storage.root.parent / "actor.log"
        self._wait_for_writes_of(other.run_id, other.storage_api)
        with other.changed:
            other.status, other.abort_asked = "RUNNING", False
            entry, env = other.entry or self._entry, self._start_env if other.env is None else other.env
            other.process = self._newest = start_actor(
                other.storage, entry=entry, log_path=log_path, **{**self.run_env(other.run_id), **env}
            )
            other.starts += 1
        threading.Thread(target=self._watch, args=(other, other.process), daemon=True).start()

    def _watch(self, other: OtherRun, process: subprocess.Popen) -> None:
        code = process.wait()
        with other.changed:
            other.exit_codes.append(code)
            if other.reboot_asked and not other.abort_asked and not self._closing:
                other.reboot_asked = False
                restart = True
            else:
                restart = False
                other.status = "ABORTED" if other.abort_asked else "SUCCEEDED" if code == 0 else "FAILED"
            other.changed.notify_all()
        if restart:
            self._run_process(other)

    def kill_run(self, run_id: str) -> None:
        """A crash of another run: its process is killed, and the run ends FAILED (unless a migration's restart
        was due). Returns once the platform has seen the end."""
        other = self.others[run_id]
        process = other.process
        process.send_signal(signal.SIGKILL)
        process.wait()
        patience = Patience(10)
        with other.changed:
            while not (other.process is not process or len(other.exit_codes) >= other.starts) and not patience.spent():
                other.changed.wait(0.1)

    async def migrate_run(self, run_id: str, time_remaining_secs: float = 5) -> None:
        """Migrate another run: `migrating`, then a kill at its reboot request or when the time is up, and a
        restart on the same storages."""
        other = self.others[run_id]
        process = other.process
        connecting = Patience(10)
        while not self._connections.get(run_id) and process.poll() is None and not connecting.spent():
            await asyncio.sleep(0.02)
        await self.send("migrating", {"timeRemainingSecs": time_remaining_secs}, run_id=run_id)
        remaining = Patience(time_remaining_secs)  # the platform's seconds, on a machine that may be loaded
        while not remaining.spent() and process.poll() is None and not other.reboot_asked:
            await asyncio.sleep(0.01)
        with other.changed:
            if process.poll() is None:
                other.reboot_asked = True
                process.send_signal(signal.SIGKILL)
        restarting = Patience(30)
        while other.process is process and other.status not in TERMINAL and not restarting.spent():
            await asyncio.sleep(0.01)  # returns once the run runs again (or, having exited by itself, has ended)

    # --- scheduled runs -----------------------------------------------------------------------------------

    def start_scheduled_run(self, run_input: dict[str, Any], *, entry: str = AT_HOME_ENTRY, **env: str) -> str:
        """Start a run as a schedule does (while the last one may still run): its own run ID, fresh default
        storages holding `run_input`, the named storages shared; `entry` and `env` are also those of the runs it
        starts through the runs API. Returns its run ID."""
        self._entry, self._start_env = entry, env
        return self.start_run(json.dumps(run_input).encode(), scheduled=True).run_id

    def scheduled_runs(self) -> list[str]:
        """The IDs of the scheduled runs, in the order they started."""
        return [run_id for run_id, other in self.others.items() if other.scheduled]

    def status_of(self, run_id: str) -> str:
        """A run's status, as `GET /v2/actor-runs/{id}` answers it."""
        return self.main_status if run_id == RUN_ID else self.others[run_id].status

    async def wait_for_run(self, run_id: str, within: float = 60) -> str:
        """Wait until the run has ended (restarts after migrations are not ends); return its status."""
        patience = Patience(within)
        while (status := self.others[run_id].status) not in TERMINAL:
            if patience.spent():
                raise TimeoutError(f"run {run_id} did not end within {within} s of Patience (it is {status})")
            await asyncio.sleep(0.02)
        return status

    def log_of(self, run_id: str) -> str:
        """The end of another run's log (all its starts), to show why it ended as it did."""
        return (self.others[run_id].storage.root.parent / "actor.log").read_text(errors="replace")[-6000:]

    def default_dataset_items(self, run_id: str) -> list[Any]:
        return (self.storage if run_id == RUN_ID else self.others[run_id].storage).items()

    def named_storage(self, name: str) -> Storage:
        """The named dataset and key-value store `name`, read as files (its queue: `request_queues/<name>`)."""
        return named_storage(self.storage.root, name)

    def running_runs(self) -> list[str]:
        """The other runs whose process is still alive."""
        return [run_id for run_id, other in self.others.items() if other.process and other.process.poll() is None]

    def _run_call(self, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> tuple[int, Any]:
        """The runs API, for the runs other than the main one."""
        parts = path.strip("/").split("/")  # v2, acts|actors|actor-runs, id, [runs|reboot|abort|resurrect]
        if parts[1] in ("acts", "actors") and parts[3:] == ["runs"] and method == "POST":  # apify-client 3: actors
            started = self.start_run(raw)
            if self.ways.kill_after_run_start == len(self.others):
                self.ways.kill_after_run_start = None
                self.process.send_signal(signal.SIGKILL)
                return 502, {"error": {"type": "bad-gateway", "message": "stand-in: the caller was killed"}}
            return 201, {"data": self._run_data(started)}
        other = self.others.get(parts[2]) if parts[1] == "actor-runs" else None
        if other is None:
            return 404, {"error": {"type": "record-not-found", "message": f"{method} {path}"}}
        other.calls.append((method, path))
        action = parts[3] if len(parts) > 3 else None
        if action == "reboot":
            with other.changed:
                other.reboot_asked, process = True, other.process
            threading.Timer(0.05, lambda: process.poll() is None and process.kill()).start()  # this one, not a restart
        elif action == "abort":
            self._abort(other, gracefully=query.get("gracefully", ["false"])[0] in ("true", "1"))
        elif action == "resurrect":
            if other.status not in TERMINAL:
                return 400, {"error": {"type": "run-not-finished", "message": "only a finished run is resurrected"}}
            other.resurrections += 1
            self._run_process(other)
        elif method == "PUT":
            other.status_message = (json.loads(raw or b"{}") or {}).get("statusMessage", other.status_message)
        elif wait := float(query.get("waitForFinish", ["0"])[0]):
            with other.changed:
                other.changed.wait_for(lambda: other.status in TERMINAL, min(wait, MAX_WAIT_FOR_FINISH_SECS))
        return 200, {"data": self._run_data(other)}

    def abort_run(self, run_id: str) -> None:
        """Abort another run gracefully, as through the API: `aborting`, then a kill after the grace time."""
        self._abort(self.others[run_id], gracefully=True)

    def _abort(self, other: OtherRun, *, gracefully: bool) -> None:
        with other.changed:
            if other.status in TERMINAL:
                return
            other.abort_asked = True
            other.status = "ABORTING"
        process = other.process
        if gracefully:
            message = json.dumps({"name": "aborting", "data": {}})
            for connection in list(self._connections.get(other.run_id, ())):
                asyncio.run_coroutine_threadsafe(connection.send(message), self._loop)
            threading.Timer(self.abort_grace_secs, lambda: process.poll() is None and process.kill()).start()
        else:
            process.kill()

    def _run_data(self, other: OtherRun) -> dict[str, Any]:
        restarts = max(0, other.starts - 1 - other.resurrections)
        return run_object(other.status, other.status_message, run_id=other.run_id, restarts=restarts)

    # --- events websocket ---------------------------------------------------------------------------------

    async def _on_connection(self, connection: ServerConnection) -> None:
        run_id = connection.request.path.strip("/") or RUN_ID
        self._connections.setdefault(run_id, set()).add(connection)
        if run_id == RUN_ID:
            self._connected.set()
        try:
            await connection.wait_closed()
        finally:
            self._connections[run_id].discard(connection)

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
                path, query, headers = url.path, parse_qs(url.query), {"content-type": "application/json"}
                if path.startswith(("/v2/datasets/", "/v2/key-value-stores/", "/v2/request-queues/")):
                    storage_id = unquote(path.split("/")[3])
                    if (storage_api := standin._storages.get(storage_id)) is None:
                        status, payload, extra = 404, {"error": {"type": "record-not-found", "message": path}}, {}
                    else:
                        content_type = self.headers.get("Content-Type")
                        status, payload, extra = storage_api.answer(method, path, query, raw, content_type)
                    headers.update(extra)
                elif path.rstrip("/") in ("/v2/datasets", "/v2/key-value-stores", "/v2/request-queues"):
                    name = query.get("name", [None])[0]
                    caller = self.headers.get("Authorization", "").removeprefix("Bearer ").removeprefix(TOKEN_PREFIX)
                    status, payload = standin._get_or_create(path.strip("/").split("/")[1], name, caller)
                elif path.startswith(f"/v2/actor-runs/{RUN_ID}"):
                    body = json.loads(raw) if raw.strip() else None
                    at, state, count = time.monotonic(), _read_state(standin.storage), standin.storage.item_count()
                    standin.calls.append(ApiCall(method, path, body, at, state, count))
                    message = (body or {}).get("statusMessage")
                    status, payload = 200, {"data": run_object(standin.main_status, status_message=message)}
                else:
                    status, payload = standin._run_call(method, path, query, raw)
                data = (
                    payload if isinstance(payload, bytes) else b"" if payload is None else json.dumps(payload).encode()
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if method != "HEAD":
                    with contextlib.suppress(OSError):  # the caller may have been killed while it waited
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
