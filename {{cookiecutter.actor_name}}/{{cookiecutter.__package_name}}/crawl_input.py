"""The website crawler's input; mirrors .actor/input_schema.json (a test checks that the two agree)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from .engine.mode_input import IncrementalInput, ParallelRunsInput
from .engine.web_urls import check_web_url


class CrawlInput(ParallelRunsInput, IncrementalInput):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, strict=True, extra="ignore")

    start_urls: list[dict[str, Any]] = Field(min_length=1)
    max_requests_per_crawl: int = Field(100, ge=0)
    max_crawl_depth: int = Field(20, ge=0)
    max_concurrency: int = Field(10, ge=1, le=200)
    max_request_retries: int = Field(3, ge=0, le=20)
    request_handler_timeout_secs: int = Field(60, ge=1, le=3600)
    proxy_configuration: dict[str, Any] | None = None
    incremental: bool = False
    revisit_labels: list[str] = Field(default_factory=list)

    @field_validator("start_urls")
    @classmethod
    def _each_has_a_web_url(cls, sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for number, source in enumerate(sources, start=1):
            url = source.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ValueError(f"start URL {number} has no http(s) url: {source!r}")
            try:
                check_web_url(url)
            except ValueError as problem:
                raise ValueError(f"start URL {number} {url!r}: {problem}") from None
        return sources

    @model_validator(mode="after")
    def _parallel_runs_fit(self) -> CrawlInput:
        self.check_parallel_runs()
        if self.revisit_labels and not self.incremental:
            raise ValueError("revisitLabels name the pages an incremental crawl loads in every run: set incremental")
        self.check_incremental(self.incremental, self.parallel_runs)
        return self

    @property
    def chunk_pages(self) -> int:
        """Parallel runs of a crawl share one request queue: no chunks."""
        return 1

    @property
    def urls(self) -> list[str]:
        return [source["url"] for source in self.start_urls]

    @property
    def max_pages(self) -> int | None:
        """maxRequestsPerCrawl as a limit (None: no limit)."""
        return self.max_requests_per_crawl or None

    def source(self) -> dict[str, Any]:
        """What defines the crawl: a saved run resumes only with the same start URLs."""
        return {"startUrls": sorted(self.urls), **self.job_source()}
