"""The Actor's input; mirrors .actor/input_schema.json (a test checks that the two agree)."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from .engine.credentials import body_secrets, body_without_secrets, looks_secret, without_secrets
from .engine.mode_input import CHUNK_PAGES, IncrementalInput, ParallelRunsInput
from .engine.web_urls import WebUrl, check_web_url

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
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110's token
HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # control characters (a tab is allowed)


class ActorInput(ParallelRunsInput, IncrementalInput):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, strict=True, extra="ignore")

    api_url: WebUrl = Field(pattern=r"^https?://\S+$")
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
    request_body: dict[str, Any] | None = None
    accept_partial_data: bool = False
    headers: dict[str, str] = Field(default_factory=dict)
    credential_origins: list[WebUrl] = Field(default_factory=list)
    oauth2_token_url: str = Field("", pattern=r"^(https?://\S+)?$")
    oauth2_client_id: str = ""
    oauth2_client_secret: str | None = None  # a secret input field: no default
    oauth2_scope: str = ""
    oauth2_client_auth: Literal["basic", "form"] = "basic"
    max_items: int = Field(0, ge=0)
    max_request_retries: int = Field(5, ge=0, le=20)
    prefetch_pages: int = Field(4, ge=1, le=32)
    proxy_configuration: dict[str, Any] | None = None
    incremental_field: str = ""
    incremental_param: str = ""
    incremental_start: str = ""
    primary_key: str = Field("id", min_length=1)

    @field_validator("oauth2_token_url")
    @classmethod
    def _token_url_is_a_web_url(cls, url: str) -> str:
        return check_web_url(url) if url else url

    @field_validator("headers")
    @classmethod
    def _headers_can_be_sent(cls, headers: dict[str, str]) -> dict[str, str]:
        """Each header as HTTP allows it: a line break in a value would end the header (and could start another).
        A value is never shown: it may be a credential."""
        for name, value in headers.items():
            if not HEADER_NAME.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a header name: HTTP allows only letters, digits and !#$%&'*+-.^_`|~ in one"
                )
            if HEADER_VALUE_FORBIDDEN.search(value):
                raise ValueError(f"the value of header {name!r} holds a line break or another control character")
        return headers

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
        if self.request_body is not None:
            self._body_paths_can_work()
        if bool(self.oauth2_token_url) != bool(self.oauth2_client_id) or (
            self.oauth2_client_id and not self.oauth2_client_secret
        ):
            raise ValueError("OAuth2 needs all of oauth2TokenUrl, oauth2ClientId and oauth2ClientSecret")
        if self.oauth2_token_url and self.parallel_runs > 1:
            raise ValueError(
                "parallelRuns > 1 cannot be used with OAuth2: each worker's input would hold oauth2ClientSecret"
            )
        if self.parallel_runs > 1 and style in SEQUENTIAL:
            raise ValueError(
                f"parallelRuns {self.parallel_runs} needs pagination 'offset' or 'page': with {style!r} each page's "
                "position is only known from the page before it, so the pages can only be read one after another"
            )
        self.check_parallel_runs()
        return self

    @model_validator(mode="after")
    def _incremental_can_work(self) -> ActorInput:
        for name, value in (("incrementalParam", self.incremental_param), ("incrementalStart", self.incremental_start)):
            if value and not self.incremental_field:
                raise ValueError(f"{name} needs incrementalField, the value in each item that grows for new ones")
        self.check_incremental(self.incremental, self.parallel_runs)
        return self

    @property
    def incremental(self) -> bool:
        return bool(self.incremental_field)

    def _body_paths_can_work(self) -> None:
        """With requestBody, the position and the page size are written at dotted paths into it: each path must
        lead through objects (missing keys are added), neither may hold the other, and a number must not replace
        an object or a list the body holds (a cursor may: it is any JSON value, an Elasticsearch `after` key)."""
        style = self.pagination
        if style in ("nextUrl", "linkHeader"):
            raise ValueError(
                f"requestBody cannot be used with pagination {style!r}: its positions are URLs, not places in "
                "the body; use 'cursor' with cursorPath (or 'offset', 'page')"
            )
        position = {"offset": ("offsetParam", self.offset_param), "page": ("pageParam", self.page_param)}
        named = [position.get(style, ("cursorParam", self.cursor_param)), ("limitParam", self.limit_param)]
        (first, first_path), (second, second_path) = named
        if f"{second_path}.".startswith(f"{first_path}.") or f"{first_path}.".startswith(f"{second_path}."):
            raise ValueError(
                f"{first} {first_path!r} and {second} {second_path!r} are places in requestBody where one holds "
                "the other: writing one would overwrite the other"
            )
        for name, path in named:
            node: Any = self.request_body
            keys = path.split(".")
            for depth, key in enumerate(keys[:-1]):
                node = node.get(key, {})
                if not isinstance(node, dict):
                    where = ".".join(keys[: depth + 1])
                    raise ValueError(
                        f"{name} {path!r} leads through requestBody.{where}, a JSON {type(node).__name__}, "
                        "not an object"
                    )
            if name != "cursorParam" and isinstance(node.get(keys[-1]), (dict, list)):
                kind = "an object" if isinstance(node[keys[-1]], dict) else "a list"
                raise ValueError(f"{name} {path!r} would replace requestBody.{path}, {kind}, with a number")

    def source(self) -> dict[str, Any]:
        """The fields that define what a saved position points at (apiUrl without its credentials, which may
        change between runs; requestBody, when given, without the values of keys that name a credential): a
        saved run resumes only with the same ones."""
        fields = self.model_dump(by_alias=True)
        named = ("pagination", "itemsPath", *SOURCE_FIELDS[self.pagination])
        body = {} if self.request_body is None else {"requestBody": body_without_secrets(self.request_body)}
        return {
            "apiUrl": without_secrets(self.api_url),
            **{name: fields[name] for name in named},
            **body,
            **self.job_source(),
            **self.incremental_source(),
        }

    def account(self) -> dict[str, Any]:
        """The values source() leaves out, which tell apart the accounts the source is read as: the headers (a shop
        id, an account, a token), apiUrl's credential parameters and user:password, requestBody's credential values
        and the OAuth2 client. Only for an incremental job's name, hashed (incremental.job_name)."""
        parts = urlsplit(self.api_url)
        query = sorted(
            (name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if looks_secret(name)
        )
        found = {
            "headers": sorted((name.lower(), value) for name, value in self.headers.items()),
            "apiUrl": [*query, *([parts.netloc.rpartition("@")[0]] if "@" in parts.netloc else [])],
            "requestBody": body_secrets(self.request_body),
            "oauth2": [self.oauth2_token_url, self.oauth2_client_id, self.oauth2_scope]
            if self.oauth2_client_id
            else [],
        }
        return {name: value for name, value in found.items() if value}

    def incremental_source(self) -> dict[str, Any]:
        """What defines an incremental job besides the source: which items are new, and from where."""
        if not self.incremental:
            return {}
        return {"incremental": [self.incremental_field, self.primary_key, self.incremental_start]}

    @property
    def chunk_pages(self) -> int:
        """Parallel runs: pages of the source in one worker's chunk."""
        return max(CHUNK_PAGES, self.prefetch_pages)

    def pages_ahead(self, items_wanted: int | None) -> int:
        """Pages to have in flight: prefetchPages, but no more than the items still wanted can fill."""
        if items_wanted is None:
            return self.prefetch_pages
        return max(1, min(self.prefetch_pages, -(-items_wanted // self.page_size)))
