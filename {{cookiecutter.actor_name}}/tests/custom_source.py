"""Your source as the tests read it: plainly, from position None to its end, to know what the dataset must hold.

The tests of test_custom.py run the Actor on whatever source.py holds, with TEST_INPUT, and compare its dataset
with `expected_items()`: what your `transform` makes of every item your source gives, in order. Change TEST_INPUT
when your source needs other input (a DSN, a table); keep it small enough that a run takes a few seconds.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from typing import Any

from harness import package_name

# The input the tests run the Actor with (and read the source with). The example's table has 1,000 rows: 40 pages.
TEST_INPUT: dict[str, Any] = {"pageSize": 25}
MAX_PAGES = 1_000_000  # a plain read that goes on longer is a source that never ends


def module(name: str) -> Any:
    return importlib.import_module(f"{package_name()}.{name}")


async def _pages(actor_input: dict[str, Any]) -> list[tuple[Any, list[Any], Any]]:
    """(position, items, next position) of every page, from None to the end, each position as a JSON round trip
    gives it back (as the state record keeps it)."""
    validated = module("main").ActorInput.model_validate(actor_input)
    pages = []
    async with module("source").Source(validated) as source:
        position = None
        while len(pages) < MAX_PAGES:
            items, following = await source.read(position)
            pages.append((position, list(items), following))
            if following is None:
                return pages
            position = json.loads(json.dumps(following))
    raise AssertionError(f"source.py gave more than {MAX_PAGES} pages: it does not end")


def read_plainly(actor_input: dict[str, Any] | None = None) -> list[Any]:
    """Every item source.py gives, in order, read twice: the tests fail here, saying why, when the same position does
    not give the same page (exactly once reads a page again after a restart and skips what landed of it)."""
    actor_input = TEST_INPUT if actor_input is None else actor_input
    first, second = asyncio.run(_pages(actor_input)), asyncio.run(_pages(actor_input))
    for (position, items, following), (_, again, following_again) in zip(first, second, strict=False):
        if as_json(items) != as_json(again) or as_json(following) != as_json(following_again):
            raise AssertionError(
                f"source.py does not give the same page for the same position ({json.dumps(position)}): read twice, "
                "it gave other items or another next position. Exactly once reads a page again after a restart and "
                "skips what of it landed: make read() deterministic (order by a unique key, stable page tokens)."
            )
    if len(first) != len(second):
        raise AssertionError("source.py gave another number of pages when read a second time: it is not stable.")
    return [item for _position, items, _following in first for item in items]


def expected_items(actor_input: dict[str, Any] | None = None) -> list[Any]:
    """What the dataset must hold after a run over the source: `transform` of each item (None dropped), in order,
    as the dataset stores it (JSON)."""
    transform = module("main").transform
    return [
        json.loads(json.dumps(out, default=str))
        for item in read_plainly(actor_input)
        if (out := transform(item)) is not None
    ]


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
