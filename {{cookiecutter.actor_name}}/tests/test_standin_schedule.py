"""The stand-in as a schedule uses it (platform_standin.py): successive runs of one job, each with its own run ID
and default storages, share the job's named dataset, key-value store and request queue through the SDK's own
Apify storage client, and each run learns from the platform how the earlier ones ended."""

from __future__ import annotations

import asyncio
import json

from harness import Patience, Storage
from platform_standin import TERMINAL, PlatformStandIn

ENTRY = "tests/scheduled_at_home.py"  # opens the job's named storages, reports what it saw
JOB = "nightly-job"


async def report_of(platform: PlatformStandIn, run_id: str, within: float = 60) -> dict:
    """What the run saw: the one item of its default dataset, once there."""
    patience = Patience(within)
    while not patience.spent():
        if items := platform.default_dataset_items(run_id):
            return items[0]
        if (status := platform.status_of(run_id)) in TERMINAL:
            raise AssertionError(f"run {run_id} ended {status} without a report:\n{platform.log_of(run_id)}")
        await asyncio.sleep(0.02)
    raise TimeoutError(f"run {run_id} reported nothing within {within} s of Patience:\n{platform.log_of(run_id)}")


async def succeeded(platform: PlatformStandIn, run_id: str) -> bool:
    """Whether the run ended SUCCEEDED; if not, the assertion shows its log."""
    status = await platform.wait_for_run(run_id)
    assert status == "SUCCEEDED", f"run {run_id} ended {status}:\n{platform.log_of(run_id)}"
    return True


def test_scheduled_runs_share_named_storages_and_see_how_earlier_runs_ended(storage: Storage) -> None:
    async def play() -> tuple[PlatformStandIn, list[str], list[dict]]:
        async with PlatformStandIn(storage) as platform:
            first = platform.start_scheduled_run({"job": JOB}, entry=ENTRY)
            assert await succeeded(platform, first)
            second = platform.start_scheduled_run({"job": JOB, "hang": True, "askAbout": [first]}, entry=ENTRY)
            second_saw = await report_of(platform, second)
            # The schedule fires again while the second run still runs.
            third = platform.start_scheduled_run({"job": JOB, "askAbout": [first, second]}, entry=ENTRY)
            assert await succeeded(platform, third)
            await platform.migrate_run(second)  # restarted on its own storages
            assert platform.status_of(second) == "RUNNING"
            # Saving its state as it migrated, the second run (still running) overwrote what the third saved since:
            # the hazard of two runs at once on one job's state (issue 25), shown as the platform would show it.
            assert json.loads(platform.named_storage(JOB).state_text()) == {"runs": [first, second]}
            platform.kill_run(second)  # for good
            assert platform.status_of(second) == "FAILED"
            fourth = platform.start_scheduled_run({"job": JOB, "askAbout": [first, second, third]}, entry=ENTRY)
            assert await succeeded(platform, fourth)
            runs = [first, second, third, fourth]
            return platform, runs, [second_saw, *(platform.default_dataset_items(run) for run in runs)]

    platform, runs, (second_saw, *reports) = asyncio.run(play())
    first, second, third, fourth = runs
    assert platform.scheduled_runs() == runs
    assert len({run_id for run_id in runs}) == len(runs)
    assert platform.others[second].starts == 2  # the migration restarted it, on the same default storages
    assert [len(report) for report in reports] == [1, 1, 1, 1]  # each run's own default dataset: its report only
    assert reports[0][0] == {"items": [], "lastRun": None, "runs": [], "handled": None, "statuses": {}}
    assert (
        second_saw
        == reports[1][0]
        == {
            "items": [{"run": first}],
            "lastRun": first,
            "runs": [first],
            "handled": f"https://example.com/{first}",
            "statuses": {first: "SUCCEEDED"},
        }
    )
    assert reports[2][0] == {
        "items": [{"run": first}, {"run": second}],
        "lastRun": second,
        "runs": [first, second],
        "handled": f"https://example.com/{second}",
        "statuses": {first: "SUCCEEDED", second: "RUNNING"},
    }
    assert reports[3][0] == {
        "items": [{"run": first}, {"run": second}, {"run": third}],
        "lastRun": third,
        "runs": [first, second],  # (see the migration above)
        "handled": f"https://example.com/{third}",
        "statuses": {first: "SUCCEEDED", second: "FAILED", third: "SUCCEEDED"},
    }
    # The named storages, kept as files under their name in the storage folder.
    named = platform.named_storage(JOB)
    assert named.items() == [{"run": run} for run in runs]
    assert (named.store / "LAST_RUN").read_text() == fourth  # a string: kept as text/plain, read back as one
    assert named.state() == {"runs": [first, second, fourth]}
    queue = storage.root / "request_queues" / JOB
    requests = [json.loads(path.read_text()) for path in queue.glob("*.json") if path.name != "__metadata__.json"]
    assert sorted((r["url"], bool(r.get("handledAt"))) for r in requests) == sorted(
        (f"https://example.com/{run}", run != fourth) for run in runs
    )
    assert not (storage.root / "datasets" / "default").exists()  # no run wrote to the main run's default storages
