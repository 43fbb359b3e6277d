"""A run's mode, settled before its state record is restored (`restore_job`): an incremental job claimed, a worker
of parallel runs on a dataset of its own, the job's parallel runs checked. The modes' own code (incremental.py,
scale_out.py) is loaded by the runs in those modes only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apify import Actor

from .ledger import STATE_KEY, StateError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import ModuleType

    from .resumable import Job, ResumableRun
    from .state_record import Transform


async def restore_job(
    run: ResumableRun, job_input: Any, code: Transform | ModuleType, *, claim: Callable[[Any], Awaitable[Job]]
) -> Job | None:
    """Restore `run` for the job `job_input` names, in its mode: an incremental job claimed first (`claim`, the kind's
    way), a worker of parallel runs on a dataset of its own (scale_out.py), the job's parallel runs checked to be those
    it started with. Returns the incremental job (None: the run is not incremental)."""
    job = await claim(job_input) if job_input.incremental else None
    if job_input.part_of_job is not None:  # a worker pushes into a dataset of its own
        from .scale_out import open_part_dataset  # noqa: PLC0415 - scale-out only: a single run never loads it

        run.dataset = await open_part_dataset(job_input.part_of_job)
    await check_parallel_runs_kept(job_input)  # the job's parallel runs are fixed at its start
    await run.restore(job_input.source(), code, job=job)
    return job


async def check_parallel_runs_kept(actor_input: Any) -> None:
    """A job's number of parallel runs is fixed at its start, as the rest of its shape: a restart (a resurrection)
    with another parallelRuns is refused with one message before anything is written. (A coordinator's record read by
    a single run would push the merged items again; a single run's offset means nothing to a coordinator.)"""
    if actor_input.part_of_job is not None:
        return
    saved = await (await Actor.open_key_value_store()).get_value(STATE_KEY)
    if not isinstance(saved, dict) or not isinstance(saved.get("source"), dict) or not saved["source"]:
        return  # a new job (a record that is not sound is refused by the restore)
    workers = saved.get("workers")
    started = len(workers) if isinstance(workers, list) and workers else 1
    if "parallelRuns" in saved["source"] and not workers:
        return  # a coordinator that had not started a worker yet: the restore compares the input it was written for
    if started != actor_input.parallel_runs:
        runs = f"{started} parallel runs" if started > 1 else "one run (parallelRuns 1)"
        raise StateError(
            f"parallelRuns is {actor_input.parallel_runs}, but this job started with {runs}: a job's shape is fixed "
            f"at its start. Set parallelRuns back to {started} to go on with it, or start a new job."
        )
