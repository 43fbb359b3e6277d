"""Your source: where the Actor's items come from, one page at a time. Replace the example with your own.

The engine reads it as `async with Source(actor_input) as source`, then `items, next_position = await
source.read(position)` from position None until a next position is None. A position is any JSON value you choose
(an offset, the last key read, a page token, a list of keys); the state record keeps it between restarts (a tuple
comes back as a list). Exactly once needs one thing of you: the same position gives the same items.

The example reads a SQLite table by keyset (`WHERE id > ? ORDER BY id LIMIT ?`): its position is the last id read,
so rows added later are read by the next incremental run. sqlite3 is synchronous: each call runs in a thread
(`asyncio.to_thread`), for a call that held the event loop would keep the platform's `migrating` from being heard.
With no `database` in the input it reads an example table it makes in memory (the same rows at every start).
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from .custom_input import ActorInput


class Source:
    def __init__(self, actor_input: ActorInput) -> None:
        self._input = actor_input
        self._connection: sqlite3.Connection | None = None

    async def __aenter__(self) -> Source:
        self._connection = await asyncio.to_thread(self._connect)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await asyncio.to_thread(self._connection.close)

    async def read(self, position: Any) -> tuple[list[Any], Any]:
        """The rows after the id `position` (None: from the first), and the last id read (None: no more rows)."""
        rows = await asyncio.to_thread(self._rows_after, position)
        full = len(rows) == self._input.page_size
        return rows, rows[-1]["id"] if full else None

    def _rows_after(self, last_id: Any) -> list[dict[str, Any]]:
        # (The table's name is checked by custom_input.py: a name, nothing else.)
        sql = f"SELECT * FROM {self._input.table} WHERE ? IS NULL OR id > ? ORDER BY id LIMIT ?"
        cursor = self._connection.execute(sql, (last_id, last_id, self._input.page_size))
        return [dict(row) for row in cursor.fetchall()]

    def _connect(self) -> sqlite3.Connection:
        if self._input.database:
            connection = sqlite3.connect(f"file:{self._input.database}?mode=ro", uri=True, check_same_thread=False)
        else:
            connection = sqlite3.connect(":memory:", check_same_thread=False)
            connection.execute(f"CREATE TABLE {self._input.table} (id INTEGER PRIMARY KEY, name TEXT)")
            rows = [(index, f"row {index}") for index in range(1, self._input.example_rows + 1)]
            connection.executemany(f"INSERT INTO {self._input.table} VALUES (?, ?)", rows)
        connection.row_factory = sqlite3.Row
        return connection
