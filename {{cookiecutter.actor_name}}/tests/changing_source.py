"""A JSON API on 127.0.0.1 whose items change between runs, for incremental runs: items are
`{"id": i, "updated": u, "name": ...}`, served in the order of (updated, id) with offset paging; `updated_gte`
asks for the items at or after a value (a closed range, as most APIs have it). Items are added with `add` and
changed with `touch` (a newer `updated`: a new version), between runs or while a run reads.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from harness import LoopbackServer

SINCE_PARAM = "updated_gte"


class ChangingSource:
    def __init__(self, latency_secs: float = 0.0) -> None:
        self.items: dict[int, dict[str, Any]] = {}
        self.latency_secs = latency_secs
        self.sinces: list[str | None] = []  # the updated_gte of each request, in turn
        self._lock = threading.Lock()
        self._server = LoopbackServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/items"

    def input_for(self, **fields: Any) -> dict[str, Any]:
        return {"apiUrl": self.url, "pageSize": 10, "incrementalField": "updated", **fields}

    def add(self, updated: int, count: int = 1) -> list[dict[str, Any]]:
        """`count` new items with this `updated` value; returns them."""
        with self._lock:
            new = []
            for _ in range(count):
                item_id = len(self.items)
                self.items[item_id] = {"id": item_id, "updated": updated, "name": f"item-{item_id}"}
                new.append(dict(self.items[item_id]))
            return new

    def touch(self, item_id: int, updated: int) -> dict[str, Any]:
        """A new version of item `item_id`."""
        with self._lock:
            self.items[item_id] = {**self.items[item_id], "updated": updated, "name": f"item-{item_id}-v{updated}"}
            return dict(self.items[item_id])

    def served(self, since: int | None) -> list[dict[str, Any]]:
        with self._lock:
            items = sorted(self.items.values(), key=lambda item: (item.get("updated", 0), item["id"]))
        return [dict(item) for item in items if since is None or item.get("updated", 0) >= since]

    def __enter__(self) -> ChangingSource:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
                since = query.get(SINCE_PARAM)
                with source._lock:
                    source.sinces.append(since)
                offset, limit = int(query.get("offset", 0)), int(query.get("limit", 10))
                if source.latency_secs:
                    time.sleep(source.latency_secs)
                page = source.served(None if since is None else int(since))[offset : offset + limit]
                payload = json.dumps(page).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the Actor may have cancelled a page fetched ahead
                    self.wfile.write(payload)

            def log_message(self, *_args: object) -> None:
                pass

        return Handler
