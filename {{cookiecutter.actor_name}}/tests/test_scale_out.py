"""Scale-out over parallel Actor runs (scale_out.py) on the stand-in's runs API: every item exactly once overall,
whatever happens to the coordinator or its workers; and the stand-in's runs API, checked with the real apify-client.

These start four Actor processes at a time: they are marked `scale_out` (`pytest -m "not scale_out"` leaves them)."""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from apify_client import ApifyClientAsync
from harness import PROJECT_ROOT, ROUTES_VARIABLE, PaginatedSource, Storage, expected_items, refusal_of
from platform_standin import ACTOR_ID, RUN_ID, PlatformStandIn, PlatformWays
from rehearse import is_browser, is_crawler

pytestmark = pytest.mark.scale_out
WAITS = {"STATUS_INTERVAL_SECS": "0.2", "PUSH_SETTLE_SECS": "1", "COORDINATOR_CHECK_SECS": "0.5"}  # TUNABLE_WAITS


def small_job(
    stack: ExitStack, size: int, routes: str | None = None, *, broken_links: int = 0, **fields: Any
) -> tuple[dict[str, Any], list[Any]]:
    """An input for a short job of this kind, served on 127.0.0.1, and what the dataset must hold after it (for a
    crawl with the default routes: nothing said; with a test router of tests/, what its `expected_items` says; a
    crawl's site may also link to `broken_links` pages that are not there)."""
    if is_crawler():
        from local_site import LocalSite  # noqa: PLC0415 - the crawlers' own test site

        site = stack.enter_context(LocalSite(pages=size, latency_secs=0.02, broken_links=broken_links))
        expected = importlib.import_module(routes).expected_items(site) if routes else []
        return {"startUrls": [{"url": site.url(0)}], "maxRequestsPerCrawl": 0, **fields}, expected
    source = stack.enter_context(PaginatedSource(total=size, latency_secs=0.05))
    return source.input_for(pageSize=20, prefetchPages=1, **fields), expected_items(size)


def test_the_standin_runs_api_answers_the_real_apify_client(tmp_path: Path) -> None:
    """Start a run of this Actor through apify-client, wait for it to finish, list its dataset's items."""

    async def play(actor_input: dict[str, Any]) -> tuple[Any, list[Any], Any]:
        async with PlatformStandIn(Storage(tmp_path / "storage"), env=WAITS) as platform:
            client = ApifyClientAsync(token="stand-in-token", api_url=platform.run_env()["APIFY_API_BASE_URL"])
            started = await client.actor(ACTOR_ID).start(run_input=actor_input)
            finished = await client.run(started.id).wait_for_finish()
            listed = await client.dataset(finished.default_dataset_id).list_items()
            store = await client.key_value_store(finished.default_key_value_store_id).get_record("INPUT")
            return finished, listed.items, store

    with ExitStack() as stack:
        actor_input, expected = small_job(stack, 10 if is_browser() else 60)
        finished, items, stored_input = asyncio.run(play(actor_input))
    assert finished.status == "SUCCEEDED"
    assert finished.status_message.startswith("Done:")
    assert stored_input["value"] == actor_input
    if is_crawler():
        assert sorted(item["url"] for item in items) == sorted({item["url"] for item in items})
        assert len(items) == (10 if is_browser() else 60)
    else:
        assert items == expected


@pytest.mark.skipif(is_crawler(), reason="the JSON kind's pagination styles")
def test_a_style_read_in_sequence_refuses_parallel_runs_with_one_message(storage: Storage) -> None:
    cursor = {"pagination": "cursor", "cursorPath": "next"}
    line = refusal_of(storage, {"apiUrl": "http://127.0.0.1:9/items", **cursor, "parallelRuns": 2})
    assert "parallelRuns 2 needs pagination 'offset' or 'page'" in line
    assert "'cursor'" in line


def rehearse(tmp_path: Path, actor_input: dict[str, Any], *options: str) -> tuple[str, list[Any]]:
    """Run tests/rehearse.py on `actor_input` with --parallel-runs 3; its report, and the items it wrote."""
    (tmp_path / "input.json").write_text(json.dumps(actor_input))
    output = tmp_path / "items.json"
    command = [sys.executable, "tests/rehearse.py", "--parallel-runs", "3", "--input", str(tmp_path / "input.json")]
    command += ["--output", str(output), "--storage", str(tmp_path / "storage"), *options]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=400, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RESULT: exact" in result.stdout
    assert "workers left running   0\n" in result.stdout
    return result.stdout, json.loads(output.read_text())


@pytest.mark.skipif(is_crawler(), reason="the JSON kind's pagination styles")
@pytest.mark.parametrize("style", ["offset", "page"])
def test_three_workers_migrated_and_killed_give_every_item_once_in_order(tmp_path: Path, style: str) -> None:
    fields = {"pagination": "page", "pageParam": "page", "limitParam": "per_page"} if style == "page" else {}
    total = 3000  # 150 pages of 20 at 0.2 s each, one at a time: about 10 s for three workers
    with PaginatedSource(total=total, style=style, latency_secs=0.2) as source:
        actor_input = source.input_for(pageSize=20, prefetchPages=1, **fields)
        report, items = rehearse(tmp_path, actor_input, "--migrate-after", "2", "--kill-after", "2", "--times", "4")
    assert items == expected_items(total)
    assert "worker runs            3\n" in report
    assert report.count("migrate ") + report.count("kill ") >= 3  # the job lasted through most disruptions


@pytest.mark.skipif(not is_crawler() or is_browser(), reason="a crawl over a shared request queue")
def test_three_workers_crawl_each_page_once_within_max_requests_per_crawl(tmp_path: Path) -> None:
    from local_site import LocalSite  # noqa: PLC0415 - the crawlers' own test site

    # 400 of 3000 pages at 0.1 s each, two at a time per worker: the job outlasts most of the disruptions.
    with LocalSite(pages=3000, latency_secs=0.1) as site:
        actor_input = {"startUrls": [{"url": site.url(0)}], "maxRequestsPerCrawl": 400, "maxConcurrency": 2}
        report, items = rehearse(tmp_path, actor_input, "--migrate-after", "2", "--kill-after", "2", "--times", "4")
    urls = [item["url"] for item in items]
    assert len(urls) == len(set(urls)) == 400  # each page once, and exactly maxRequestsPerCrawl of them
    assert "pages saved            400 (maxRequestsPerCrawl 400)" in report
    assert report.count("migrate ") + report.count("kill ") >= 2


JOB_SIZE = 20 if is_browser() else 300 if is_crawler() else 1500  # pages of a site, or items of an API


Play = Callable[[PlatformStandIn], Awaitable[None]]  # what a test does with the platform


def two_worker_job(
    tmp_path: Path, play: Play, routes: str | None = None, *, broken_links: int = 0, **options: Any
) -> PlatformStandIn:
    """Play a job of JOB_SIZE over two workers on a stand-in made with `options` (a crawl: with the test router
    `routes`, a module of tests/), then check that the merged dataset holds every item (every page's) exactly
    once, in source order for the JSON kind."""
    storage = Storage(tmp_path / "storage")
    env = {**WAITS, ROUTES_VARIABLE: routes} if routes else WAITS

    async def on_the_platform() -> PlatformStandIn:
        async with PlatformStandIn(storage, env=env, **options) as platform:
            await play(platform)
            return platform

    with ExitStack() as stack:
        actor_input, expected = small_job(stack, JOB_SIZE, routes, broken_links=broken_links, parallelRuns=2)
        storage.write_input(actor_input)
        platform = asyncio.run(on_the_platform())
    if routes:
        from local_site import sort_items  # noqa: PLC0415 - the crawlers' own test site

        assert sort_items(storage.items()) == expected
    elif is_crawler():
        urls = [item["url"] for item in storage.items()]
        assert len(urls) == len(set(urls)) == JOB_SIZE
    else:
        assert storage.items() == expected
    return platform


def worker_item_count(platform: PlatformStandIn) -> int:
    """The items in the workers' datasets (unnamed ones they created: not their default ones)."""
    return sum(dataset.item_count() for run_id in platform.others for dataset in platform.created_datasets(run_id))


async def once_the_workers_are_at_work(platform: PlatformStandIn) -> None:
    while worker_item_count(platform) < JOB_SIZE // 10:
        assert platform.process.poll() is None, "the job ended too soon"
        await asyncio.sleep(0.05)


async def once_no_worker_runs(platform: PlatformStandIn, within: float) -> None:
    deadline = time.monotonic() + within
    while platform.running_runs() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert platform.running_runs() == []


def test_an_aborted_coordinator_aborts_its_workers_and_resurrected_it_finishes_the_job(tmp_path: Path) -> None:
    async def play(platform: PlatformStandIn) -> None:
        await platform.start()
        await once_the_workers_are_at_work(platform)
        await platform.send("aborting")
        assert await platform.wait_for_exit(within=60) == 0
        await once_no_worker_runs(platform, within=15)
        assert all(other.status == "ABORTED" for other in platform.others.values())
        assert all(other.exit_codes == [0] for other in platform.others.values())  # gracefully: none killed
        assert platform.storage.item_count() < JOB_SIZE
        await platform.start()  # resurrected: it resurrects its workers, and they resume
        assert await platform.wait_for_exit(within=120) == 0

    platform = two_worker_job(tmp_path, play, abort_grace_secs=20)
    assert len(platform.others) == 2  # none started twice
    assert all(other.resurrections == 1 for other in platform.others.values())
    # A resurrected worker goes on in the dataset it pushed into before (its alias, as registered), not a new one.
    assert all(len(platform.created_datasets(run_id)) == 1 for run_id in platform.others)


def test_a_coordinator_killed_as_it_starts_a_worker_finds_that_worker_and_starts_none_twice(tmp_path: Path) -> None:
    """Restarted with settings that shape the job changed (the chunk size set by prefetchPages, and pageSize),
    the coordinator gives the next worker the job's shape as it started: every worker has the same."""

    async def play(platform: PlatformStandIn) -> None:
        await platform.start()
        assert await platform.wait_for_exit(within=60) == -9
        assert platform.storage.state()["workers"] == ["", ""]  # the first worker's run ID was never saved
        if not is_crawler():
            platform.storage.write_input({**input_of(platform.storage), "pageSize": 50, "prefetchPages": 8})
        await platform.start()
        assert await platform.wait_for_exit(within=120) == 0

    platform = two_worker_job(tmp_path, play, ways=PlatformWays(kill_after_run_start=1))
    assert len(platform.others) == 2  # the worker started before the kill was found, not started again
    assert platform.storage.state()["workers"] == list(platform.others)
    parts = [input_of(other.storage) for other in platform.others.values()]
    shape = (1, None) if is_crawler() else (4, 20)  # (chunkPages, pageSize) at the job's start
    assert [(part["partOfJob"]["chunkPages"], part.get("pageSize")) for part in parts] == [shape, shape]
    if not is_crawler():
        log = (platform.storage.root.parent / "actor.log").read_text()
        assert "The job keeps the shape it started with (chunkPages 4, pageSize 20;" in log


def input_of(storage: Storage) -> dict[str, Any]:
    return json.loads((storage.store / "INPUT.json").read_text())


def test_a_merge_push_cut_by_a_kill_of_the_coordinator_lands_once(tmp_path: Path) -> None:
    async def play(platform: PlatformStandIn) -> None:
        await platform.start()
        assert await platform.wait_for_exit(within=60) == -9
        state = platform.storage.state()  # part of the merge push landed; its marker is in the state record
        assert state["pushed"] < platform.storage.item_count() < state["pushed"] + state["pending"]
        await platform.start()
        assert await platform.wait_for_exit(within=120) == 0

    # The first merge push of more items lands only this many, then the kill (a browser's pages come slowly: its
    # merge pushes are of a few items).
    cut = 1 if is_browser() else 5 if is_crawler() else 25
    platform = two_worker_job(tmp_path, play, ways=PlatformWays(cut_push_after=cut))
    assert platform.storage_api.items_stored == platform.storage.item_count()  # none pushed twice


def test_workers_stop_when_their_coordinator_died_and_its_resurrection_finishes_the_job(tmp_path: Path) -> None:
    async def play(platform: PlatformStandIn) -> None:
        await platform.start()
        await once_the_workers_are_at_work(platform)
        platform.kill()
        platform.main_status = "FAILED"  # died for good: the platform does not restart it
        await once_no_worker_runs(platform, within=30)  # each worker saw its coordinator end, and stopped
        assert all(other.exit_codes == [0] for other in platform.others.values())
        assert not any(other.storage.state()["finished"] for other in platform.others.values())
        platform.main_status = "RUNNING"  # resurrected
        await platform.start()
        assert await platform.wait_for_exit(within=120) == 0

    platform = two_worker_job(tmp_path, play)
    assert all(other.resurrections == 1 for other in platform.others.values())


def test_a_limit_holds_for_the_whole_job_and_a_higher_one_goes_on_where_it_stopped(tmp_path: Path) -> None:
    """maxItems (JSON kind) or maxRequestsPerCrawl (crawlers) is the job's, held by the merge: the job stops there,
    its workers stopped too; resurrected with no limit, it merges the rest (once each, in order for the JSON kind)."""
    field, limit = ("maxRequestsPerCrawl", 7 if is_browser() else 40) if is_crawler() else ("maxItems", 700)

    async def play(platform: PlatformStandIn) -> None:
        platform.storage.write_input({**input_of(platform.storage), field: limit})
        await platform.start()
        assert await platform.wait_for_exit(within=120) == 0
        await once_no_worker_runs(platform, within=15)
        assert platform.storage.item_count() == limit
        if not is_crawler():
            assert platform.storage.items() == expected_items(limit)  # the first ones, in order
        await platform.start()  # restarted at the limit: it merges nothing and wakes no worker
        assert await platform.wait_for_exit(within=60) == 0
        assert platform.storage.item_count() == limit
        assert not any(other.resurrections for other in platform.others.values())
        platform.storage.write_input({**input_of(platform.storage), field: 0})
        await platform.start()
        assert await platform.wait_for_exit(within=120) == 0

    two_worker_job(tmp_path, play)


@pytest.mark.skipif(is_crawler(), reason="maxItems, the JSON kind's limit")
def test_max_items_lowered_below_what_a_cut_merge_push_landed_keeps_those_items_and_says_so(tmp_path: Path) -> None:
    """The coordinator killed as a merge push lands, restarted with maxItems below what that push landed: the items
    that landed stay (a dataset item is never taken back), the state counts them, and the status message tells."""

    async def play(platform: PlatformStandIn) -> None:
        await platform.start()
        assert await platform.wait_for_exit(within=60) == -9
        pushed, landed = platform.storage.state()["pushed"], platform.storage.item_count()
        assert landed == pushed + 25
        platform.storage.write_input({**input_of(platform.storage), "maxItems": pushed + 10})
        await platform.start()
        assert await platform.wait_for_exit(within=60) == 0
        assert (platform.storage.item_count(), platform.storage.state()["pushed"]) == (landed, landed)
        final = platform.status_messages()[-1][1]
        assert f"Done: {landed} items merged from 2 parallel runs." in final
        assert f"maxItems ({pushed + 10}) is below the {landed} items" in final
        platform.storage.write_input({**input_of(platform.storage), "maxItems": 0})
        await platform.start()  # the rest of the job, each item once
        assert await platform.wait_for_exit(within=120) == 0

    two_worker_job(tmp_path, play, ways=PlatformWays(cut_push_after=25))


@pytest.mark.skipif(not is_crawler() or is_browser(), reason="a crawl's pages that fail for good")
def test_the_final_status_counts_the_pages_the_workers_gave_up_on(tmp_path: Path) -> None:
    async def play(platform: PlatformStandIn) -> None:
        await platform.start()
        assert await platform.wait_for_exit(within=120) == 0
        failed = "2 pages failed after all retries (see the workers' logs)"
        assert platform.status_messages()[-1][1] == f"Done: {JOB_SIZE} items merged from 2 parallel runs; {failed}."

    two_worker_job(tmp_path, play, broken_links=2)


def test_the_charge_limit_cuts_a_merge_before_its_push_and_the_resumed_job_goes_on(tmp_path: Path) -> None:
    """The coordinator's maximum total charge (pay-per-event, one event a dataset item) falls inside a merge batch:
    what may be charged is pushed (a crawled page whole or not at all), the run stops, and resurrected with a
    higher limit it merges the rest. The website crawl runs the two-label router: its start page pushes nothing,
    and each other page two items."""
    routes = None if is_browser() or not is_crawler() else "two_label_routes"
    budget = 7 if is_browser() else 151  # dataset items the coordinator may charge for
    charged = budget - 1 if routes else budget  # two-item pages: whole ones only

    async def play(platform: PlatformStandIn) -> None:
        await platform.start(main_env=pay_per_event(budget, charged=0))
        assert await platform.wait_for_exit(within=120) == 0
        assert "maximum total charge is reached" in platform.status_messages()[-1][1]
        assert platform.storage.item_count() == charged
        await platform.start(main_env=pay_per_event(10 * JOB_SIZE, charged=charged))
        assert await platform.wait_for_exit(within=120) == 0

    platform = two_worker_job(tmp_path, play, routes)
    assert platform.storage_api.items_stored == platform.storage.item_count()  # none pushed twice


def test_a_pay_per_event_job_is_charged_each_item_once_across_all_its_runs(tmp_path: Path) -> None:
    """The platform charges every item written to a run's default dataset, and the workers are runs of the same
    pay-per-event Actor: they push into datasets of their own, and only the coordinator's merge is charged."""

    async def play(platform: PlatformStandIn) -> None:
        await platform.start()
        assert await platform.wait_for_exit(within=120) == 0

    platform = two_worker_job(tmp_path, play, pricing=PAY_PER_ITEM)
    assert len(platform.others) == 2
    assert platform.charged_items() == {RUN_ID: platform.storage.item_count()} | dict.fromkeys(platform.others, 0)
    assert worker_item_count(platform) >= platform.storage.item_count()  # (crawls: a marker for a page of none)


PAY_PER_ITEM = {  # the Actor's pricing: 0.01 USD a dataset item
    "pricingModel": "PAY_PER_EVENT",
    "pricingPerEvent": {
        "actorChargeEvents": {"apify-default-dataset-item": {"eventPriceUsd": 0.01, "eventTitle": "Dataset item"}}
    },
}


def pay_per_event(max_items: int, *, charged: int) -> dict[str, str]:
    """A run's environment under pay-per-event pricing, 0.01 USD a dataset item, charged up to `max_items` items."""
    return {
        "APIFY_ACTOR_PRICING_INFO": json.dumps(PAY_PER_ITEM),
        "APIFY_CHARGED_ACTOR_EVENT_COUNTS": json.dumps({"apify-default-dataset-item": charged}),
        "ACTOR_MAX_TOTAL_CHARGE_USD": f"{max_items * 0.01:.2f}",
    }


def merged_job(tmp_path: Path, source: PaginatedSource, play: Play, **fields: Any) -> PlatformStandIn:
    """Play a two-worker job over the JSON `source` (pages of 20, chunks of 4 pages: worker 1's stripe starts at
    item 80) with the input `fields` added; the platform as it was left."""
    storage = Storage(tmp_path / "storage")
    storage.write_input(source.input_for(pageSize=20, prefetchPages=1, parallelRuns=2, **fields))

    async def on_the_platform() -> PlatformStandIn:
        async with PlatformStandIn(storage, env=WAITS) as platform:
            await play(platform)
            return platform

    return asyncio.run(on_the_platform())


async def resurrect_coordinator(platform: PlatformStandIn) -> None:
    """The coordinator's run ended (FAILED: its workers see it ended, and stop); then someone resurrects it."""
    platform.main_status = "FAILED"
    await once_no_worker_runs(platform, within=60)
    platform.main_status = "RUNNING"
    await platform.start()


@pytest.mark.skipif(is_crawler(), reason="the JSON kind's source")
def test_a_job_failed_by_a_worker_failing_for_good_goes_on_once_its_coordinator_is_resurrected(tmp_path: Path) -> None:
    """A page of worker 1's stripe answers 500 (no retries) at its first start and at its 3 resurrections: the job
    fails naming that worker. The page answers again: the coordinator resurrected gives its workers a fresh budget,
    and the job finishes with every item once."""
    total = 200

    async def play(platform: PlatformStandIn) -> None:
        await platform.start()
        assert await platform.wait_for_exit(within=120) == 1
        failing = list(platform.others)[1]
        assert f"Worker 1 (run {failing}) ended FAILED 4 times" in platform.status_messages()[-1][1]
        assert platform.storage.item_count() == 100  # chunk 0 and the start of chunk 1: the page before the fault
        await resurrect_coordinator(platform)
        assert await platform.wait_for_exit(within=120) == 0, platform.status_messages()[-1][1]

    with PaginatedSource(total=total, latency_secs=0.02, faults={100: [500] * 4}) as source:
        platform = merged_job(tmp_path, source, play, maxRequestRetries=0)
    assert platform.storage.items() == expected_items(total)
    assert platform.others[list(platform.others)[1]].resurrections == 4


@pytest.mark.skipif(not is_crawler() or is_browser(), reason="a crawl's worker killed as an out-of-memory kill does")
def test_a_crawl_failed_by_a_worker_killed_four_times_goes_on_once_its_coordinator_is_resurrected(
    tmp_path: Path,
) -> None:
    """Worker 1 is killed -9 as soon as it runs, at its start and at its 3 resurrections: the job fails naming it.
    Resurrected, the coordinator gives its workers a fresh budget, and the job finishes with every page once."""

    async def play(platform: PlatformStandIn) -> None:
        await platform.start()
        await once_the_workers_are_at_work(platform)
        victim = platform.others[list(platform.others)[1]]
        for kill in range(4):
            while victim.resurrections < kill or victim.process.poll() is not None:
                assert platform.process.poll() is None, "the coordinator ended before the worker's fourth kill"
                await asyncio.sleep(0.02)
            await asyncio.to_thread(platform.kill_run, victim.run_id)
        assert await platform.wait_for_exit(within=120) == 1
        assert f"Worker 1 (run {victim.run_id}) ended FAILED 4 times" in platform.status_messages()[-1][1]
        await resurrect_coordinator(platform)
        assert await platform.wait_for_exit(within=120) == 0, platform.status_messages()[-1][1]

    platform = two_worker_job(tmp_path, play)
    assert platform.others[list(platform.others)[1]].resurrections == 4


@pytest.mark.skipif(is_crawler(), reason="a slow JSON source: the job outlasts four deaths of its coordinator")
def test_workers_stopped_by_their_coordinators_deaths_are_resurrected_without_counting(tmp_path: Path) -> None:
    """The coordinator is killed -9 four times while its workers work (FAILED: they see it ended, and stop, exiting
    0), and resurrected each time: a worker stopped because its coordinator ended is not failing, and the job
    finishes with every item once."""
    total = 1000  # 50 pages of 20 at 0.3 s each, one at a time: about 7 s for each worker

    async def play(platform: PlatformStandIn) -> None:
        await platform.start()
        for _death in range(4):
            pushed = worker_item_count(platform)
            while worker_item_count(platform) == pushed:  # the workers are at work (again)
                assert platform.process.poll() is None, "the job ended before its coordinator's fourth death"
                await asyncio.sleep(0.05)
            platform.kill()
            await resurrect_coordinator(platform)
        assert await platform.wait_for_exit(within=120) == 0, platform.status_messages()[-1][1]

    with PaginatedSource(total=total, latency_secs=0.3) as source:
        platform = merged_job(tmp_path, source, play)
    assert platform.storage.items() == expected_items(total)
    assert all(set(other.exit_codes) == {0} for other in platform.others.values())  # healthy workers, all along


@pytest.mark.skipif(is_crawler(), reason="the JSON kind's stripes")
def test_a_stripe_whose_source_ends_early_fails_the_job_naming_its_chunk_and_merges_nothing_past_it(
    tmp_path: Path,
) -> None:
    """The page at item 100, in worker 1's first chunk (items 80-159), answers 404 once: worker 1 takes it for the
    end of the source, while worker 0 reads on (items 160-239 and 320-399). The job must not end "Done" over the
    hole: it fails naming the chunk, and holds the items before the hole only, each once, in order."""
    total = 400

    async def play(platform: PlatformStandIn) -> None:
        await platform.start()
        assert await platform.wait_for_exit(within=120) == 1
        message = platform.status_messages()[-1][1]
        assert message.startswith("The source has a hole in chunk 1 (items 80-159): worker 1 found the end"), message
        assert "but worker 0 read items past it (chunk 2, items 160-239)" in message
        assert "The 100 items merged are the source's start" in message

    with PaginatedSource(total=total, latency_secs=0.02, faults={100: [404]}) as source:
        platform = merged_job(tmp_path, source, play)
    assert platform.storage.items() == expected_items(100)


def test_a_restart_with_another_parallel_runs_is_refused_with_one_message_and_writes_nothing(tmp_path: Path) -> None:
    """A job's number of parallel runs is fixed at its start, as its shape is: the coordinator of 2, killed as it
    starts its first worker, restarted with parallelRuns 3 or 1 (one run would push the merged items again), fails
    with one message and writes nothing."""
    storage = Storage(tmp_path / "storage")

    async def play() -> list[tuple[int, str]]:
        refusals = []
        async with PlatformStandIn(storage, env=WAITS, ways=PlatformWays(kill_after_run_start=1)) as platform:
            await platform.start()
            assert await platform.wait_for_exit(within=60) == -9
            saved = storage.state()
            for parallel_runs in (3, 1):
                storage.write_input({**input_of(storage), "parallelRuns": parallel_runs})
                await platform.start()
                refusals.append((await platform.wait_for_exit(within=60), platform.status_messages()[-1][1]))
                assert storage.state() == saved
            assert len(platform.others) == 1  # the worker started before the kill; none since
        return refusals

    with ExitStack() as stack:
        actor_input, _expected = small_job(stack, 10 if is_browser() else 60, parallelRuns=2)
        storage.write_input(actor_input)
        refusals = asyncio.run(play())
    advice = "a job's shape is fixed at its start. Set parallelRuns back to 2 to go on with it, or start a new job."
    refused = [(1, f"parallelRuns is {n}, but this job started with 2 parallel runs: {advice}") for n in (3, 1)]
    assert refusals == refused
    assert storage.item_count() == 0


@pytest.mark.skipif(not is_crawler() or is_browser(), reason="a crawl's worker killed as an out-of-memory kill does")
def test_a_coordinator_killed_and_resurrected_gives_its_workers_a_fresh_budget(tmp_path: Path) -> None:
    """Worker 1 is killed -9 three times (the count saved), then the coordinator is killed -9 (no end of its own to
    reset the count at) and resurrected, and worker 1 is killed once more: its first failure in this run of the
    coordinator, which resurrects it and finishes the job with every page once."""

    async def play(platform: PlatformStandIn) -> None:
        await platform.start()
        await once_the_workers_are_at_work(platform)
        victim = platform.others[list(platform.others)[1]]

        async def kill_the_victim(after_resurrections: int) -> None:
            while victim.resurrections < after_resurrections or victim.process.poll() is not None:
                assert platform.process.poll() is None, platform.status_messages()[-1][1]
                await asyncio.sleep(0.02)
            await asyncio.to_thread(platform.kill_run, victim.run_id)

        for kill in range(3):
            await kill_the_victim(kill)
        while platform.storage.state()["resurrections"] != [0, 3]:  # saved with a merge
            assert platform.process.poll() is None, platform.status_messages()[-1][1]
            await asyncio.sleep(0.02)
        platform.kill()
        await resurrect_coordinator(platform)
        await kill_the_victim(4)
        assert await platform.wait_for_exit(within=120) == 0, platform.status_messages()[-1][1]

    platform = two_worker_job(tmp_path, play)
    assert platform.others[list(platform.others)[1]].resurrections == 5
