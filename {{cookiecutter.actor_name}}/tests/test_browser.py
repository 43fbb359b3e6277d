"""The browser crawler end to end: a real headless Chromium (see conftest.py for where it comes from) against
the local site (local_site.py), sized for a browser on two cores: a complete crawl, kill -9 at random moments,
the instant between a push and its bookkeeping, the page limit across kills, migrations and an abort through the
platform stand-in, and bad input. The crawl core it shares with the website kind (crawling.py: commits in groups,
the queue, redirects, failed pages) is tested in depth there. The crawler runs the tests' own router
(browser_routes.py, like the generated routes.py); every check compares the dataset with what it makes of the
site: each page's items exactly once."""

from __future__ import annotations

import asyncio
import importlib
import json
import random
import signal
import time
from collections import Counter

import browser_routes
import listing_routes
import pytest
import redirect_routes
from harness import (
    PROJECT_ROOT,
    ROUTES_VARIABLE,
    Storage,
    assert_model_matches_schema,
    duplicates_and_missing,
    kill_while_working,
    package_name,
    refusal_of,
    run_actor,
    start_actor,
)
from local_site import REWRITTEN, LocalSite, sort_items
from platform_standin import PlatformStandIn
from redirect_routes import RedirectSite
from schedule import Schedule

BrowserInput = importlib.import_module(f"{package_name()}.browser_input").BrowserInput
INPUT_SCHEMA = json.loads((PROJECT_ROOT / ".actor" / "input_schema.json").read_text())
CRASH_ENTRY = "tests/crash_after_push.py"


@pytest.fixture(autouse=True)
def tests_own_router(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Actor these tests start runs browser_routes.py."""
    monkeypatch.setenv(ROUTES_VARIABLE, "browser_routes")


def crawl_input(site: LocalSite, **fields: object) -> dict:
    return {"startUrls": [{"url": site.url(0)}], "maxRequestsPerCrawl": 0, **fields}


def assert_exact(storage: Storage, site: LocalSite) -> None:
    items, expected = sort_items(storage.items()), browser_routes.expected_items(site)
    assert duplicates_and_missing(items, expected) == (0, 0)
    assert items == expected
    assert storage.state()["pages"] == site.pages
    assert storage.state()["unmarked"] == {}


def test_a_crawl_in_the_browser_saves_every_page_once(storage: Storage) -> None:
    with LocalSite(pages=30, faults={5: [503]}) as site:
        storage.write_input(crawl_input(site))
        result = run_actor(storage, timeout=180)
    assert result.returncode == 0, result.stdout
    assert_exact(storage, site)
    assert set(site.visits.values()) == {1}  # each page loaded once, none outside the site
    assert "Done: 30 items pushed, from 30 pages." in result.stdout


def test_kill_9_at_random_moments_then_restart(storage: Storage) -> None:
    chance = random.Random(5)
    with LocalSite(pages=50, latency_secs=0.02) as site:
        storage.write_input(crawl_input(site))
        kills = sum(kill_while_working(storage, chance, within_secs=2.0) for _ in range(2))
        result = run_actor(storage, timeout=180)
    assert result.returncode == 0, result.stdout
    assert kills >= 1, "no kill landed: the trial proved nothing"
    assert_exact(storage, site)


def test_a_crash_between_a_push_and_its_requests_being_marked_handled(storage: Storage) -> None:
    with LocalSite(pages=30) as site:
        storage.write_input(crawl_input(site))
        crashed = run_actor(storage, entry=CRASH_ENTRY, CRASH_AFTER_PUSH="3", timeout=180)
        assert crashed.returncode == -signal.SIGKILL
        assert storage.state()["pendingRequests"]  # the last group landed, past the checkpoint
        result = run_actor(storage, timeout=180)
    assert result.returncode == 0, result.stdout
    assert_exact(storage, site)


def test_max_requests_per_crawl_holds_across_kills(storage: Storage) -> None:
    with LocalSite(pages=60, latency_secs=0.02) as site:
        storage.write_input(crawl_input(site, maxRequestsPerCrawl=30))
        process = start_actor(storage)
        while storage.item_count() < 10 and process.poll() is None:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        result = run_actor(storage, timeout=180)
    assert result.returncode == 0, result.stdout
    urls = [item["url"] for item in storage.items()]
    assert len(urls) == len(set(urls)) == 30
    assert storage.state()["pages"] == 30


def test_a_migration_and_an_abort_on_the_platform_keep_every_page_once(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.start()
        await platform.wait_for_items(10, within=120)
        await platform.migrate()
        await platform.wait_for_items(storage.item_count() + 10, within=120)
        await platform.send("aborting")
        assert await platform.wait_for_exit(within=60) == 0
        await platform.start()  # resurrected
        assert await platform.wait_for_exit(within=180) == 0

    async def play() -> PlatformStandIn:
        async with PlatformStandIn(storage) as platform:
            await script(platform)
            return platform

    with LocalSite(pages=50, latency_secs=0.05) as site:
        storage.write_input(crawl_input(site))
        platform = asyncio.run(play())
    assert len(platform.reboot_calls()) == 1
    assert any("Stopped (aborting)" in message for _at, message, _terminal in platform.status_messages())
    assert_exact(storage, site)


def test_a_page_whose_script_rewrites_its_url_is_saved_once_under_its_request(storage: Storage) -> None:
    """history.replaceState moves the address bar, not the request: no redirect, the page is loaded once."""
    with LocalSite(pages=6, rewrite_url={2, 5}) as site:
        storage.write_input(crawl_input(site))
        result = run_actor(storage, timeout=180)
    assert result.returncode == 0, result.stdout
    assert set(site.visits.values()) == {1}
    rewritten = [{"url": site.url(n) + REWRITTEN, "title": f"Page {n}"} for n in (2, 5)]
    others = [item for item in browser_routes.expected_items(site) if item["url"] not in (site.url(2), site.url(5))]
    assert sort_items(storage.items()) == sort_items(others + rewritten)
    assert storage.state()["pages"] == site.pages


def test_redirected_pages_are_saved_once_under_the_requests_that_loaded_them(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests of /old/1 under keys of the handler's own (labels A and B), which answers 301 to /page/1, are
    saved by both handlers; a start URL redirected to a one-time address is saved once, loaded once
    (redirect_routes.py; test_website.py has the rest)."""
    monkeypatch.setenv(ROUTES_VARIABLE, "redirect_routes")
    with RedirectSite(pages=2) as site:
        starts = [{"url": f"{site.origin}/two-labels"}, {"url": f"{site.origin}/file"}]
        storage.write_input({**crawl_input(site), "startUrls": starts})
        result = run_actor(storage, timeout=180)
    assert result.returncode == 0, result.stdout
    assert site.tokens == 1
    assert site.visits[1] == 2
    pairs = (None, "/two-labels"), ("A", "/page/1"), ("B", "/page/1"), (None, "/file?token=T1")
    assert sort_items(storage.items()) == redirect_routes.expected_items(site, *pairs)
    assert storage.state()["failed"] == 0


def test_an_incremental_crawl_loads_only_the_new_pages_in_the_next_run(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two scheduled runs of an incremental crawl (test_incremental_crawl.py has the rest): the second loads the
    start URL and the listing (revisitLabels) again, and of the pages only those added since."""
    monkeypatch.setenv(ROUTES_VARIABLE, "listing_routes")
    with LocalSite(pages=4, listing=True) as site:
        actor_input = {**crawl_input(site), "startUrls": [{"url": site.home}], "incremental": True}
        schedule = Schedule(storage, {**actor_input, "revisitLabels": ["LIST"]})
        assert schedule.run(timeout=180).returncode == 0
        site.pages, before = 6, Counter(site.visits)
        assert schedule.run(timeout=180).returncode == 0
        assert Counter(site.visits) - before == Counter({"/": 1, "/list": 1, 4: 1, 5: 1})
    assert [sort_items(items) for _ended, items in schedule.runs] == [
        listing_routes.expected_items(site, range(4)),
        listing_routes.expected_items(site, range(4, 6)),
    ]


def test_bad_input_is_refused_with_every_field_named(storage: Storage) -> None:
    line = refusal_of(storage, {"startUrls": [{"url": "https://example.com/"}], "navigationTimeoutSecs": 0})
    assert "navigationTimeoutSecs:" in line


@pytest.mark.parametrize("name", INPUT_SCHEMA["properties"])
def test_input_model_and_input_schema_agree_on_each_field(name: str) -> None:
    assert_model_matches_schema(BrowserInput, INPUT_SCHEMA, name)
