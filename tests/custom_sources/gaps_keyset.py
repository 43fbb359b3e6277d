"""A keyset source over a SQLite table whose ids have gaps, read by a composite key (kind, id): a tuple position."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from typing import Any

PAGE = 30


class Source:
    def __init__(self, actor_input: Any) -> None:
        self._connection: sqlite3.Connection | None = None

    async def __aenter__(self) -> Source:
        self._connection = await asyncio.to_thread(self._connect)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self._connection.close)

    async def read(self, position: Any) -> tuple[list[Any], Any]:
        rows = await asyncio.to_thread(self._after, position)
        return rows, (rows[-1]["kind"], rows[-1]["id"]) if len(rows) == PAGE else None

    def _after(self, position: Any) -> list[dict[str, Any]]:
        if position is None:
            sql, parameters = "SELECT * FROM rows ORDER BY kind, id LIMIT ?", (PAGE,)
        else:
            sql, parameters = (
                "SELECT * FROM rows WHERE (kind, id) > (?, ?) ORDER BY kind, id LIMIT ?",
                (*position, PAGE),
            )
        return [dict(row) for row in self._connection.execute(sql, parameters)]

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        connection.row_factory = sqlite3.Row
        connection.execute("CREATE TABLE rows (kind TEXT, id INTEGER, body TEXT, PRIMARY KEY (kind, id))")
        chance = random.Random(34)
        ids = sorted(chance.sample(range(1, 1_000_000), 700))  # gaps of any size
        rows = [(chance.choice("abc"), i, f"body-{i}") for i in ids]
        connection.executemany("INSERT INTO rows VALUES (?, ?, ?)", rows)
        return connection
