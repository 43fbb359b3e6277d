"""Read every item of an offset-paginated JSON API into the default dataset, exactly once.

The story of a run: restore where the last run stopped; walk the source page by page, pushing each page
and checkpointing its offset; stop cleanly when the source ends, or when the platform migrates or aborts
the run. A migration or a crash at any instant loses no item and duplicates none (see resumable.py).

Customize `transform` (what each item becomes) and `fetch_page` (how a page is asked for).
"""

from __future__ import annotations

from typing import Any

from apify import Actor, ProxyConfiguration
from crawlee.http_clients import HttpClient, ImpitHttpClient
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from .json_api import PagesAhead, SourceError, get_json, items_at, page_url
from .resumable import ResumableRun, StateError


class ActorInput(BaseModel):
    """The Actor's input; mirrors .actor/input_schema.json (a test checks that the two agree)."""

    model_config = ConfigDict(alias_generator=to_camel, strict=True, extra="ignore")

    api_url: str = Field(pattern=r"^https?://\S+$")
    offset_param: str = Field("offset", min_length=1)
    limit_param: str = Field("limit", min_length=1)
    page_size: int = Field(100, ge=1, le=10_000)
    items_path: str = ""
    max_items: int = Field(0, ge=0)
    max_request_retries: int = Field(5, ge=0, le=20)
    prefetch_pages: int = Field(4, ge=1, le=32)
    proxy_configuration: dict[str, Any] | None = None

    def source(self) -> dict[str, Any]:
        """The fields that define what an offset points at: a saved run resumes only with the same ones."""
        return {"apiUrl": self.api_url, "itemsPath": self.items_path, "offsetParam": self.offset_param}

    def room_left(self, pushed: int) -> int | None:
        """How many more items the dataset may take (None: no limit)."""
        return max(0, self.max_items - pushed) if self.max_items else None

    def pages_ahead(self, pushed: int) -> int:
        """Pages to have in flight: prefetchPages, but no more than the items still wanted can fill."""
        room = self.room_left(pushed)
        return self.prefetch_pages if room is None else max(1, min(self.prefetch_pages, -(-room // self.page_size)))


def transform(item: Any) -> Any | None:
    """Turn one source item into one dataset item; return None to drop it.

    Must give the same result for the same item every time: a resumed run fetches the page it was on
    again and relies on that to skip what already landed. Dataset items are JSON objects (dicts).
    """
    return item


async def fetch_page(
    http: HttpClient, actor_input: ActorInput, offset: int, proxy: ProxyConfiguration | None
) -> list[Any]:
    """The source items starting at `offset` (fewer than pageSize, or none, at the end of the data)."""
    url = page_url(
        actor_input.api_url, {actor_input.offset_param: offset, actor_input.limit_param: actor_input.page_size}
    )
    proxy_info = await proxy.new_proxy_info() if proxy else None
    body = await get_json(http, url, max_retries=actor_input.max_request_retries, proxy_info=proxy_info)
    return items_at(body, actor_input.items_path)


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

            # 2. Walk the source: each page is one push and one checkpoint of the next offset; the pages
            #    after it are being fetched meanwhile.
            proxy = None
            if actor_input.proxy_configuration:
                proxy = await Actor.create_proxy_configuration(actor_proxy_input=actor_input.proxy_configuration)
            async with (
                ImpitHttpClient() as http,
                PagesAhead(lambda offset: fetch_page(http, actor_input, offset, proxy), actor_input.page_size) as pages,
            ):
                while not run.finished and not run.stopping:
                    page = await run.unless_stopping(pages.get(run.offset, ahead=actor_input.pages_ahead(run.pushed)))
                    if page is None:
                        break  # migrating or aborting: this page is fetched again after the restart
                    room = actor_input.room_left(run.pushed)
                    await run.commit(page, transform, next_offset=run.offset + len(page), room=room)
                    if run.stopping:
                        break
                    if len(page) < actor_input.page_size or actor_input.room_left(run.pushed) == 0:
                        await run.finish()  # the source has ended, or maxItems is reached
        except (StateError, SourceError) as error:
            await Actor.fail(status_message=str(error))
            return

        # 3. Stop: done, aborted, or migrating (then the platform reboots the run and it resumes).
        await run.stop()


def _describe(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in error.errors())
