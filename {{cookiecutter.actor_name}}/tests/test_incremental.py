"""Incremental runs on a schedule (JSON kind): successive `python -m <package>` runs in one folder, default
storages purged at each start as `apify run` does, named ones kept, against a source whose items change between
runs. A run killed with kill -9 and never resumed is a run that failed for good. Every check reads the files the
runs left: each run's default dataset (kept aside after it ends) and the job's named dataset.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from changing_source import SINCE_PARAM, ChangingSource
from harness import Storage, package_name, refusal_of, run_actor, start_actor
from schedule import Schedule, versions

JOB = "orders-job"  # datasetName of the tests that name their job
# The Actor with a test's ways (tests/linger_at_exit.py): a host name of its own, a pause before its exit.
ENTRY = "tests/linger_at_exit.py"


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
    # The first run's pages past the first 40 items wait until the second run has ended: it works all that time.
    with ChangingSource(latency_secs=0.1, hold_from=40) as source:
        source.add(updated=1, count=80)
        actor_input = source.input_for(datasetName=JOB, waitForPreviousRunSecs=0, prefetchPages=1)
        storage.write_input(actor_input)
        first = start_actor(storage, APIFY_PURGE_ON_START="1")
        job_items = storage.root / "datasets" / JOB / "__metadata__.json"
        while not job_items.exists() and first.poll() is None:
            time.sleep(0.05)
        # The second run shares the named storages only (its default ones are its own, as on the platform).
        second_storage = Storage(tmp_path / "second")
        assert first.poll() is None
        second_storage.write_input(actor_input)
        (second_storage.root / "datasets").mkdir(parents=True)
        (second_storage.root / "datasets" / JOB).symlink_to(storage.root / "datasets" / JOB)
        (second_storage.root / "key_value_stores" / JOB).symlink_to(storage.root / "key_value_stores" / JOB)
        owner = storage.root / "key_value_stores" / JOB / "OWNER"
        owner_before = json.loads(owner.read_text())["runId"]  # (its lease it renews meanwhile)
        second = run_actor(second_storage, APIFY_PURGE_ON_START="1")
        assert second.returncode == 1
        (line,) = [line for line in second.stdout.splitlines() if "Another run" in line]
        assert "writing anything" in line
        assert second_storage.item_count() == 0
        assert json.loads(owner.read_text())["runId"] == owner_before
        assert first.poll() is None
        source.gate.set()
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


def test_a_pass_left_half_done_is_read_again_not_gone_on_at_an_offset(storage: Storage) -> None:
    """A run that stops at maxItems leaves its pass half-done; before the next run an item it had read changes (and
    moves to the end of a source served in the order of the values). The next run reads the pass again and skips
    what the job has of it, so the list shifting under the old offset loses nothing."""
    with ChangingSource() as source:
        everything = [source.add(updated=n)[0] for n in range(1, 41)]
        schedule = Schedule(storage, source.input_for(incrementalParam=SINCE_PARAM, datasetName=JOB, maxItems=20))
        assert schedule.run().returncode == 0
        everything.append(source.touch(5, updated=41))
        schedule.input = {**schedule.input, "maxItems": 0}
        assert schedule.run().returncode == 0
    assert [len(items) for _ended, items in schedule.runs] == [20, 21]
    assert versions(schedule.delivered_by_succeeded_runs()) == versions(transformed(everything))
    assert versions(schedule.job_items()) == versions(transformed(everything))


def test_a_run_resumed_after_another_took_the_job_over_stops(storage: Storage, tmp_path: Path) -> None:
    """A run killed mid-work, then a run that does the job, then the first resumed (resurrected): it must not end
    as a run that succeeded with items that the second delivered."""
    with ChangingSource(latency_secs=0.3) as source:
        everything = source.add(updated=1, count=60)
        schedule = Schedule(storage, source.input_for(datasetName=JOB, prefetchPages=1))
        schedule.storage.write_input(schedule.input)
        killed = start_actor(storage, APIFY_PURGE_ON_START="1")
        while storage.item_count() == 0 and not list((storage.root / "datasets").glob(f"{JOB}/000000001.json")):
            time.sleep(0.02)
        killed.kill()
        killed.wait()
        aside = tmp_path / "killed-run"
        for kind in ("datasets", "key_value_stores"):
            shutil.copytree(storage.root / kind / "default", aside / kind, dirs_exist_ok=True)
        assert schedule.run().returncode == 0  # the next run does the job
        for kind in ("datasets", "key_value_stores"):  # the killed run's own storages, back for its resurrection
            shutil.rmtree(storage.root / kind / "default")
            shutil.copytree(aside / kind, storage.root / kind / "default")
        resumed = run_actor(storage, APIFY_PURGE_ON_START="0")
    assert resumed.returncode == 1
    assert "resumed after another run" in resumed.stdout
    assert versions(schedule.delivered_by_succeeded_runs()) == versions(transformed(everything))


def test_an_item_without_the_field_stops_the_run_before_its_page_is_written(storage: Storage) -> None:
    with ChangingSource() as source:
        everything = source.add(updated=1, count=30)
        del source.items[13]["updated"]
        schedule = Schedule(storage, source.input_for(datasetName=JOB, prefetchPages=1))
        failed = schedule.run()
        assert failed.returncode == 1
        assert "incrementalField 'updated' is null" in failed.stdout
        assert len(schedule.job_items()) % 10 == 0  # whole pages only: nothing of the page with that item
        assert transformed([source.items[13]])[0] not in schedule.job_items()
        source.items[13]["updated"] = 1  # the source fixed: the job goes on
        everything[13] = dict(source.items[13])
        assert schedule.run().returncode == 0
    assert versions(schedule.delivered_by_succeeded_runs()) == versions(transformed(everything))


def test_ids_written_as_text_compare_as_numbers(storage: Storage) -> None:
    with ChangingSource() as source:
        first = source.add(updated="9", count=3)  # type: ignore[arg-type]
        schedule = Schedule(storage, source.input_for(datasetName=JOB))
        assert schedule.run().returncode == 0
        later = source.add(updated="10", count=3)  # type: ignore[arg-type]
        assert schedule.run().returncode == 0
    assert [len(items) for _ended, items in schedule.runs] == [len(first), len(later)]


def test_ids_served_as_text_later_are_the_same_keys(storage: Storage) -> None:
    """The items at the last run's highest value (its ties, told apart by their keys) served again with their ids as
    text ("7" for 7: a serializer changed for large ids): they are the same items, not new ones (before, each was
    delivered again)."""
    with ChangingSource() as source:
        everything = source.add(updated=1, count=3)
        schedule = Schedule(storage, source.input_for(incrementalParam=SINCE_PARAM, datasetName=JOB))
        assert schedule.run().returncode == 0
        everything += source.add(updated=1, count=1)
        for item_id in range(4):  # (all of them: the source sorts by id too)
            source.items[item_id]["id"] = str(item_id)
        everything[3]["id"] = "3"
        assert schedule.run().returncode == 0
    assert [len(items) for _ended, items in schedule.runs] == [3, 1]
    assert versions(schedule.delivered_by_succeeded_runs()) == versions(transformed(everything))


def test_a_run_killed_between_a_push_and_its_checkpoint_and_a_changed_source(storage: Storage) -> None:
    """The items of a push landed in the job's dataset when the run died, before its checkpoint; an item already
    read changes before the next run, whose pass (from the highest value read, those items counted) is exact."""
    with ChangingSource() as source:
        everything = [source.add(updated=n)[0] for n in range(1, 61)]
        schedule = Schedule(storage, source.input_for(incrementalParam=SINCE_PARAM, datasetName=JOB, prefetchPages=1))
        schedule.storage.write_input(schedule.input)
        crashed = run_actor(storage, entry="tests/crash_after_push.py", CRASH_AFTER_PUSH="3", APIFY_PURGE_ON_START="1")
        assert crashed.returncode == -9
        everything.append(source.touch(2, updated=61))
        assert schedule.run().returncode == 0
    assert versions(schedule.delivered_by_succeeded_runs()) == versions(transformed(everything))
    assert versions(schedule.job_items()) == versions(transformed(everything))


@pytest.mark.parametrize(
    ("field", "value"),
    [("pass", "x"), ("delivery", {"run": "x", "from": 50, "to": 3, "copied": 0, "pending": 0, "done": True})],
)
def test_a_corrupt_job_record_is_refused_naming_the_field(storage: Storage, field: str, value: Any) -> None:
    with ChangingSource() as source:
        source.add(updated=1, count=5)
        schedule = Schedule(storage, source.input_for(datasetName=JOB))
        assert schedule.run().returncode == 0
        record = storage.root / "key_value_stores" / JOB / "APIFY_GLOBAL_STATE"
        state = json.loads(record.read_text())
        state["incremental"][field] = value
        record.write_text(json.dumps(state))
        source.add(updated=2, count=5)
        result = schedule.run()
    assert result.returncode == 1
    assert f"has invalid values in 'incremental' ({field})" in result.stdout
    assert len(schedule.job_items()) == 5


@pytest.mark.parametrize("since_param", [SINCE_PARAM, ""], ids=["incrementalParam", "reading-from-the-start"])
def test_a_pass_left_half_done_in_a_source_not_sorted_by_the_field_loses_nothing(
    storage: Storage, since_param: str
) -> None:
    """A source served in id order whose values are not in that order (10, 50, 20, 30, 40): its first two items
    came in the order of their values, yet the items after them are not past the highest. Runs cut by maxItems
    2 must deliver each item once, taken together (before, run 2 started a new pass past 50: three items lost)."""
    with ChangingSource(order="id") as source:
        everything = [source.add(updated=value)[0] for value in (10, 50, 20, 30, 40)]
        schedule = Schedule(storage, source.input_for(incrementalParam=since_param, datasetName=JOB, maxItems=2))
        for _ in range(4):
            assert schedule.run().returncode == 0
    assert [len(items) for _ended, items in schedule.runs] == [2, 2, 1, 0]
    assert versions(schedule.delivered_by_succeeded_runs()) == versions(transformed(everything))
    assert versions(schedule.job_items()) == versions(transformed(everything))


def test_a_newest_first_source_cut_by_max_items_delivers_each_item_once(storage: Storage) -> None:
    """A source served newest first (by `updated`, descending), runs cut by maxItems 3, one item added between
    runs: the new item comes first and pushes the list down under the half-done pass's offset (before, the item
    at the offset was delivered a second time by the next run)."""
    with ChangingSource(order="newest") as source:
        everything = [source.add(updated=value)[0] for value in range(1, 11)]
        schedule = Schedule(storage, source.input_for(datasetName=JOB, maxItems=3))
        for value in range(11, 16):
            assert schedule.run().returncode == 0
            everything += source.add(updated=value)
        schedule.input = {**schedule.input, "maxItems": 0}
        assert schedule.run().returncode == 0
        assert schedule.run().returncode == 0
    assert schedule.runs[-1][1] == []
    assert versions(schedule.delivered_by_succeeded_runs()) == versions(transformed(everything))
    assert versions(schedule.job_items()) == versions(transformed(everything))


def test_a_run_killed_in_another_container_is_taken_over_once_its_lease_ends(storage: Storage) -> None:
    """A run in another container (another host name, the storage mounted) is killed with kill -9 mid-work: its
    process cannot be looked at from here, so its claim on the job holds until its lease ends (the run renews it
    while it lives); then the next run takes the job over and hands the killed run's work over. A run that cannot
    wait that long is refused, and told when the job is free."""
    chance = random.Random(3305)
    elsewhere = {"entry": ENTRY, "TEST_HOST_NAME": "another-container"}
    with ChangingSource(latency_secs=0.3) as source:  # one page of 10 at a time: the run works for 2 s or more
        everything = source.add(updated=1, count=60)
        schedule = Schedule(storage, source.input_for(datasetName=JOB, prefetchPages=1, waitForPreviousRunSecs=30))
        assert schedule.killed_run(chance, within_secs=0.1, LEASE_SECS="4", **elsewhere)
        everything += source.add(updated=2, count=10)
        taken_over = schedule.run()
        assert taken_over.returncode == 0, taken_over.stdout
        delivered, job_items = schedule.delivered_by_succeeded_runs(), schedule.job_items()

        # A lease of an hour, and a run that waits for nobody: refused, with when the job is free.
        source.add(updated=3, count=60)
        assert schedule.killed_run(chance, within_secs=0.1, LEASE_SECS="3600", **elsewhere)
        schedule.input = {**schedule.input, "waitForPreviousRunSecs": 0}
        refused = schedule.run()
    assert versions(delivered) == versions(transformed(everything))
    assert versions(job_items) == versions(transformed(everything))
    assert refused.returncode == 1
    (line,) = [line for line in refused.stdout.splitlines() if "Another run" in line]
    assert "on another-container" in line
    assert "a later run takes the job over once its claim has lapsed, at " in line


def test_a_run_paused_after_it_released_the_job_succeeds_and_writes_nothing_more(
    storage: Storage, tmp_path: Path
) -> None:
    """A run that has delivered and released the job pauses before it exits (SIGSTOP, as a GC pause or a slow disk
    would hold it); the next run, in another container, claims the job and works. The paused run then goes on: it
    exits 0, for its delivery counted, and writes nothing more into the job's record. The working run is killed for
    good, and the run after it hands its work over: every item once."""
    with ChangingSource(latency_secs=0.2) as source:
        everything = source.add(updated=1, count=20)
        schedule = Schedule(storage, source.input_for(datasetName=JOB, prefetchPages=1))
        paused_log = tmp_path / "paused.log"
        paused = schedule.start(entry=ENTRY, PAUSE_BEFORE_EXIT="1", log_path=paused_log)
        _pid, status = os.waitpid(paused.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), paused_log.read_text()
        everything += source.add(updated=2, count=80)
        beside = schedule.in_another_container(tmp_path / "beside")
        working = beside.start()
        while beside.job_count() == 20:  # the next run claimed the job and pushes into it
            assert working.poll() is None
            time.sleep(0.01)
        working.send_signal(signal.SIGSTOP)  # held mid-work while the paused run ends
        paused.send_signal(signal.SIGCONT)
        schedule.ended(paused)
        working.kill()
        beside.ended(working, killed=True)
        last = schedule.run()
    assert paused.returncode == 0, paused_log.read_text()
    assert "Traceback" not in paused_log.read_text()
    assert last.returncode == 0, last.stdout
    assert [ended for ended, _items in schedule.runs] == ["succeeded", "killed", "succeeded"]
    assert versions(schedule.delivered_by_succeeded_runs()) == versions(transformed(everything))
    assert versions(schedule.job_items()) == versions(transformed(everything))


@pytest.mark.parametrize(
    ("first", "same_instant", "later"),
    [
        ("2024-05-01T10:00:00.1Z", "2024-05-01T12:00:00.100+02:00", "2024-05-01T10:00:00.15Z"),  # Go: fractions trimmed
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00.0Z", "2024-05-01T10:00:00.5Z"),  # Go: no fraction at all
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00.000000Z", "2024-05-01T10:00:00.500000Z"),  # isoformat(), Z
        # RFC 2822 / HTTP dates (a Last-Modified, an e-mail's Date) and Twitter's created_at: "Thu" sorts before "Wed"
        ("Wed, 01 May 2024 10:00:00 GMT", "Wed, 01 May 2024 12:00:00 +0200", "Thu, 02 May 2024 09:00:00 GMT"),
        ("Wed May 01 10:00:00 +0000 2024", "2024-05-01T10:00:00Z", "Thu May 02 09:00:00 +0000 2024"),
    ],
    ids=["trimmed-fraction", "no-fraction", "isoformat", "rfc2822", "twitter"],
)
def test_timestamps_compare_as_instants(storage: Storage, first: str, same_instant: str, later: str) -> None:
    """RFC 3339 timestamps written with fractions of different lengths (or none) and other offsets: an item later
    in the same second is new (before, as text, '10:00:00.15Z' came before '10:00:00.1Z' and was lost for good);
    an item at the same instant written otherwise is a tie, told apart by its key."""
    with ChangingSource(order="id") as source:
        everything = source.add(updated=first)
        schedule = Schedule(storage, source.input_for(datasetName=JOB))
        assert schedule.run().returncode == 0
        everything += source.add(updated=same_instant)
        assert schedule.run().returncode == 0
        everything += source.add(updated=later)
        assert schedule.run().returncode == 0
        assert schedule.run().returncode == 0
    assert [len(items) for _ended, items in schedule.runs] == [1, 1, 1, 0]
    assert versions(schedule.delivered_by_succeeded_runs()) == versions(transformed(everything))


def test_dates_whose_text_does_not_sort_are_refused(storage: Storage) -> None:
    """Dates written day or month first ("12/31/2023", "01.05.2024") sort as text neither by year nor one way:
    compared as text, items of a later year would be lost. The run stops with one line naming the value, before
    anything of its page is pushed."""
    with ChangingSource(order="id") as source:
        source.add(updated="12/31/2023 10:00")  # type: ignore[arg-type]
        source.add(updated="01/02/2024 09:00")  # type: ignore[arg-type]
        schedule = Schedule(storage, source.input_for(datasetName=JOB))
        refused = schedule.run()
    assert refused.returncode == 1
    (line,) = [line for line in refused.stdout.splitlines() if "do not sort as text" in line]
    assert "12/31/2023 10:00" in line or "01/02/2024 09:00" in line
    assert schedule.job_items() == []


def test_tasks_that_differ_only_in_their_headers_have_different_jobs(storage: Storage) -> None:
    """Two tasks of one Actor on one source whose inputs differ only in a header (the account, or shop, whose items
    the API serves, and its token): each has a job of its own, so the second delivers its own older items (before,
    it went on from the first one's highest value and delivered none). The header values name the job hashed,
    never in clear."""
    with ChangingSource(account_header="X-Shop") as source:
        shop_a = source.add(updated=5, count=3, account="shop-a-8c1f2e")
        shop_b = source.add(updated=1, count=4, account="shop-b-93d0aa")
        first = Schedule(storage, source.input_for(headers={"X-Shop": "shop-a-8c1f2e"}))
        second = Schedule(storage, source.input_for(headers={"X-Shop": "shop-b-93d0aa"}))
        assert first.run().returncode == 0
        assert second.run().returncode == 0
        assert first.run().returncode == 0
    assert [items for _ended, items in first.runs] == [transformed(shop_a), []]
    assert [items for _ended, items in second.runs] == [transformed(shop_b)]
    named = [path for path in storage.root.rglob("*") if path.is_file() and "default" not in path.parts]
    assert named
    assert not [path for path in named if "shop-a-8c1f2e" in path.name or "shop-a-8c1f2e" in path.read_text()]


def test_a_new_build_is_refused_while_a_pass_is_half_done(storage: Storage) -> None:
    """A run cut by maxItems leaves its pass half-done; the next run is a new build whose transform makes other
    items. The pass is read again from its start, skipping what the job has of it as the transform made it: the new
    transform's items would all be new, and the items the first run delivered would be delivered again. The new
    build is refused with one line, writing nothing; the previous build then ends the pass, and the new one goes on
    from there: every item once."""
    new_build = {"TEST_TRANSFORM": "new_build:with_a_new_field"}
    with ChangingSource() as source:
        everything = source.add(updated=1, count=10)
        schedule = Schedule(storage, source.input_for(datasetName=JOB, maxItems=3))
        assert schedule.run().returncode == 0
        schedule.input = {**schedule.input, "maxItems": 0}
        job_state = schedule.job_state()
        refused = schedule.run(**new_build)
        assert refused.returncode == 1
        (line,) = [line for line in refused.stdout.splitlines() if "Run the previous build" in line]
        assert "half-done" in line
        assert schedule.job_state() == job_state
        assert schedule.run().returncode == 0  # the previous build ends the pass
        later = source.add(updated=2, count=4)
        assert schedule.run(**new_build).returncode == 0
    assert [len(items) for _ended, items in schedule.runs] == [3, 0, 7, 4]
    assert versions(schedule.delivered_by_succeeded_runs()) == versions(
        transformed(everything) + [{**item, "newField": True} for item in transformed(later)]
    )
