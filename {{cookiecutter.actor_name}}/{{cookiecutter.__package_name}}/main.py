"""Read every item of a paginated JSON API into the default dataset, exactly once.

The story of a run: restore where the last run stopped; walk the source page by page, pushing each page
and checkpointing its position; stop cleanly when the source ends, or when the platform migrates or aborts
the run. A migration or a crash at any instant loses no item and duplicates none (see resumable.py).

Customize `transform` (what each item becomes) and the input (actor_input.py with .actor/input_schema.json).
"""

from __future__ import annotations

from typing import Any

from apify import Actor
from crawlee.http_clients import ImpitHttpClient
from pydantic import ValidationError

from .actor_input import ActorInput
from .json_api import JsonApiSource, SourceError
from .resumable import ResumableRun, StateError


def transform(item: Any) -> Any | None:
    """Turn one source item into one dataset item (a dict); return None to drop it.

    Must give the same result for the same item every time: a resumed run fetches the page it was on
    again and relies on that to skip what already landed.
    """
    return item


async def main() -> None:
    run = ResumableRun()  # listens for migrating and aborting from the very start
    async with Actor:
        try:
            actor_input = ActorInput.model_validate(await Actor.get_input() or {})
        except ValidationError as error:
            await Actor.fail(status_message=f"Invalid input: {_describe(error)}")
            return

        try:
            # 1. Restore: where the last run stopped, reconciled with what the dataset already holds.
            await run.restore(actor_input.source(), transform)

            # 2. Walk the source: each page is one push and one checkpoint of the position after it; with
            #    offset or page numbers, the pages after it are being fetched meanwhile.
            proxy = None
            if actor_input.proxy_configuration:
                proxy = await Actor.create_proxy_configuration(actor_proxy_input=actor_input.proxy_configuration)
            async with ImpitHttpClient() as http, JsonApiSource(http, actor_input, proxy) as source:
                while not run.finished and not run.stopping:
                    ahead = actor_input.pages_ahead(run.pushed)
                    page = await run.unless_stopping(source.page_at(run.position, ahead))
                    if page is None:
                        break  # migrating or aborting: this page is fetched again after the restart
                    await run.commit(page, transform, room=actor_input.room_left(run.pushed))
                    if not run.stopping and (page.is_last or actor_input.room_left(run.pushed) == 0):
                        await run.finish()  # the source has ended, or maxItems is reached
        except (StateError, SourceError) as error:
            await Actor.fail(status_message=str(error))
            return

        # 3. Stop: done, aborted, or migrating (then the platform reboots the run and it resumes).
        await run.stop()


def _describe(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in error.errors())
