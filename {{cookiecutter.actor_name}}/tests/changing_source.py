"""A JSON API on 127.0.0.1 whose items change between runs, for incremental runs: items are
`{"id": i, "updated": u, "name": ...}`, served in the order of (updated, id) with offset paging (`order`: or of
their ids, or newest first); `updated_gte` asks for the items at or after a value (a closed range, as most APIs
have it). Items are added with `add` and changed with `touch` (a newer `updated`: a new version), between runs or
while a run reads. With `account_header`, a request sees only the items added for the account its header names
(the account is not in the items).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from harness import LocalServer, send_payload

SINCE_PARAM = "updated_gte"
ORDERS = {  # how the source sorts its items
    "field": lambda item: (item.get("updated", 0), item["id"]),  # ascending in incrementalField
    "id": lambda item: item["id"],  # in the order they were added, whatever their values
    "newest": lambda item: (-item.get("updated", 0), -item["id"]),  # newest first (numbers only)
}


@dataclass
class ChangingSource(LocalServer):
    latency_secs: float = 0.0
    items: dict[int, dict[str, Any]] = field(default_factory=dict)
    sinces: list[str | None] = field(default_factory=list)  # the updated_gte of each request, in turn
    order: Literal["field", "id", "newest"] = "field"
    account_header: str = ""  # a request header that selects the account whose items are served
    accounts: dict[int, str] = field(default_factory=dict)  # item id -> the account it was added for
    hold_from: int | None = None  # pages at or past this offset wait for `gate` (a run kept working meanwhile)
    gate: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"{self.origin}/items"

    def input_for(self, **fields: Any) -> dict[str, Any]:
        return {"apiUrl": self.url, "pageSize": 10, "incrementalField": "updated", **fields}

    def add(self, updated: Any, count: int = 1, account: str = "") -> list[dict[str, Any]]:
        """`count` new items with this `updated` value (of `account`, with account_header); returns them."""
        with self._lock:
            new = []
            for _ in range(count):
                item_id = len(self.items)
                self.items[item_id] = {"id": item_id, "updated": updated, "name": f"item-{item_id}"}
                self.accounts[item_id] = account
                new.append(dict(self.items[item_id]))
            return new

    def touch(self, item_id: int, updated: int) -> dict[str, Any]:
        """A new version of item `item_id`."""
        with self._lock:
            self.items[item_id] = {**self.items[item_id], "updated": updated, "name": f"item-{item_id}-v{updated}"}
            return dict(self.items[item_id])

    def served(self, since: int | None, account: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            items = sorted(self.items.values(), key=ORDERS[self.order])
        items = [item for item in items if account is None or self.accounts.get(item["id"], "") == account]
        return [dict(item) for item in items if since is None or item.get("updated", 0) >= since]

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
                if source.hold_from is not None and offset >= source.hold_from:
                    source.gate.wait(timeout=600)  # (bounded: a test that forgot to open it ends anyway)
                account = self.headers.get(source.account_header, "") if source.account_header else None
                page = source.served(None if since is None else int(since), account)[offset : offset + limit]
                send_payload(self, 200, json.dumps(page).encode(), "application/json", {})

            def log_message(self, *_args: object) -> None:
                pass

        return Handler
