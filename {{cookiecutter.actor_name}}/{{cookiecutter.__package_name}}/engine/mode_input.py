"""The input fields of the engine's modes, which every kind's input has: incremental runs (`IncrementalInput`) and
parallel runs (`ParallelRunsInput`, and a worker's `JobPart`). They sit apart from the modes' code (incremental.py,
scale_out.py): a run that uses neither mode loads none of it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

MAX_PARALLEL_RUNS = 25
CHUNK_PAGES = 4  # JSON kind: pages of the source in one chunk (at least prefetchPages): small, for an even share


class JobPart(BaseModel):
    """A worker's part of a scaled-out job, as the coordinator writes it into the worker's input."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, strict=True, extra="forbid")

    coordinator_run_id: str
    coordinator_store_id: str  # the coordinator's key-value store, where workers register
    worker: int = Field(ge=0)
    workers: int = Field(ge=2, le=MAX_PARALLEL_RUNS)
    chunk_pages: int = Field(1, ge=1)
    request_queue_id: str | None = None  # crawlers: the coordinator's request queue, shared

    def identity(self) -> dict[str, int]:
        """What defines the work of this part (not the IDs): a restarted worker resumes only with the same."""
        return {"worker": self.worker, "workers": self.workers, "chunkPages": self.chunk_pages}


class ParallelRunsInput(BaseModel):
    """The input fields of scale-out, shared by every kind's input."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, strict=True, extra="ignore")

    parallel_runs: int = Field(1, ge=1, le=MAX_PARALLEL_RUNS)
    part_of_job: JobPart | None = None  # set by the coordinator in a worker's input, never by hand

    def job_source(self) -> dict[str, Any]:
        """What scale-out adds to what defines the source: the number of workers, or the worker's part."""
        if self.part_of_job is not None:
            return {"partOfJob": self.part_of_job.identity()}
        return {"parallelRuns": self.parallel_runs} if self.parallel_runs > 1 else {}

    def check_parallel_runs(self) -> None:
        if self.parallel_runs > 1 and self.part_of_job is not None:
            raise ValueError("a worker of parallel runs (partOfJob) must have parallelRuns 1")


class IncrementalInput(BaseModel):
    """The input fields of incremental runs that every kind's input has (each kind says when it is incremental:
    its `incremental`)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, strict=True, extra="ignore")

    dataset_name: str = Field("", pattern=r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)?$")
    wait_for_previous_run_secs: int = Field(60, ge=0, le=3600)

    def account(self) -> dict[str, Any]:
        """What tells apart the accounts one source is read as (a kind with credentials says), for the name of an
        unnamed job only, hashed: never saved, logged or shown."""
        return {}

    def check_incremental(self, incremental: bool, parallel_runs: int) -> None:
        if self.dataset_name and not incremental:
            raise ValueError("datasetName accumulates the items of incremental runs: it needs incremental input")
        if incremental and parallel_runs > 1:
            raise ValueError(
                "an incremental job cannot use parallelRuns > 1: its position lives in named storages that one run "
                "at a time goes on from, while parallel workers each keep their own"
            )
