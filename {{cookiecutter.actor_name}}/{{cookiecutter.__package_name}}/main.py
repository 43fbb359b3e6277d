"""Read every item of a paginated JSON API into the default dataset, exactly once.

The story of a run: read the input, and hand it to the engine, which restores where the last start stopped, walks
the source page by page with checkpoints (or coordinates parallel runs, or goes on with an incremental job), stops
cleanly for a migration, an abort or a limit, and ends the run. A migration or a crash at any instant loses no item
and duplicates none (see engine/__init__.py and engine/json_run.py).

Customize `transform` (what each item becomes) and the input (actor_input.py with .actor/input_schema.json).
"""

from __future__ import annotations

from typing import Any

from apify import Actor

from .actor_input import ActorInput
from .engine.json_api import JsonApiSource
from .engine.json_run import JsonApiRun


def transform(item: Any) -> Any | None:
    """Turn one source item into one dataset item (a dict); return None to drop it.

    Must give the same result for the same item every time: a resumed run fetches the page it was on
    again and relies on that to skip what already landed.
    """
    return item


async def main() -> None:
    run = JsonApiRun()  # hears migrating and aborting from the very start: made before the Actor starts
    async with Actor:
        actor_input = await run.read_input(ActorInput)  # bad input: the run fails with one line
        await run.read_all(JsonApiSource, actor_input, transform=transform)
