"""The Actor's input; mirrors .actor/input_schema.json (a test checks that the two agree)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from .credentials import without_secrets
from .scale_out import CHUNK_PAGES, ParallelRunsInput

Pagination = Literal["offset", "page", "cursor", "nextUrl", "linkHeader"]
SEQUENTIAL: tuple[Pagination, ...] = ("cursor", "nextUrl", "linkHeader")  # each page's position is in the one before
# The fields that define what a saved position points at, for each style: a run resumes only with the same.
SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "offset": ("offsetParam",),
    "page": ("pageParam", "firstPage", "limitParam", "pageSize"),  # page numbers depend on the page size
    "cursor": ("cursorParam", "cursorPath", "cursorItemField"),
    "nextUrl": ("nextUrlPath",),
    "linkHeader": (),
}


class ActorInput(ParallelRunsInput):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, strict=True, extra="ignore")

    api_url: str = Field(pattern=r"^https?://\S+$")
    pagination: Pagination = "offset"
    offset_param: str = Field("offset", min_length=1)
    limit_param: str = Field("limit", min_length=1)
    page_param: str = Field("page", min_length=1)
    first_page: int = Field(1, ge=0)
    cursor_param: str = Field("cursor", min_length=1)
    cursor_path: str = ""
    cursor_item_field: str = ""
    has_more_path: str = ""
    next_url_path: str = ""
    total_path: str = ""
    page_size: int = Field(100, ge=1, le=10_000)
    items_path: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    credential_origins: list[str] = Field(default_factory=list)
    max_items: int = Field(0, ge=0)
    max_request_retries: int = Field(5, ge=0, le=20)
    prefetch_pages: int = Field(4, ge=1, le=32)
    proxy_configuration: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _pagination_can_work(self) -> ActorInput:
        style = self.pagination
        position_param = {"offset": self.offset_param, "page": self.page_param, "cursor": self.cursor_param}
        if style in position_param and position_param[style] == self.limit_param:
            name = {"offset": "offsetParam", "page": "pageParam", "cursor": "cursorParam"}[style]
            raise ValueError(f"{name} and limitParam are both {self.limit_param!r}: the API could not tell them apart")
        if style == "cursor" and bool(self.cursor_path) == bool(self.cursor_item_field):
            raise ValueError("pagination 'cursor' needs exactly one of cursorPath and cursorItemField")
        if style == "nextUrl" and not self.next_url_path:
            raise ValueError("pagination 'nextUrl' needs nextUrlPath, the dotted path to the next page's URL")
        if self.parallel_runs > 1 and style in SEQUENTIAL:
            raise ValueError(
                f"parallelRuns {self.parallel_runs} needs pagination 'offset' or 'page': with {style!r} each page's "
                "position is only known from the page before it, so the pages can only be read one after another"
            )
        self.check_parallel_runs()
        return self

    def source(self) -> dict[str, Any]:
        """The fields that define what a saved position points at (apiUrl without its credentials, which may
        change between runs): a saved run resumes only with the same ones."""
        fields = self.model_dump(by_alias=True)
        named = ("pagination", "itemsPath", *SOURCE_FIELDS[self.pagination])
        return {
            "apiUrl": without_secrets(self.api_url),
            **{name: fields[name] for name in named},
            **self.job_source(),
        }

    @property
    def chunk_pages(self) -> int:
        """Parallel runs: pages of the source in one worker's chunk."""
        return max(CHUNK_PAGES, self.prefetch_pages)

    def pages_ahead(self, items_wanted: int | None) -> int:
        """Pages to have in flight: prefetchPages, but no more than the items still wanted can fill."""
        if items_wanted is None:
            return self.prefetch_pages
        return max(1, min(self.prefetch_pages, -(-items_wanted // self.page_size)))
