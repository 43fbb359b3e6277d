"""The ledger held to the platform's ways (through the SDK's own Apify storage client against the stand-in's
storage API: a lagging item count, lost push responses, refused pushes, a maximum total charge), tied to its
input, and exact at the edges: a smaller page size after a crash, maxItems inside a page, items that are not
objects, an abort followed by a migration, a stop while a page is still being fetched."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable

import odd_values
import pytest
from harness import (
    TRANSFORM_VARIABLE,
    PaginatedSource,
    Storage,
    expected_items,
    package_name,
    run_actor,
    source_item,
)
from platform_standin import PlatformStandIn, PlatformWays

TOTAL = 200
PAGE = 20
CRASH_ENTRY = "tests/crash_after_push.py"
SHORT_PUSH_WAITS = {"PUSH_SETTLE_SECS": "1", "PUSH_BACKOFF_SECS": "0.1"}  # harness.TUNABLE_WAITS
# Seconds a page of the source takes, for the tests that count pushes (with prefetchPages 1): far longer than a
# commit here, so that each page is a group of its own (pages fetched while a commit is in flight go together).
ONE_PAGE_A_PUSH = 0.1


def at_home(
    storage: Storage,
    script: Callable[[PlatformStandIn], Awaitable[None]],
    ways: PlatformWays | None = None,
    **env: str,
) -> PlatformStandIn:
    """Play `script` against the Actor run at home on the stand-in; return the stand-in for its records."""

    async def play() -> PlatformStandIn:
        async with PlatformStandIn(storage, env=env, ways=ways or PlatformWays()) as platform:
            await script(platform)
            return platform

    return asyncio.run(play())


async def start_and_finish(platform: PlatformStandIn) -> None:
    await platform.start()
    assert await platform.wait_for_exit(within=120) == 0


def log_of(storage: Storage) -> str:
    return (storage.root.parent / "actor.log").read_text(errors="replace")


@pytest.mark.parametrize("crash_after_push", [1, 2, 5])
def test_a_kill_right_after_a_push_with_a_lagging_item_count_and_an_instant_restart(
    storage: Storage, crash_after_push: int
) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.start(entry=CRASH_ENTRY, CRASH_AFTER_PUSH=str(crash_after_push))
        assert await platform.wait_for_exit(within=60) == -signal.SIGKILL
        assert storage.progress()["pending"] > 0  # the dataset is ahead of the checkpoint
        await start_and_finish(platform)  # at once: the item count still says what it said before the push

    with PaginatedSource(total=TOTAL, latency_secs=ONE_PAGE_A_PUSH) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE, "prefetchPages": 1})
        at_home(storage, script, PlatformWays(item_count_lag_secs=30))
    assert storage.items() == expected_items(TOTAL)
    assert "landed after the last checkpoint" in log_of(storage)


def test_a_group_of_pages_cut_in_the_middle_of_its_push_by_a_kill(storage: Storage) -> None:
    """With 30 ms a storage call, the pages fetched ahead while a commit is in flight go together; the platform
    stores only the first 30 items of the first push of more (a page and a half) when the Actor is killed."""

    async def script(platform: PlatformStandIn) -> None:
        await platform.start()
        assert await platform.wait_for_exit(within=60) == -signal.SIGKILL
        await start_and_finish(platform)

    with PaginatedSource(total=TOTAL, latency_secs=0.02) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE, "prefetchPages": 8})
        platform = at_home(storage, script, PlatformWays(storage_latency_secs=0.03, cut_push_after=30))
    assert storage.items() == expected_items(TOTAL)
    assert max(platform.storage_api.pushed_sizes) > PAGE  # groups of pages: more than one page a push
    assert "landed after the last checkpoint" in log_of(storage)


def test_a_push_whose_response_is_lost_is_read_back_not_pushed_twice(storage: Storage) -> None:
    with PaginatedSource(total=TOTAL, latency_secs=ONE_PAGE_A_PUSH) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE, "prefetchPages": 1})
        platform = at_home(storage, start_and_finish, PlatformWays(lost_push_responses={2, 5}, item_count_lag_secs=5))
    assert storage.items() == expected_items(TOTAL)
    assert platform.storage_api.items_stored == len(expected_items(TOTAL))  # none pushed twice
    assert log_of(storage).count("reading back what landed") == 2


def test_a_refused_push_is_pushed_again(storage: Storage) -> None:
    with PaginatedSource(total=TOTAL, latency_secs=ONE_PAGE_A_PUSH) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE, "prefetchPages": 1})
        at_home(storage, start_and_finish, PlatformWays(refused_pushes={1, 3, 4}), **SHORT_PUSH_WAITS)
    assert storage.items() == expected_items(TOTAL)
    assert storage.progress() == {"offset": TOTAL, "pushed": len(expected_items(TOTAL)), "pending": 0, "finished": True}


def pay_per_event(max_total_charge_usd: str, charged_items: int) -> dict[str, str]:
    prices = {"apify-default-dataset-item": {"eventPriceUsd": 0.01, "eventTitle": "Dataset item"}}
    return {
        "APIFY_ACTOR_PRICING_INFO": json.dumps(
            {"pricingModel": "PAY_PER_EVENT", "pricingPerEvent": {"actorChargeEvents": prices}}
        ),
        "APIFY_CHARGED_ACTOR_EVENT_COUNTS": json.dumps({"apify-default-dataset-item": charged_items}),
        "ACTOR_MAX_TOTAL_CHARGE_USD": max_total_charge_usd,
    }


def test_the_charge_limit_stops_pushes_at_what_landed_and_a_resumed_run_goes_on(storage: Storage) -> None:
    budget = len(expected_items(TOTAL)) // 3  # items the first run may charge for: inside a page, most likely

    async def script(platform: PlatformStandIn) -> None:
        await platform.start(**pay_per_event(f"{budget * 0.01:.2f}", 0))
        assert await platform.wait_for_exit(within=60) == 0
        assert storage.item_count() == budget
        assert storage.progress()["pushed"] == budget
        assert not storage.progress()["finished"]
        _at, message, terminal = platform.status_messages()[-1]
        assert terminal
        assert "maximum total charge is reached, after" in message
        # Resurrected with a higher limit (the platform counts what was charged so far).
        await platform.start(**pay_per_event("100", budget))
        assert await platform.wait_for_exit(within=60) == 0

    with PaginatedSource(total=TOTAL) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE})
        at_home(storage, script)
    assert storage.items() == expected_items(TOTAL)


@pytest.mark.parametrize(
    ("changed", "named"),
    [({"itemsPath": "data"}, "itemsPath"), ({"offsetParam": "skip"}, "offsetParam"), ({"apiUrl": "other"}, "apiUrl")],
)
def test_a_resume_with_another_source_fails_naming_what_changed(storage: Storage, changed: dict, named: str) -> None:
    with PaginatedSource(total=TOTAL) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE, "maxItems": 50})
        assert run_actor(storage).returncode == 0
        other = {**changed, "apiUrl": f"{source.url}?v=2"} if "apiUrl" in changed else changed
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE, **other})
        before = storage.snapshot()
        requests_before = len(source.requests)
        result = run_actor(storage)
    assert result.returncode == 1
    assert f"was written for another source ({named} changed)" in result.stdout
    assert "To start over" in result.stdout
    assert storage.snapshot() == before
    assert len(source.requests) == requests_before


def test_a_resume_without_a_field_that_defined_the_source_fails_naming_it(storage: Storage) -> None:
    """A record written with a source field the input no longer gives (a run POSTed with a requestBody, resumed
    without it) is another source too."""
    with PaginatedSource(total=TOTAL) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE, "maxItems": 50})
        assert run_actor(storage).returncode == 0
        state = storage.state()
        state["source"]["requestBody"] = "0123456789ab"  # as a run with a requestBody fingerprints it
        storage.write_record("APIFY_GLOBAL_STATE", json.dumps(state))
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE})
        before = storage.snapshot()
        result = run_actor(storage)
    assert result.returncode == 1
    assert "was written for another source (requestBody changed)" in result.stdout
    assert storage.snapshot() == before


def test_page_size_max_items_and_prefetch_may_change_between_restarts(storage: Storage) -> None:
    with PaginatedSource(total=TOTAL) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 30, "maxItems": 45, "prefetchPages": 1})
        assert run_actor(storage).returncode == 0
        storage.write_record("APIFY_GLOBAL_STATE", json.dumps({**storage.state(), "finished": False}))
        storage.write_input({"apiUrl": source.url, "pageSize": 7, "maxItems": 0, "prefetchPages": 6})
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert storage.items() == expected_items(TOTAL)


def test_a_smaller_page_size_after_a_crash_in_the_window_carries_the_landed_items_over(storage: Storage) -> None:
    with PaginatedSource(total=TOTAL) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 50})
        crashed = run_actor(storage, entry=CRASH_ENTRY, CRASH_AFTER_PUSH="2")
        assert crashed.returncode == -signal.SIGKILL
        storage.write_input({"apiUrl": source.url, "pageSize": 15})
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert storage.items() == expected_items(TOTAL)


def test_max_items_inside_a_page_checkpoints_just_after_the_last_item_used_and_may_be_raised(storage: Storage) -> None:
    wanted = 30
    used = next(n for n in range(TOTAL + 1) if len(expected_items(n)) == wanted)  # source items that make 30
    with PaginatedSource(total=TOTAL) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE, "maxItems": wanted})
        assert run_actor(storage).returncode == 0
        # Not finished: the source goes on, and maxItems may be raised.
        assert storage.progress() == {"offset": used, "pushed": wanted, "pending": 0, "finished": False}
        assert run_actor(storage).returncode == 0  # the same limit again: done at once, nothing more
        assert storage.items() == expected_items(used)
        # Raised (local resume of the same run): it goes on from there, nothing skipped.
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE, "maxItems": 2 * wanted})
        assert run_actor(storage).returncode == 0
        assert storage.items() == expected_items(TOTAL)[: 2 * wanted]
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE})  # no limit: to the end
        assert run_actor(storage).returncode == 0
    assert storage.items() == expected_items(TOTAL)


def test_an_item_that_is_not_an_object_fails_at_once_naming_its_offset(storage: Storage) -> None:
    transform = __import__(f"{package_name()}.main", fromlist=["transform"]).transform
    try:
        kept = transform("item-45")
    except Exception:
        pytest.skip("this project's transform does not take bare strings")
    if kept is None or isinstance(kept, dict):
        pytest.skip("this project's transform turns bare strings into objects or drops them")
    with PaginatedSource(total=TOTAL, not_objects={45}) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE, "prefetchPages": 1})
        result = run_actor(storage)
    assert result.returncode == 1
    assert "The item at source offset 45 is a JSON str, not an object" in result.stdout
    assert storage.items() == expected_items(40)  # the pages before it, and nothing of its page
    assert storage.progress()["offset"] == 40


def test_an_abort_is_final_a_later_migrating_saves_without_a_reboot(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.start()
        await platform.wait_for_items(40)
        await platform.send("aborting")
        await platform.send("migrating", {"timeRemainingSecs": 30})
        assert await platform.wait_for_exit(within=30) == 0

    with PaginatedSource(total=TOTAL * 2, latency_secs=0.1) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE, "prefetchPages": 1})
        platform = at_home(storage, script)
    assert platform.reboot_calls() == []
    assert "Stopped (aborting)" in platform.status_messages()[-1][1]
    assert storage.progress()["pushed"] == storage.item_count()
    assert storage.items() == expected_items(storage.progress()["offset"])


def test_a_stop_cancels_the_page_being_fetched(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.start()
        await platform.wait_for_items(len(expected_items(PAGE)))
        while (PAGE, PAGE, 200) not in source.requests:  # the slow page is being fetched
            await asyncio.sleep(0.01)
        await platform.send("aborting")
        assert await platform.wait_for_exit(within=20) == 0  # long before the slow page would be answered

    with PaginatedSource(total=TOTAL, slow_pages={PAGE: 60}) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE, "prefetchPages": 1})
        at_home(storage, script)
        assert PAGE not in [offset for offset, _at in source.answered]
    assert storage.progress() == {"offset": PAGE, "pushed": len(expected_items(PAGE)), "pending": 0, "finished": False}


def test_an_unexpected_error_ends_the_run_with_one_message_in_the_status_and_the_log(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.start(**{TRANSFORM_VARIABLE: "odd_values:failing"})  # a bug at the item with id 45
        assert await platform.wait_for_exit(within=60) == 1  # failed, not an unhandled exception (91)

    with PaginatedSource(total=TOTAL) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": PAGE, "prefetchPages": 1})
        platform = at_home(storage, script)
    _at, message, terminal = platform.status_messages()[-1]
    assert terminal
    assert message.startswith("The run failed on an unexpected error (in failing, odd_values.py:")
    assert message.endswith("ZeroDivisionError: division by zero")
    assert message in log_of(storage)  # at home the SDK only sets the status message: the log says it too
    assert "Traceback" not in log_of(storage)
    assert storage.items() == [odd_values.failing(source_item(i)) for i in range(40)]  # the pages before it
