"""Read every item of your own source (source.py) into the default dataset, exactly once.

The story of a run: read the input, open the source, and hand both to the engine, which restores where the last
start stopped, reads page after page with checkpoints, stops cleanly for a migration, an abort or a limit, and
ends the run. A migration or a crash at any instant loses no item and duplicates none (see engine/__init__.py).

Yours to change: `transform` (what each item becomes), source.py (where items come from) and the input
(custom_input.py with .actor/input_schema.json).
"""

from __future__ import annotations

from typing import Any

from apify import Actor

from .custom_input import ActorInput
from .engine import SourceRun
from .source import Source


def transform(item: Any) -> Any | None:
    """Turn one source item into one dataset item (a dict); return None to drop it.

    Must give the same result for the same item every time: a resumed run reads the page it was on again and
    relies on that to skip what already landed.
    """
    return item


async def main() -> None:
    run = SourceRun()  # hears migrating and aborting from the very start: made before the Actor starts
    async with Actor:
        actor_input = await run.read_input(ActorInput)  # bad input: the run fails with one line
        await run.read_all(Source, actor_input, transform=transform)
