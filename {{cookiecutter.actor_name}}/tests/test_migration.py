"""Migrations and aborts end to end, against the platform stand-in (platform_standin.py): the Actor runs as
on the platform, gets `migrating` or `aborting` over the events websocket, and is killed and restarted the
way the platform does it. Every check reads the dataset, the state record and the API calls the run made."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import pytest
from harness import PaginatedSource, Storage, expected_items
from platform_standin import PlatformStandIn

TOTAL = 400
PAGE = 20
# Sources are slow enough that a run is still going when a test's migration or abort arrives: 20 pages of
# 0.2 s, 4 at a time, or of 0.1 s one at a time, leave well over half a second after any of those points.
STATUS_INTERVAL_SECS = 1.0  # shortened for these tests (harness.TUNABLE_WAITS); the Actor's own is longer


def assert_exact(storage: Storage, total: int = TOTAL) -> None:
    assert storage.items() == expected_items(total)


def scenario(
    storage: Storage,
    source: PaginatedSource,
    script: Callable[[PlatformStandIn], Awaitable[None]],
    **actor_input: object,
) -> PlatformStandIn:
    """Start the Actor at home, play `script` against it, then let it run to its end."""

    async def play() -> PlatformStandIn:
        async with PlatformStandIn(storage, env={"STATUS_INTERVAL_SECS": str(STATUS_INTERVAL_SECS)}) as platform:
            await platform.start()
            await script(platform)
            if platform.process.poll() is None or platform.exit_codes[-1:] != [0]:
                await platform.wait_for_exit(within=120)
            return platform

    storage.write_input({"apiUrl": source.url, "pageSize": PAGE, **actor_input})
    return asyncio.run(play())


def assert_clean_migration(platform: PlatformStandIn, index: int = 0) -> None:
    """One reboot asked, after the state record caught up with the dataset, and no exit while migrating."""
    migration = platform.migrations[index]
    assert migration.exit_code_before_kill is None
    assert migration.reboot_after_secs is not None
    state = migration.state_at_reboot
    assert state["reboots"] == index + 1
    assert state["pushed"] == migration.item_count_at_reboot  # checkpoint written before the reboot call
    assert state["pushed"] == len(expected_items(state["offset"]))


def test_migrating_before_the_first_page(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.migrate()

    with PaginatedSource(total=TOTAL, slow_pages={0: 1.0}) as source:
        platform = scenario(storage, source, script)
    assert_clean_migration(platform)
    assert platform.migrations[0].item_count_at_reboot == 0
    assert len(platform.reboot_calls()) == 1
    assert platform.exit_codes == [-9, 0]
    assert_exact(storage)


def test_migrating_mid_run_asks_one_reboot_though_the_handler_runs_twice(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.wait_for_items(100)
        await platform.migrate()

    with PaginatedSource(total=TOTAL, latency_secs=0.2) as source:
        platform = scenario(storage, source, script)
    assert_clean_migration(platform)
    # Actor.reboot() calls the listener again; the second call returns at once: one reboot, one save.
    assert (storage.root.parent / "actor.log").read_text().count("Migrating: state saved") == 1
    assert len(platform.reboot_calls()) == 1
    assert platform.exit_codes == [-9, 0]
    assert_exact(storage)
    assert storage.progress() == {"offset": TOTAL, "pushed": len(expected_items(TOTAL)), "pending": 0, "finished": True}
    assert storage.state()["reboots"] == 1


def test_migrating_during_a_slow_page_abandons_it_and_fetches_it_again(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.wait_for_items(len(expected_items(100)))  # all before the slow page is saved
        assert (100, PAGE, 200) in source.requests  # and the slow page is being fetched
        await platform.migrate()

    with PaginatedSource(total=TOTAL, slow_pages={100: 3.0}) as source:
        platform = scenario(storage, source, script)
    assert_clean_migration(platform)
    assert platform.migrations[0].item_count_at_reboot == len(expected_items(100))
    # The reboot did not wait for the slow page (it was asked before the page was answered); the
    # restarted run asked for that page again.
    first_answer = next(at for offset, at in source.answered if offset == 100)
    assert platform.reboot_calls()[0].at < first_answer
    assert [offset for offset, _l, _s in source.requests].count(100) == 2
    assert_exact(storage)


def test_migrating_after_the_last_page(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.wait_for_items(len(expected_items(TOTAL)))
        await platform.migrate()

    with PaginatedSource(total=TOTAL) as source:
        platform = scenario(storage, source, script)
    # The run may have ended (finished, exit 0) before the event came; if not, it rebooted once.
    assert len(platform.reboot_calls()) <= 1
    assert platform.exit_codes[-1] == 0
    assert_exact(storage)
    assert storage.state()["finished"] is True


def test_two_migrations_in_one_run(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.wait_for_items(80)
        await platform.migrate()
        await platform.wait_for_items(240)
        await platform.migrate()

    with PaginatedSource(total=TOTAL, latency_secs=0.1) as source:
        platform = scenario(storage, source, script, prefetchPages=1)
    assert_clean_migration(platform, 0)
    assert_clean_migration(platform, 1)
    assert len(platform.reboot_calls()) == 2
    assert platform.exit_codes == [-9, -9, 0]
    assert_exact(storage)


def test_migrations_past_the_reboot_guard_wait_for_the_platform_instead_of_looping(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        for _ in range(4):
            await platform.wait_for_items(storage.item_count() + PAGE)
            await platform.migrate(time_remaining_secs=3)

    with PaginatedSource(total=TOTAL, latency_secs=0.1) as source:
        platform = scenario(storage, source, script, prefetchPages=1)
    for index in range(3):
        assert_clean_migration(platform, index)
    fourth = platform.migrations[3]
    assert fourth.reboot_after_secs is None  # no fourth reboot asked: the platform's grace period ended it
    assert fourth.exit_code_before_kill is None  # and it did not exit 0 meanwhile
    assert len(platform.reboot_calls()) == 3
    assert platform.exit_codes == [-9, -9, -9, -9, 0]
    assert_exact(storage)


def test_aborting_checkpoints_and_exits_and_a_resumed_run_continues(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.wait_for_items(100)
        await platform.send("aborting")
        assert await platform.wait_for_exit(within=30) == 0
        stopped_at = storage.state()
        assert stopped_at["pushed"] == storage.item_count() < len(expected_items(TOTAL))
        assert stopped_at["pushed"] == len(expected_items(stopped_at["offset"]))
        assert stopped_at["finished"] is False
        await platform.start()  # resurrect

    with PaginatedSource(total=TOTAL, latency_secs=0.1) as source:
        platform = scenario(storage, source, script, prefetchPages=1)
    assert platform.exit_codes == [0, 0]
    assert platform.reboot_calls() == []
    assert any("Stopped (aborting)" in message for _t, message, _terminal in platform.status_messages())
    assert_exact(storage)


def test_status_messages_reach_the_platform_rate_limited(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        pass

    with PaginatedSource(total=TOTAL, latency_secs=0.15) as source:  # a run of about 3 s, a page at a time
        platform = scenario(storage, source, script, prefetchPages=1)
    messages = platform.status_messages()
    progress = [(at, text) for at, text, terminal in messages if not terminal]
    assert len(progress) >= 2
    assert progress[0][1] == f"{len(expected_items(PAGE))} items pushed; next offset {PAGE}."
    assert all(
        later - earlier >= STATUS_INTERVAL_SECS * 0.95 for (earlier, _), (later, _) in itertools.pairwise(progress)
    )
    assert len(progress) < TOTAL // PAGE  # not one per page
    done = f"Done: {len(expected_items(TOTAL))} items pushed, source read to offset {TOTAL}."
    assert messages[-1][1:] == (done, True)


@pytest.mark.parametrize("kill_at_items", [40, 200])
def test_a_crash_on_the_platform_is_resumed_exactly(storage: Storage, kill_at_items: int) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.wait_for_items(kill_at_items)
        platform.kill()
        await platform.start()

    with PaginatedSource(total=TOTAL, latency_secs=0.2) as source:
        platform = scenario(storage, source, script)
    assert platform.exit_codes == [-9, 0]
    assert_exact(storage)
