"""A small stand-in for the Apify platform's side of one run, on 127.0.0.1, to see migrations before production.

- events: a websocket server that sends `{"name": ..., "data": ...}` messages, as the platform does;
- API: an HTTP server answering the calls a run makes (`GET`/`PUT /v2/actor-runs/{id}`,
  `POST /v2/actor-runs/{id}/reboot`) and recording them, with the state record as it was at each call;
- supervisor: starts the Actor with APIFY_IS_AT_HOME=1 through tests/at_home.py (file-system storages,
  the Actor's code unchanged) and, like the platform, kills it after a reboot request, or when the
  migration's time is up, then starts it again on the same storage.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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
class PlatformStandIn:
    storage: Storage
    env: dict[str, str] = field(default_factory=dict)
    calls: list[ApiCall] = field(default_factory=list)
    migrations: list[Migration] = field(default_factory=list)
    starts: int = 0
    exit_codes: list[int] = field(default_factory=list)

    async def __aenter__(self) -> PlatformStandIn:
        self._connections: set[ServerConnection] = set()
        self._connected = asyncio.Event()
        self._events = await serve(self._on_connection, "127.0.0.1", 0)
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
            # Without these the charging manager asks the API for the run's pricing.
            "APIFY_ACTOR_PRICING_INFO": '{"pricingModel": "FREE"}',
            "APIFY_CHARGED_ACTOR_EVENT_COUNTS": '{"actor-start": 0}',
            **self.env,
        }

    # --- supervisor ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start (or, after a kill, restart) the Actor on the same storage; wait until it listens for events."""
        self._connected.clear()
        self.process = start_actor(self.storage, entry=AT_HOME_ENTRY, **self.run_env())
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
                body = json.loads(raw) if raw.strip() else None
                path = self.path.split("?")[0]
                standin.calls.append(
                    ApiCall(
                        method, path, body, time.monotonic(), _read_state(standin.storage), standin.storage.item_count()
                    )
                )
                if path.startswith(f"/v2/actor-runs/{RUN_ID}"):
                    status, payload = 200, {"data": run_object(status_message=(body or {}).get("statusMessage"))}
                else:
                    status, payload = 404, {"error": {"type": "record-not-found", "message": f"{method} {path}"}}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_PUT(self) -> None:
                self._answer("PUT")

            def do_POST(self) -> None:
                self._answer("POST")

            def log_message(self, *_args: object) -> None:
                pass

        return Handler


def _read_state(storage: Storage) -> Any:
    try:
        return storage.state()
    except ValueError:  # caught mid-write: not a JSON document yet
        return "unreadable"
