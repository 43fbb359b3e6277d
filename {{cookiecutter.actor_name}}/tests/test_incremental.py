"""Incremental runs on a schedule (JSON kind): successive `python -m <package>` runs in one folder, default
storages purged at each start as `apify run` does, named ones kept, against a source whose items change between
runs. A run killed with kill -9 and never resumed is a run that failed for good. Every check reads the files the
runs left: each run's default dataset (kept aside after it ends) and the job's named dataset.
"""

from __future__ import annotations

import importlib
import json
import random
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from changing_source import SINCE_PARAM, ChangingSource
from harness import Storage, package_name, refusal_of, run_actor, start_actor
from schedule import Schedule, versions

JOB = "orders-job"  # datasetName of the tests that name their job


def transformed(items: list[dict[str, Any]]) -> list[Any]:
    """What the Actor's transform makes of source items (so these tests hold when you change it)."""
    transform = importlib.import_module(f"{package_name()}.main").transform
    return [out for item in items if (out := transform(item)) is not None]


@pytest.mark.parametrize("since_param", [SINCE_PARAM, ""], ids=["incrementalParam", "reading-from-the-start"])
def test_each_run_delivers_only_what_is_new(storage: Storage, since_param: str) -> None:
    with ChangingSource() as source:
        first = source.add(updated=1, count=12) + source.add(updated=2, count=13)
        schedule = Schedule(storage, source.input_for(incrementalParam=since_param, datasetName=JOB))
        assert schedule.run().returncode == 0
        assert schedule.runs[-1][1] == transformed(first)

        # Boundary ties: items arriving with the last run's highest value must land, those it had must not.
        tied = source.add(updated=2, count=3)
        changed = source.touch(0, updated=3)  # a new version of an item delivered before
        newer = source.add(updated=4, count=5)
        assert schedule.run().returncode == 0
        assert versions(schedule.runs[-1][1]) == versions(transformed([*tied, changed, *newer]))
        if since_param:  # the run asked for the items at or after the last run's highest value
            assert source.sinces[-1] == "2"

        result = schedule.run()
        assert result.returncode == 0
        assert schedule.runs[-1][1] == []  # nothing new: an empty dataset, and the status says so
        assert "nothing new" in result.stdout

    everything = first + tied + [changed] + newer
    assert versions(schedule.job_items()) == versions(
        transformed(everything)
    )  # each version once, in the job's dataset
    assert versions(schedule.delivered_by_succeeded_runs()) == versions(transformed(everything))


def test_a_run_killed_for_good_is_handed_over(storage: Storage) -> None:
    """Runs killed at random instants and never resumed, items added between runs (some with the highest value
    so far: boundary ties): the runs that succeeded delivered every item exactly once, taken together, and so
    does the job's dataset."""
    chance = random.Random(2511)
    with ChangingSource(latency_secs=0.05) as source:  # 0.05 s a page of 10: a run works long enough to be killed
        everything = source.add(updated=1, count=60)
        schedule = Schedule(storage, source.input_for(incrementalParam=SINCE_PARAM, datasetName=JOB))
        for _ in range(5):
            schedule.killed_run(chance, within_secs=0.2)
            highest = max(item["updated"] for item in everything)
            everything += source.add(updated=highest + chance.randint(0, 1), count=chance.randint(20, 50))
        assert schedule.run().returncode == 0  # the last run goes through: the job is up to date
    assert any(ended == "killed" for ended, _items in schedule.runs)
    assert versions(schedule.delivered_by_succeeded_runs()) == versions(transformed(everything))
    assert versions(schedule.job_items()) == versions(transformed(everything))


def test_a_run_cut_by_its_maximum_charge_leaves_the_rest_to_the_next(storage: Storage) -> None:
    """Pay per event: the job's items are not charged, the run's delivered ones are; a run stopped at its maximum
    charge has delivered what it could, and the next run delivers the rest."""
    with ChangingSource() as source:
        items = source.add(updated=1, count=40)
        schedule = Schedule(storage, source.input_for(datasetName=JOB))
        first = schedule.run(**pay_per_event(max_total_charge_usd="0.05"))  # less than a page
        second = schedule.run(**pay_per_event(max_total_charge_usd="100"))
    assert first.returncode == second.returncode == 0
    assert "maximum total charge: 5 of 40 items delivered" in first.stdout
    assert [len(delivered) for _ended, delivered in schedule.runs] == [5, 35]
    assert schedule.delivered_by_succeeded_runs() == transformed(items)


def pay_per_event(max_total_charge_usd: str) -> dict[str, str]:
    prices = {"apify-default-dataset-item": {"eventPriceUsd": 0.01, "eventTitle": "Dataset item"}}
    return {
        "APIFY_ACTOR_PRICING_INFO": json.dumps(
            {"pricingModel": "PAY_PER_EVENT", "pricingPerEvent": {"actorChargeEvents": prices}}
        ),
        "APIFY_CHARGED_ACTOR_EVENT_COUNTS": json.dumps({"apify-default-dataset-item": 0}),
        "ACTOR_MAX_TOTAL_CHARGE_USD": max_total_charge_usd,
    }


def test_two_runs_at_once_never_both_work(storage: Storage, tmp_path: Path) -> None:
    """A run started while another works on the job refuses, writes nothing, and the first goes on."""
    with ChangingSource(latency_secs=0.2) as source:
        source.add(updated=1, count=60)
        actor_input = source.input_for(datasetName=JOB, waitForPreviousRunSecs=0)
        storage.write_input(actor_input)
        first = start_actor(storage, APIFY_PURGE_ON_START="1")
        job_items = storage.root / "datasets" / JOB / "__metadata__.json"
        while not job_items.exists() and first.poll() is None:
            time.sleep(0.05)
        # The second run shares the named storages only (its default ones are its own, as on the platform).
        second_storage = Storage(tmp_path / "second")
        shutil.copytree(storage.root / "key_value_stores" / JOB, second_storage.root / "key_value_stores" / JOB)
        assert first.poll() is None
        second_storage.write_input(actor_input)
        (second_storage.root / "datasets").mkdir(parents=True)
        (second_storage.root / "datasets" / JOB).symlink_to(storage.root / "datasets" / JOB)
        shutil.rmtree(second_storage.root / "key_value_stores" / JOB)
        (second_storage.root / "key_value_stores" / JOB).symlink_to(storage.root / "key_value_stores" / JOB)
        state_before = (storage.root / "key_value_stores" / JOB / "OWNER").read_text()
        second = run_actor(second_storage, APIFY_PURGE_ON_START="1")
        assert second.returncode == 1
        (line,) = [line for line in second.stdout.splitlines() if "Another run" in line]
        assert "writing anything" in line
        assert second_storage.item_count() == 0
        assert (storage.root / "key_value_stores" / JOB / "OWNER").read_text() == state_before
        assert first.wait(timeout=120) == 0
    assert storage.items() == transformed(source.served(None))


def test_a_changed_source_is_refused_for_a_named_job(storage: Storage) -> None:
    with ChangingSource() as source:
        source.add(updated=1, count=5)
        schedule = Schedule(storage, source.input_for(datasetName=JOB))
        assert schedule.run().returncode == 0
        schedule.input = {**schedule.input, "incrementalField": "id"}
        result = schedule.run()
    assert result.returncode == 1
    assert "another source" in result.stdout
    assert len(schedule.job_items()) == 5


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"incrementalParam": "since"}, "incrementalParam"),
        ({"datasetName": "job"}, "datasetName"),
        ({"incrementalField": "updated", "parallelRuns": 2}, "parallelRuns"),
        ({"incrementalField": "updated", "datasetName": "no spaces"}, "datasetName"),
    ],
)
def test_bad_incremental_input_is_refused(storage: Storage, fields: dict[str, Any], named: str) -> None:
    with ChangingSource() as source:
        line = refusal_of(storage, {"apiUrl": source.url, **fields})
    assert named in line
