"""The Actor as users run it (`python -m <package>` on local storage) against a real HTTP source:
complete runs, kill -9 and restart, injected crashes, old and corrupt state, bad input, flaky sources.
Every check reads the dataset files and the state record the run left behind.
"""

from __future__ import annotations

import json
import random
import signal
import time

import odd_values
import pytest
from harness import (
    TRANSFORM_VARIABLE,
    PaginatedSource,
    Storage,
    duplicates_and_missing,
    expected_items,
    kill_while_working,
    refusal_of,
    run_actor,
    source_item,
)


def assert_exact(storage: Storage, total: int) -> None:
    """The dataset is the transformed source, in order: no item lost, none duplicated."""
    items, expected = storage.items(), expected_items(total)
    assert duplicates_and_missing(items, expected) == (0, 0)
    assert items == expected
    assert storage.state()["pushed"] == len(expected)


def pages_holding(count: int, page_size: int) -> int:
    """How many pages of the source hold the first `count` transformed items."""
    pages = 1
    while len(expected_items(pages * page_size)) < count:
        pages += 1
    return pages


def test_reads_the_whole_source_in_order(storage: Storage) -> None:
    with PaginatedSource(total=237, items_path="data.items") as source:
        storage.write_input({"apiUrl": f"{source.url}?apiKey=abc", "pageSize": 50, "itemsPath": "data.items"})
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert_exact(storage, 237)
    assert storage.progress() == {"offset": 237, "pushed": len(expected_items(237)), "pending": 0, "finished": True}
    offsets = [offset for offset, _limit, _status in source.requests]
    assert sorted(offset for offset in offsets if offset < 237) == [0, 50, 100, 150, 200]  # each page once
    assert max(offsets) < 200 + 4 * 50  # past the end, no more than the prefetched pages were asked for


def test_query_already_in_the_url_is_kept(storage: Storage) -> None:
    with PaginatedSource(total=30, offset_param="skip") as source:
        # The URL's own limit is replaced by the page size; its other parameters stay.
        storage.write_input(
            {"apiUrl": f"{source.url}?limit=999&skip=7", "offsetParam": "skip", "pageSize": 20, "prefetchPages": 1}
        )
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert_exact(storage, 30)
    # The short page at 20 is confirmed as the end by one more request (it might be a page-size cap).
    assert [(offset, limit) for offset, limit, _status in source.requests] == [(0, 20), (20, 20), (30, 20)]


def test_max_items_stops_without_reading_on(storage: Storage) -> None:
    with PaginatedSource(total=1000, items_path="products") as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 40, "itemsPath": "products", "maxItems": 130})
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert storage.items() == expected_items(1000)[:130]
    assert len(source.requests) == pages_holding(130, 40)  # nothing after the page with the 130th item


def test_max_items_bounds_the_pages_fetched_ahead(storage: Storage) -> None:
    with PaginatedSource(total=1000) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 20, "maxItems": 50, "prefetchPages": 8})
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert storage.items() == expected_items(1000)[:50]
    # Never more pages ahead than the items still wanted could fill: nothing past the last page needed.
    assert {offset for offset, _limit, _status in source.requests} == {
        20 * page for page in range(pages_holding(50, 20))
    }


def test_the_end_of_the_data_drops_the_pages_fetched_past_it(storage: Storage) -> None:
    # Pages past the end fail here: they were asked for ahead of time and must not matter.
    past_the_end = {offset: [500] * 10 for offset in range(100, 300, 20)}
    with PaginatedSource(total=90, faults=past_the_end, slow_pages={80: 0.5}) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 20, "prefetchPages": 8, "maxRequestRetries": 0})
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert_exact(storage, 90)
    assert any(offset >= 100 for offset, _limit, _status in source.requests)


def test_a_finished_run_started_again_does_nothing(storage: Storage) -> None:
    with PaginatedSource(total=60) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 25})
        assert run_actor(storage).returncode == 0
        requests_of_first_run = len(source.requests)
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert len(source.requests) == requests_of_first_run
    assert_exact(storage, 60)


@pytest.mark.parametrize(("style", "first_max_items"), [("cursor", 80), ("cursorItem", 80), ("nextUrl", 30)])
def test_a_page_cut_by_max_items_is_finished_once_after_a_restart_with_a_smaller_page_size(
    storage: Storage, style: str, first_max_items: int
) -> None:
    """maxItems stops the run inside a page of 50 (the first page for nextUrl, whose next URLs carry their own page
    size; one named by a cursor for the others); the user raises maxItems and lowers pageSize to 20, fewer than the
    items of the cut page already used, and runs again."""
    with PaginatedSource(total=150, style=style) as source:
        storage.write_input(source.input_for(pageSize=50, maxItems=first_max_items))
        assert run_actor(storage).returncode == 0
        assert storage.items() == expected_items(first_max_items, style)
        storage.write_input(source.input_for(pageSize=20, maxItems=1000))
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert_exact(storage, 150)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_random_moments_then_restart(storage: Storage, seed: int) -> None:
    chance = random.Random(seed)
    total = 900
    # 30 pages of at least 0.3 s, 4 at a time; each kill is timed from the first item its start lands.
    with PaginatedSource(total=total, latency_secs=0.3) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 30})
        kills = 0
        for _attempt in range(12):
            kills += kill_while_working(storage, chance, within_secs=1.2)
            if storage.state() and storage.state()["finished"]:
                break
        else:
            pytest.fail("the Actor did not finish in 12 starts")
    assert kills >= 1, "no kill landed: the trial proved nothing"
    assert_exact(storage, total)


@pytest.mark.parametrize("crash_after_push", [1, 3])
def test_crash_between_push_and_checkpoint_is_reconciled(storage: Storage, crash_after_push: int) -> None:
    with PaginatedSource(total=100, latency_secs=0.1) as source:  # a page a push: far slower than a commit
        storage.write_input({"apiUrl": source.url, "pageSize": 10, "prefetchPages": 1})
        crashed = run_actor(storage, entry="tests/crash_after_push.py", CRASH_AFTER_PUSH=str(crash_after_push))
        assert crashed.returncode == -signal.SIGKILL
        # The dataset is a group of pages ahead of the checkpoint: exactly the case the ledger is for.
        assert storage.progress()["pending"] == storage.item_count() - storage.progress()["pushed"] > 0
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert_exact(storage, 100)
    assert "landed after the last checkpoint" in result.stdout


def test_max_items_lowered_below_what_a_crashed_push_landed_keeps_those_items_and_says_so(storage: Storage) -> None:
    """maxItems lowered after a crash between a push and its checkpoint, below what that push landed: the items that
    landed stay (a dataset item is never taken back), the state counts them, and the status message tells."""
    # Page 1 is slow: the pages fetched ahead behind it wait, and are handed over while its commit is under way:
    # the third commit is of several pages, one push.
    with PaginatedSource(total=1000, slow_pages={10: 0.5}) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 10, "prefetchPages": 8})
        crashed = run_actor(storage, entry="tests/crash_after_push.py", CRASH_AFTER_PUSH="3")
        assert crashed.returncode == -signal.SIGKILL
        landed = storage.item_count()
        assert storage.progress()["pushed"] == 20, storage.progress()
        assert storage.progress()["pending"] == landed - 20 >= 30, "the crashed push was not of several pages"
        storage.write_input({"apiUrl": source.url, "pageSize": 10, "prefetchPages": 8, "maxItems": landed - 15})
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert storage.items() == expected_items(1000)[:landed]
    assert (storage.progress()["pushed"], storage.progress()["pending"]) == (landed, 0)
    final = [line for line in result.stdout.splitlines() if "status message]" in line.lower()][-1]
    assert f"Done: {landed} items pushed" in final
    assert f"maxItems ({landed - 15}) is below the {landed} items" in final


def test_a_crash_after_a_push_of_values_json_cannot_encode_natively_is_reconciled(storage: Storage) -> None:
    """Dates, Decimals and UUIDs are stored as their str() (as the SDK pushes them): the read-back compares alike."""
    with PaginatedSource(total=60) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 10, "prefetchPages": 1})
        odd = {TRANSFORM_VARIABLE: "odd_values:with_odd_values"}
        crashed = run_actor(storage, entry="tests/crash_after_push.py", CRASH_AFTER_PUSH="2", **odd)
        assert crashed.returncode == -signal.SIGKILL
        assert storage.progress()["pending"] > 0
        result = run_actor(storage, **odd)
    assert result.returncode == 0, result.stdout
    assert storage.items() == odd_values.stored([odd_values.with_odd_values(source_item(i)) for i in range(60)])
    assert "landed after the last checkpoint" in result.stdout


@pytest.mark.parametrize(
    ("bug", "said"),
    [
        ("exit", "SystemExit: 0"),  # sys.exit(0) in user code: exit 0 would mark the run done with items missing
        ("interrupt", "KeyboardInterrupt"),
        ("lines", "ValueError: first line second line Traceback (most recent call last): a third"),
        ("message", "MessageThatFails: (its message cannot be shown)"),
    ],
)
def test_any_error_in_the_transform_ends_the_run_with_one_line_and_a_rerun_goes_on(
    storage: Storage, bug: str, said: str
) -> None:
    with PaginatedSource(total=60) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 10, "prefetchPages": 1})
        buggy = {TRANSFORM_VARIABLE: "odd_values:buggy"}
        failed = run_actor(storage, ODD_BUG=bug, **buggy)
        assert failed.returncode == 1, failed.stdout[-3000:]
        assert "Traceback (most recent call last):\n" not in failed.stdout + failed.stderr
        (line,) = [line for line in failed.stdout.splitlines() if "The run failed on an unexpected error" in line]
        assert line.endswith(said)
        assert "(in _" in line  # where it was raised
        assert storage.item_count() == 40  # the pages before it
        result = run_actor(storage, **buggy)
    assert result.returncode == 0, result.stdout
    assert_exact(storage, 60)


def test_state_of_an_older_version_resumes(storage: Storage) -> None:
    with PaginatedSource(total=90) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 20, "maxItems": 40})
        assert run_actor(storage).returncode == 0
        # An older version wrote only these two keys; the new keys come from the defaults.
        old = {key: storage.state()[key] for key in ("offset", "pushed")}
        storage.write_record("APIFY_GLOBAL_STATE", json.dumps(old))
        storage.write_input({"apiUrl": source.url, "pageSize": 20})
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert f"Resuming at offset {old['offset']} with {old['pushed']} items pushed" in result.stdout
    assert_exact(storage, 90)
    assert storage.progress() == {"offset": 90, "pushed": len(expected_items(90)), "pending": 0, "finished": True}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2, 3]", "is a JSON list, not an object"),
        ('{"offset": "ten", "pushed": 20}', "offset='ten'"),
        ('{"offset": -5, "pushed": 20}', "offset=-5"),
        ('{"offset": 40, "pushed": 600}', "fewer than the 600 items the state record APIFY_GLOBAL_STATE says"),
    ],
)
def test_corrupt_state_fails_clearly_and_touches_nothing(storage: Storage, record: str, message: str) -> None:
    with PaginatedSource(total=50) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 10, "maxItems": 20})
        assert run_actor(storage).returncode == 0
        storage.write_record("APIFY_GLOBAL_STATE", record)
        before = storage.snapshot()
        requests_before = len(source.requests)
        result = run_actor(storage)
    assert result.returncode == 1
    assert message in result.stdout
    assert storage.snapshot() == before
    assert storage.state_text() == record
    assert len(source.requests) == requests_before


@pytest.mark.parametrize(
    ("actor_input", "named"),
    [
        ({}, ["apiUrl"]),
        ({"apiUrl": "ftp://example.com/items"}, ["apiUrl"]),
        ({"apiUrl": "http://127.0.0.1:9/items", "pageSize": "100"}, ["pageSize"]),
        ({"apiUrl": "http://127.0.0.1:9/items", "pageSize": 0, "maxItems": -1}, ["pageSize", "maxItems"]),
        ({"apiUrl": "http://127.0.0.1:9/items", "offsetParam": 3, "itemsPath": None}, ["offsetParam", "itemsPath"]),
        ({"apiUrl": "http://127.0.0.1:99999/items"}, ["apiUrl"]),
        ({"apiUrl": "http://127.0.0.1:9/items", "headers": {"X-Key": "s3cret-value\r\nX-Evil: 1"}}, ["headers"]),
        (
            {"apiUrl": "http://127.0.0.1:9/items", "pagination": "page", "limitParam": "page.n", "requestBody": {}},
            ["input"],  # a check of several fields: pageParam 'page' and limitParam 'page.n' collide
        ),
    ],
)
def test_bad_input_is_refused_with_every_field_named(storage: Storage, actor_input: dict, named: list[str]) -> None:
    line = refusal_of(storage, actor_input)
    for field in named:
        assert f"{field}:" in line
    assert "s3cret" not in line


def test_429_and_500_bursts_are_retried_and_the_output_stays_exact(storage: Storage) -> None:
    faults = {0: [500, 429], 40: [503, 503, 429], 80: [429]}
    with PaginatedSource(total=100, faults=faults, retry_after="0") as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 20})
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert_exact(storage, 100)
    served = [offset for offset, _limit, status in source.requests if status == 200]
    assert sorted(offset for offset in served if offset < 100) == [0, 20, 40, 60, 80]  # each page once
    assert all(not pending for pending in faults.values())


def test_a_source_that_keeps_failing_gives_up_naming_url_and_status(storage: Storage) -> None:
    with PaginatedSource(total=100, faults={20: [500] * 10}) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 20, "maxRequestRetries": 2})
        result = run_actor(storage)
    assert result.returncode == 1
    assert f"{source.url}?offset=20&limit=20 failed 3 times; last: HTTP 500" in result.stdout
    assert [offset for offset, _limit, _status in source.requests].count(20) == 3
    # What came before the failure is kept and checkpointed: a resume goes on from offset 20.
    assert storage.items() == expected_items(20)
    assert storage.state()["offset"] == 20


def test_a_client_error_is_not_retried(storage: Storage) -> None:
    with PaginatedSource(total=100, faults={0: [403]}) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 20})
        result = run_actor(storage)
    assert result.returncode == 1
    assert "answered HTTP 403; this is not retried" in result.stdout
    assert [offset for offset, _limit, _status in source.requests].count(0) == 1


def test_a_rest_api_whose_items_are_called_errors_is_read_like_any_other(storage: Storage) -> None:
    """A plain GET of an error-log endpoint: its page's top-level `errors` list is its items, not a GraphQL error."""
    with PaginatedSource(total=45, items_path="errors") as source:
        storage.write_input(source.input_for(pageSize=20, maxRequestRetries=1))
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert_exact(storage, 45)
    assert "GraphQL" not in result.stdout


@pytest.mark.parametrize(
    ("items_path", "message"),
    [("data.rows", "itemsPath 'data.rows': the response has no key 'rows'"), ("", "is a JSON dict, not a list")],
)
def test_items_path_that_leads_nowhere_names_the_path(storage: Storage, items_path: str, message: str) -> None:
    with PaginatedSource(total=10, items_path="data.items") as source:
        storage.write_input({"apiUrl": source.url, "itemsPath": items_path})
        result = run_actor(storage)
    assert result.returncode == 1
    assert message in result.stdout
    assert storage.item_count() == 0


def test_progress_is_shown_as_status_messages(storage: Storage) -> None:
    with PaginatedSource(total=45) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 10})
        started = time.monotonic()
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    statuses = [line for line in result.stdout.splitlines() if "status message]" in line.lower()]
    assert f"{len(expected_items(10))} items pushed; next offset 10." in statuses[0]
    assert f"Done: {len(expected_items(45))} items pushed" in statuses[-1]
    # Throttled: a short run shows its first page and its end, not every page.
    assert len(statuses) <= 2 + (time.monotonic() - started) // 5
