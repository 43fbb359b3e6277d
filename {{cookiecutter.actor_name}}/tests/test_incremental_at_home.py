"""Incremental runs on a schedule, at home (JSON kind): runs of one job on the platform stand-in
(platform_standin.py), each with its own run ID and default storages, the job's named dataset and key-value store
shared, the platform telling how each run ended; the source (changing_source.py) gets new items between runs.
A run is migrated or killed for good mid-work, killed after it said Done (FAILED on the platform: it has not
exited), or started while another still works on the job. Every check reads what the runs left: each run's
default dataset and status, and the job's named dataset.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from changing_source import SINCE_PARAM, ChangingSource
from harness import Storage
from platform_standin import PlatformStandIn, PlatformWays
from schedule import versions
from test_incremental import transformed

JOB = "orders-at-home"
ENTRY = "tests/linger_at_exit.py"  # the Actor at home; with LINGER_SECS, it waits a while after its Done
# A source slow enough that a run is still reading when a test's disruption arrives: 10 pages of 0.3 s, 4 at a time.
LATENCY_SECS = 0.3


class AtHomeSchedule:
    """Scheduled runs of one incremental job on the stand-in, in the order they started."""

    def __init__(self, platform: PlatformStandIn, actor_input: dict[str, Any]) -> None:
        self.platform, self.input = platform, actor_input
        self.runs: list[str] = []

    def start(self, env: dict[str, str] | None = None, **fields: Any) -> str:
        """Start a run as the schedule does, with these input `fields` changed and this `env` (LINGER_SECS...)."""
        run_id = self.platform.start_scheduled_run({**self.input, **fields}, entry=ENTRY, **(env or {}))
        self.runs.append(run_id)
        return run_id

    async def run(self, **fields: Any) -> str:
        """One run to its end; its status."""
        return await self.platform.wait_for_run(self.start(**fields))

    async def working(self, run_id: str) -> int:
        """Wait until the run has pushed into the job's dataset; how many items the dataset holds then."""
        before = self.job().item_count()
        while (count := self.job().item_count()) == before:
            assert self.platform.status_of(run_id) == "RUNNING", self.log(run_id)
            await asyncio.sleep(0.01)
        return count

    async def said_done(self, run_id: str) -> None:
        """Wait until the run's status message says it is done (its delivery has ended)."""
        while not (self.platform.others[run_id].status_message or "").startswith("Done"):
            assert self.platform.status_of(run_id) == "RUNNING", self.log(run_id)
            await asyncio.sleep(0.01)

    def job(self) -> Storage:
        return self.platform.named_storage(JOB)

    def delivered(self, run_id: str) -> list[Any]:
        return self.platform.default_dataset_items(run_id)

    def delivered_by_succeeded_runs(self) -> list[Any]:
        succeeded = [run for run in self.runs if self.platform.status_of(run) == "SUCCEEDED"]
        return [item for run in succeeded for item in self.delivered(run)]

    def log(self, run_id: str) -> str:
        return (self.platform.others[run_id].storage.root.parent / "actor.log").read_text(errors="replace")


def play(
    storage: Storage, source: ChangingSource, script: Any, ways: PlatformWays | None = None, **fields: Any
) -> AtHomeSchedule:
    async def played() -> AtHomeSchedule:
        async with PlatformStandIn(storage, ways=ways or PlatformWays()) as platform:
            schedule = AtHomeSchedule(platform, source.input_for(datasetName=JOB, **fields))
            await script(schedule)
            return schedule

    return asyncio.run(played())


def test_a_migrated_run_delivers_exactly_its_new_items(storage: Storage) -> None:
    with ChangingSource(latency_secs=LATENCY_SECS) as source:
        first, new = source.add(updated=1, count=20), []

        async def script(schedule: AtHomeSchedule) -> None:
            assert await schedule.run() == "SUCCEEDED"
            new.extend(source.add(updated=1, count=40) + source.add(updated=2, count=60))  # (ties with the highest)
            run_id = schedule.start()
            migrated_at = await schedule.working(run_id)
            await schedule.platform.migrate_run(run_id)
            assert await schedule.platform.wait_for_run(run_id) == "SUCCEEDED"
            assert schedule.platform.others[run_id].starts == 2, "the migration restarted the run"
            assert migrated_at < len(first) + len(new), "the run was migrated before it had read everything"

        schedule = play(storage, source, script, incrementalParam=SINCE_PARAM)
    first_run, migrated = schedule.runs
    assert schedule.delivered(first_run) == transformed(first)
    assert schedule.delivered(migrated) == transformed(new)
    assert schedule.job().items() == transformed(first + new)


def test_a_run_restarted_right_after_it_claimed_the_job_goes_on(storage: Storage) -> None:
    """The platform restarts a run (a migration whose time ran out, a lost host) after it claimed the job and before
    it recorded itself as the job's run: nobody else took the job, so the run goes on and succeeds."""
    with ChangingSource() as source:
        items = source.add(updated=1, count=25)

        async def script(schedule: AtHomeSchedule) -> None:
            run_id = schedule.start()
            claimed = schedule.platform.others[run_id].storage.store / "INCREMENTAL_RUN_ID"
            while not claimed.exists():
                await asyncio.sleep(0.001)
            await schedule.platform.migrate_run(run_id, time_remaining_secs=0)  # killed at once, and restarted
            assert await schedule.platform.wait_for_run(run_id) == "SUCCEEDED", schedule.log(run_id)

        # Storage calls of 30 ms, as on the platform: the run is still restoring its job when it is killed.
        schedule = play(storage, source, script, PlatformWays(storage_latency_secs=0.03))
    assert schedule.platform.others[schedule.runs[0]].starts == 2
    assert schedule.delivered(schedule.runs[0]) == schedule.job().items() == transformed(items)


def test_a_run_killed_for_good_mid_work_is_handed_over(storage: Storage) -> None:
    """The next run delivers what the killed run had read, and its own new items; the default datasets of the runs
    that succeeded hold every item once, taken together, as the job's dataset does."""
    with ChangingSource(latency_secs=LATENCY_SECS) as source:
        everything, handed = source.add(updated=1, count=30), []

        async def script(schedule: AtHomeSchedule) -> None:
            assert await schedule.run() == "SUCCEEDED"
            handed.extend(source.add(updated=1, count=20) + source.add(updated=2, count=80))
            killed = schedule.start()
            await schedule.working(killed)
            schedule.platform.kill_run(killed)
            assert schedule.platform.status_of(killed) == "FAILED"
            assert not schedule.job().state()["finished"], "the run was killed before it had read everything"
            handed.extend(source.add(updated=2, count=5) + source.add(updated=3, count=5))
            assert await schedule.run() == "SUCCEEDED"

        schedule = play(storage, source, script, incrementalParam=SINCE_PARAM)
    everything += handed
    _first, _killed, last = schedule.runs
    assert schedule.delivered(last) == transformed(handed)
    assert versions(schedule.delivered_by_succeeded_runs()) == versions(transformed(everything))
    assert schedule.job().items() == transformed(everything)  # each version once, in source order
    assert f"{len(handed)} items delivered" in schedule.platform.others[last].status_message


def test_a_run_killed_after_it_said_done_has_not_succeeded(storage: Storage) -> None:
    """Killed after its delivery ended and before it exits, a run is FAILED on the platform (which is what a webhook
    on succeeded runs goes by): the next run delivers that run's items again, with its own."""
    with ChangingSource() as source:
        first, second = source.add(updated=1, count=25), []

        async def script(schedule: AtHomeSchedule) -> None:
            killed = schedule.start(env={"LINGER_SECS": "60"})
            await schedule.said_done(killed)
            assert schedule.delivered(killed) == transformed(first)  # delivered, but not succeeded
            schedule.platform.kill_run(killed)
            assert schedule.platform.status_of(killed) == "FAILED"
            second.extend(source.add(updated=1, count=3) + source.add(updated=2, count=12))
            assert await schedule.run() == "SUCCEEDED"

        schedule = play(storage, source, script)
    _killed, last = schedule.runs
    assert schedule.delivered(last) == transformed(first + second)
    assert schedule.delivered_by_succeeded_runs() == transformed(first + second)
    assert schedule.job().items() == transformed(first + second)
    assert f"{len(second)} new, {len(first)} left by earlier runs" in schedule.platform.others[last].status_message


def test_two_runs_at_once_wait_or_refuse(storage: Storage, tmp_path: Path) -> None:
    """A run started while another still runs (the schedule fired early) waits up to waitForPreviousRunSecs: then
    it fails with one message, writing nothing; with a longer wait it goes on once the other has ended, with what is
    new since."""
    release = tmp_path / "release-the-first-run"
    with ChangingSource() as source:
        first, second = source.add(updated=1, count=25), []

        async def script(schedule: AtHomeSchedule) -> None:
            running = schedule.start(env={"LINGER_SECS": "60", "LINGER_UNTIL": str(release)})
            await schedule.said_done(running)  # done with the job, not ended yet
            job_before = {path.name: path.read_bytes() for path in sorted(schedule.job().store.iterdir())}
            refused = schedule.start(waitForPreviousRunSecs=1)
            assert await schedule.platform.wait_for_run(refused) == "FAILED"
            assert schedule.platform.status_of(running) == "RUNNING"
            assert {path.name: path.read_bytes() for path in sorted(schedule.job().store.iterdir())} == job_before
            assert schedule.job().item_count() == len(first)
            assert schedule.delivered(refused) == []

            second.extend(source.add(updated=1, count=2) + source.add(updated=2, count=8))
            asked = _status_asks(schedule, running)
            waiting = schedule.start(waitForPreviousRunSecs=60)
            while _status_asks(schedule, running) == asked:  # the waiting run asks how the first one is doing
                assert schedule.platform.status_of(waiting) == "RUNNING", schedule.log(waiting)
                await asyncio.sleep(0.01)
            release.touch()
            assert await schedule.platform.wait_for_run(running) == "SUCCEEDED"
            assert await schedule.platform.wait_for_run(waiting) == "SUCCEEDED"

        schedule = play(storage, source, script)
    running, refused, waiting = schedule.runs
    (line,) = [line for line in schedule.log(refused).splitlines() if "Another run" in line]
    assert f"({running}) is working on the incremental job '{JOB}' (waited 1 s" in line
    assert "Another run" in schedule.platform.others[refused].status_message
    assert schedule.delivered(running) == transformed(first)
    assert schedule.delivered(waiting) == transformed(second)
    assert schedule.job().items() == transformed(first + second)


def _status_asks(schedule: AtHomeSchedule, run_id: str) -> int:
    """How often the runs asked the platform about this run."""
    return sum(1 for method, _path in schedule.platform.others[run_id].calls if method == "GET")
