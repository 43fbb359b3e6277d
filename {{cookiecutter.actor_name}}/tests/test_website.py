"""The website crawler end to end against a local site (local_site.py): complete crawls, kill -9 at random
moments, the instant between a push and its bookkeeping, page limits across crashes, migrations and aborts
through the platform stand-in (its request queue API included), and bad input. The crawler runs the tests' own
routers (site_routes.py, like the generated routes.py; two_label_routes.py, a listing/detail crawl), so that
these tests hold whatever you make of routes.py; `tests/rehearse.py` runs yours. Every check compares the
dataset with what the router makes of the site: each page's items exactly once."""

from __future__ import annotations

import asyncio
import importlib
import json
import random
import signal
import time

import chain_routes
import pytest
import redirect_routes
import site_routes
import two_label_routes
from crawlee import Request
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
from local_site import LocalSite, sort_items
from platform_standin import PlatformStandIn, PlatformWays
from pydantic import ValidationError
from redirect_routes import ONE_TIME_TOKENS, SEARCH, RedirectSite

CrawlInput = importlib.import_module(f"{package_name()}.crawl_input").CrawlInput
INPUT_SCHEMA = json.loads((PROJECT_ROOT / ".actor" / "input_schema.json").read_text())
CRASH_ENTRY = "tests/crash_after_push.py"
FAULTS = {3: [500], 11: [429, 503], 40: [502]}


@pytest.fixture(autouse=True)
def tests_own_router(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Actor these tests start runs site_routes.py unless a test names another router."""
    monkeypatch.setenv(ROUTES_VARIABLE, "site_routes")


def crawl_input(site: LocalSite, **fields: object) -> dict:
    return {"startUrls": [{"url": site.url(0)}], "maxRequestsPerCrawl": 0, **fields}


def assert_exact(storage: Storage, site: LocalSite, routes=site_routes) -> None:
    items, expected = sort_items(storage.items()), routes.expected_items(site)
    assert duplicates_and_missing(items, expected) == (0, 0)
    assert items == expected
    assert storage.state()["pages"] == site.pages
    assert storage.state()["unmarked"] == {}  # the state record does not grow with the crawl


async def killed_then_restarted(platform: PlatformStandIn) -> None:
    """A run the platform's cut push kills, then a restart that ends the crawl."""
    await platform.start()
    assert await platform.wait_for_exit(within=60) == -signal.SIGKILL
    await platform.start()
    assert await platform.wait_for_exit(within=120) == 0


def test_a_crawl_saves_every_page_once_and_keeps_to_the_start_urls_host(storage: Storage) -> None:
    with LocalSite(pages=300, faults={k: list(v) for k, v in FAULTS.items()}) as site:
        storage.write_input(crawl_input(site, maxConcurrency=20))
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert_exact(storage, site)
    assert set(site.visits.values()) == {1}  # each page loaded once: no page crawled twice, none outside the site
    assert len(json.dumps(storage.state())) < 600
    assert "Done: 300 items pushed, from 300 pages." in result.stdout


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_at_random_moments_then_restart(storage: Storage, seed: int) -> None:
    chance = random.Random(seed)
    with LocalSite(pages=300, latency_secs=0.02, faults={k: list(v) for k, v in FAULTS.items()}) as site:
        storage.write_input(crawl_input(site, maxConcurrency=8))
        # Four starts killed at random moments once they work, then one to the end.
        kills = sum(kill_while_working(storage, chance, within_secs=0.8) for _ in range(4))
        result = run_actor(storage)
        assert result.returncode == 0, result.stdout
    assert kills >= 1, "no kill landed: the trial proved nothing"
    assert_exact(storage, site)


@pytest.mark.parametrize("crash_after_push", [1, 7])
def test_a_crash_between_a_push_and_its_request_being_marked_handled(storage: Storage, crash_after_push: int) -> None:
    with LocalSite(pages=150) as site:
        storage.write_input(crawl_input(site, maxConcurrency=10))
        crashed = run_actor(storage, entry=CRASH_ENTRY, CRASH_AFTER_PUSH=str(crash_after_push))
        assert crashed.returncode == -signal.SIGKILL
        # The last group landed, past the checkpoint: its marker names its pages, whose requests are not done.
        marker = storage.state()["pendingRequests"]
        assert marker
        assert storage.item_count() == storage.state()["pushed"] + sum(count for _key, count in marker)
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert "Resuming with" in result.stdout
    assert_exact(storage, site)


def test_max_requests_per_crawl_holds_across_kills(storage: Storage) -> None:
    with LocalSite(pages=300, latency_secs=0.02) as site:
        storage.write_input(crawl_input(site, maxRequestsPerCrawl=120, maxConcurrency=8))
        for kill_at in (30, 80):
            process = start_actor(storage)
            while storage.item_count() < kill_at and process.poll() is None:
                time.sleep(0.005)
            process.send_signal(signal.SIGKILL)
            process.wait()
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    items = storage.items()
    assert len(items) == 120
    assert len({item["url"] for item in items}) == 120  # 120 pages, none twice
    assert storage.state()["pages"] == 120


def at_home(storage: Storage, script, ways: PlatformWays | None = None, **env: str) -> PlatformStandIn:
    async def play() -> PlatformStandIn:
        async with PlatformStandIn(storage, env=env, ways=ways or PlatformWays()) as platform:
            await script(platform)
            return platform

    return asyncio.run(play())


def test_migrations_and_an_abort_on_the_platform_keep_every_page_once(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.start()
        await platform.wait_for_items(40)
        await platform.migrate()
        await platform.wait_for_items(storage.item_count() + 40)
        await platform.migrate()
        await platform.wait_for_items(storage.item_count() + 40)
        await platform.send("aborting")
        assert await platform.wait_for_exit(within=60) == 0
        await platform.start()  # resurrected
        assert await platform.wait_for_exit(within=120) == 0

    with LocalSite(pages=300, latency_secs=0.02) as site:
        storage.write_input(crawl_input(site, maxConcurrency=8))
        platform = at_home(storage, script)
    assert len(platform.reboot_calls()) == 2
    assert [m.exit_code_before_kill for m in platform.migrations] == [None, None]  # never exit 0 while migrating
    assert any("Stopped (aborting)" in message for _at, message, _terminal in platform.status_messages())
    assert_exact(storage, site)


def test_a_kill_right_after_a_push_on_the_platform(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.start(entry=CRASH_ENTRY, CRASH_AFTER_PUSH="5")
        assert await platform.wait_for_exit(within=60) == -signal.SIGKILL
        await platform.start()
        assert await platform.wait_for_exit(within=120) == 0

    with LocalSite(pages=100) as site:
        storage.write_input(crawl_input(site))
        at_home(storage, script)
    assert_exact(storage, site)


@pytest.mark.parametrize(
    ("actor_input", "named"),
    [
        ({}, ["startUrls"]),
        ({"startUrls": []}, ["startUrls"]),
        ({"startUrls": [{"url": "ftp://example.com/"}], "maxConcurrency": 0}, ["startUrls", "maxConcurrency"]),
        ({"startUrls": [{"url": "https://example.com/"}], "maxRequestsPerCrawl": -1}, ["maxRequestsPerCrawl"]),
        ({"startUrls": [{"url": "https://example.com/"}, {"url": "http://[::1/x"}]}, ["startUrls"]),
    ],
)
def test_bad_input_is_refused_with_every_field_named(storage: Storage, actor_input: dict, named: list[str]) -> None:
    line = refusal_of(storage, actor_input)
    for field in named:
        assert f"{field}:" in line


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1/x", "invalid IPv6 address"),
        ("http://example.com:99999/", "invalid port number"),
        ("http:///path", "the URL has no host"),
        ("https://example.com/a b", "holds a space"),
        ("https://example.com\\@other.test/", "URL parsers read the URL's host differently"),
    ],
)
def test_a_malformed_start_url_is_refused_naming_it(url: str, problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        CrawlInput.model_validate({"startUrls": [{"url": "https://example.com/"}, {"url": url}]})
    ((loc, message),) = [(".".join(map(str, error["loc"])), error["msg"]) for error in refused.value.errors()]
    assert loc == "startUrls"
    assert f"start URL 2 {url!r}: " in message
    assert problem in message


def test_start_urls_are_kept_as_written() -> None:
    urls = ["https://Bücher.test/a%20b?q=1,2", "http://[::1]:8080/", "http://127.0.0.1:9"]
    assert CrawlInput.model_validate({"startUrls": [{"url": url} for url in urls]}).urls == urls


@pytest.mark.parametrize("name", INPUT_SCHEMA["properties"])
def test_input_model_and_input_schema_agree_on_each_field(name: str) -> None:
    assert_model_matches_schema(CrawlInput, INPUT_SCHEMA, name)


def charged(max_usd: str, items: int) -> dict[str, str]:
    """The environment of a pay-per-event run at 0.01 USD a dataset item, `items` of them charged already."""
    prices = {"apify-default-dataset-item": {"eventPriceUsd": 0.01, "eventTitle": "Dataset item"}}
    return {
        "APIFY_ACTOR_PRICING_INFO": json.dumps(
            {"pricingModel": "PAY_PER_EVENT", "pricingPerEvent": {"actorChargeEvents": prices}}
        ),
        "APIFY_CHARGED_ACTOR_EVENT_COUNTS": json.dumps({"apify-default-dataset-item": items}),
        "ACTOR_MAX_TOTAL_CHARGE_USD": max_usd,
    }


def test_the_charge_limit_stops_the_crawl_at_whole_pages_and_a_resumed_run_goes_on(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.start(**charged("0.40", 0))  # 40 items, one a page
        assert await platform.wait_for_exit(within=60) == 0
        assert storage.item_count() == 40
        assert "maximum total charge is reached, after 40 items" in platform.status_messages()[-1][1]
        await platform.start(**charged("100", 40))  # resurrected with a higher limit
        assert await platform.wait_for_exit(within=120) == 0

    with LocalSite(pages=150) as site:
        storage.write_input(crawl_input(site, maxConcurrency=8))
        at_home(storage, script)
    assert_exact(storage, site)


def test_a_two_label_router_with_several_pushes_a_page_is_exact_under_kills(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ROUTES_VARIABLE, "two_label_routes")
    monkeypatch.setenv("RAISE_AFTER_PUSH", "3,7,20")  # a handler that raises after a push: its retry starts clean
    chance = random.Random(3)
    with LocalSite(pages=200, latency_secs=0.02) as site:
        # Those handlers raise once in every start, and there are four: retries enough that none fails for good.
        storage.write_input(crawl_input(site, maxConcurrency=8, maxRequestRetries=6))
        kills = sum(kill_while_working(storage, chance, within_secs=0.8) for _ in range(3))
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert kills >= 1, "no kill landed: the trial proved nothing"
    items, expected = sort_items(storage.items()), two_label_routes.expected_items(site)
    assert storage.state()["failed"] == 0
    assert duplicates_and_missing(items, expected) == (0, 0)
    assert storage.state()["pages"] == site.pages  # the start page too, with no items


def test_a_handler_that_exits_ends_the_run_non_zero_and_a_restart_goes_on(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sys.exit(0) in a handler (run in a task of crawlee's, it ends the event loop at once, before the run saved and
    said how it ended) never ends the run with exit 0, which would mark it done with pages unread."""
    monkeypatch.setenv(ROUTES_VARIABLE, "two_label_routes")
    with LocalSite(pages=60) as site:
        storage.write_input(crawl_input(site, maxConcurrency=2))
        failed = run_actor(storage, EXIT_ON="5")
        assert failed.returncode == 1, failed.stdout[-3000:]
        assert "The run ended before its work did" in failed.stdout
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert duplicates_and_missing(sort_items(storage.items()), two_label_routes.expected_items(site)) == (0, 0)


def test_a_two_label_router_through_migrations_on_the_platform(storage: Storage, monkeypatch) -> None:
    monkeypatch.setenv(ROUTES_VARIABLE, "two_label_routes")

    async def script(platform: PlatformStandIn) -> None:
        await platform.start()
        for _ in range(2):
            await platform.wait_for_items(storage.item_count() + 60)
            await platform.migrate()
        assert await platform.wait_for_exit(within=120) == 0

    with LocalSite(pages=200, latency_secs=0.02) as site:
        storage.write_input(crawl_input(site, maxConcurrency=8))
        at_home(storage, script)
    assert sort_items(storage.items()) == two_label_routes.expected_items(site)


def test_a_group_cut_in_the_middle_of_its_push_by_a_kill(storage: Storage) -> None:
    """With a storage round trip of 30 ms, pages wait for the commit in flight and go together in groups; the
    platform stores only the first 2 items of the first group of more when the Actor is killed."""
    ways = PlatformWays(storage_latency_secs=0.03, cut_push_after=2)

    with LocalSite(pages=150) as site:
        storage.write_input(crawl_input(site, maxConcurrency=10))
        platform = at_home(storage, killed_then_restarted, ways=ways)
    assert platform.exit_codes == [-signal.SIGKILL, 0]  # killed inside a group's push (pushed_sizes > 2)
    assert "landed after the last checkpoint" in (storage.root.parent / "actor.log").read_text()
    assert_exact(storage, site)


def test_waiting_for_a_slow_push_does_not_use_up_the_handler_timeout(storage: Storage) -> None:
    ways = PlatformWays(slow_pushes={1: 4, 2: 4})  # longer than the handlers may take

    async def script(platform: PlatformStandIn) -> None:
        await platform.start()
        assert await platform.wait_for_exit(within=120) == 0

    with LocalSite(pages=40) as site:
        storage.write_input(crawl_input(site, maxConcurrency=8, requestHandlerTimeoutSecs=2))
        at_home(storage, script, ways=ways)
    assert_exact(storage, site)
    assert "timed out" not in (storage.root.parent / "actor.log").read_text()


def test_pages_waiting_for_their_commit_free_their_slot_and_a_kill_amid_them_loses_nothing(storage: Storage) -> None:
    """maxConcurrency 1 and a slow push: the crawl fetches on while it is under way, and the pages fetched
    meanwhile go together in the next group (pages that held their slot would make groups of one page); the
    platform stores only the first item of that group when the Actor is killed, and the restart is exact."""
    ways = PlatformWays(slow_pushes={6: 2}, cut_push_after=1)

    with LocalSite(pages=40) as site:
        storage.write_input(crawl_input(site, maxConcurrency=1))
        platform = at_home(storage, killed_then_restarted, ways=ways)
    assert platform.exit_codes == [-signal.SIGKILL, 0]  # killed inside a push of several pages
    assert "landed after the last checkpoint" in (storage.root.parent / "actor.log").read_text()
    assert_exact(storage, site)


def test_a_rejected_push_stops_the_crawl_with_one_message_and_a_restart_is_exact(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.start()
        assert await platform.wait_for_exit(within=60) == 1
        assert "The dataset refused a push" in platform.status_messages()[-1][1]
        platform.ways.rejected_pushes.clear()
        await platform.start()
        assert await platform.wait_for_exit(within=120) == 0

    with LocalSite(pages=100) as site:
        storage.write_input(crawl_input(site, maxConcurrency=8))
        at_home(storage, script, ways=PlatformWays(rejected_pushes={4}))
    assert_exact(storage, site)


def test_a_request_the_queue_did_not_mark_handled_is_not_saved_twice_after_a_migration(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.start()
        await platform.wait_for_items(60)
        await platform.migrate()
        assert await platform.wait_for_exit(within=120) == 0

    with LocalSite(pages=200, latency_secs=0.02) as site:
        storage.write_input(crawl_input(site, maxConcurrency=8))
        at_home(storage, script, ways=PlatformWays(refused_marks={5, 6, 7}))
    assert_exact(storage, site)
    assert "did not mark" in (storage.root.parent / "actor.log").read_text()


def test_an_abort_with_no_retries_left_loses_no_page_in_flight(storage: Storage) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.start()
        await platform.wait_for_items(10)
        await platform.send("aborting")
        assert await platform.wait_for_exit(within=60) == 0
        await platform.start()  # resurrected
        assert await platform.wait_for_exit(within=120) == 0

    with LocalSite(pages=80, latency_secs=0.3) as site:
        storage.write_input(crawl_input(site, maxConcurrency=8, maxRequestRetries=0))
        at_home(storage, script)
    assert_exact(storage, site)


def test_a_redirected_request_saves_the_page_it_loaded_once(storage: Storage) -> None:
    """Each page n also links to /old/n+1, which redirects to /page/n+1: each request saves the page it loaded once,
    under its own key, as crawlee does (/page/n and /old/n are two requests), and loads nothing again."""
    with LocalSite(pages=100, redirects=True) as site:
        storage.write_input(crawl_input(site, maxConcurrency=8))
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert dict(site.visits) == {0: 1, **dict.fromkeys(range(1, 100), 2)}
    by_old_addresses = site_routes.expected_items(site, range(1, 100))
    assert sort_items(storage.items()) == sort_items(site_routes.expected_items(site) + by_old_addresses)
    assert storage.state()["pages"] == 199


def test_a_redirected_request_keeps_what_the_user_put_on_it(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each page is added by its old address, with the header that the page it redirects to needs."""
    monkeypatch.setenv(ROUTES_VARIABLE, "chain_routes")
    monkeypatch.setenv("VIA_OLD_ADDRESSES", "1")
    with LocalSite(pages=6, guarded={1, 2, 3, 4, 5}) as site:
        storage.write_input(crawl_input(site, maxRequestRetries=1))
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert storage.state()["failed"] == 0
    assert sort_items(storage.items()) == chain_routes.expected_items(site)


@pytest.mark.parametrize("status", [303, 302])
def test_a_form_post_answered_with_303_saves_the_results_page_it_was_redirected_to(
    storage: Storage, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    """Post/Redirect/Get: the HTTP client follows the 303 (or 302) with a GET of the results page; that page is saved
    under the POST's request, and the POST is sent once (the results page takes no POST: 405)."""
    monkeypatch.setenv(ROUTES_VARIABLE, "redirect_routes")
    with RedirectSite(pages=2, post_redirect=status) as site:
        storage.write_input({**crawl_input(site), "startUrls": [{"url": f"{site.origin}/form"}]})
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert storage.state()["failed"] == 0
    assert site.posts == [("/search", SEARCH)]
    assert site.visits["/results"] == 1
    expected = redirect_routes.expected_items(site, (None, "/form"), ("RESULTS", "/results"))
    assert sort_items(storage.items()) == expected


def test_one_url_under_two_keys_of_your_own_redirected_to_its_canonical_address_is_saved_by_both_handlers(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests of /old/1 (keys of the handler's own, labels A and B: crawlee's way to load a URL twice), which
    answers 301 to /page/1: both handlers run, each saves its page once, as plain crawlee does."""
    monkeypatch.setenv(ROUTES_VARIABLE, "redirect_routes")
    with RedirectSite(pages=2) as site:
        storage.write_input({**crawl_input(site), "startUrls": [{"url": f"{site.origin}/two-labels"}]})
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert storage.state()["failed"] == 0
    assert site.visits[1] == 2
    expected = redirect_routes.expected_items(site, (None, "/two-labels"), ("A", "/page/1"), ("B", "/page/1"))
    assert sort_items(storage.items()) == expected


def test_a_start_url_redirected_to_a_one_time_address_is_saved_once(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/file answers 302 to /file?token=T<n>, a new token on every request: the page loaded is saved under the start
    URL's request, the first time (the site hands out ONE_TIME_TOKENS tokens, then answers 404)."""
    monkeypatch.setenv(ROUTES_VARIABLE, "redirect_routes")
    with RedirectSite(pages=2) as site:
        storage.write_input({**crawl_input(site), "startUrls": [{"url": f"{site.origin}/file"}]})
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert site.tokens == 1, f"/file was asked for {site.tokens} times (at most {ONE_TIME_TOKENS} tokens)"
    assert sort_items(storage.items()) == redirect_routes.expected_items(site, (None, "/file?token=T1"))
    assert storage.state()["failed"] == 0


def test_requests_a_handler_adds_are_added_with_its_page_not_when_it_is_given_back(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page 3 is given back at the charge limit: the page 4 its handler added with always_enqueue is not queued."""
    monkeypatch.setenv(ROUTES_VARIABLE, "chain_routes")

    async def script(platform: PlatformStandIn) -> None:
        await platform.start(**charged("0.03", 0))  # pages 0-2
        assert await platform.wait_for_exit(within=60) == 0
        assert storage.item_count() == 3
        await platform.start(**charged("100", 3))  # resurrected with a higher limit
        assert await platform.wait_for_exit(within=60) == 0

    with LocalSite(pages=8) as site:
        storage.write_input(crawl_input(site))
        at_home(storage, script)
    assert_exact(storage, site, chain_routes)


def test_a_crash_between_a_handlers_adds_and_its_mark_adds_the_same_requests_again(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """always_enqueue keys are made of the page's key: the handler run again adds keys the queue holds already."""
    monkeypatch.setenv(ROUTES_VARIABLE, "chain_routes")
    with LocalSite(pages=8) as site:
        storage.write_input(crawl_input(site))
        crashed = run_actor(storage, entry=CRASH_ENTRY, CRASH_AFTER_ADD="3")  # start URLs, page 0's, page 1's
        assert crashed.returncode == -signal.SIGKILL
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert_exact(storage, site, chain_routes)


def test_always_enqueue_keys_do_not_depend_on_the_order_of_the_adds() -> None:
    """A handler run again after a crash may add the same requests in another order (a set's order changes between
    processes): it must add the same keys, which the queue then takes once."""
    with_keys = importlib.import_module(f"{package_name()}.engine.crawling")._with_keys_of_the_page
    urls = [f"http://127.0.0.1/page/{n}" for n in (1, 2, 3, 2)]  # page 2 twice: two requests, two keys

    def keys(order: list[str], page: str = "parent") -> list[str]:
        calls = [{"requests": [Request.from_url(url, always_enqueue=True) for url in order]}]
        return sorted(request.unique_key for call in with_keys(calls, page) for request in call["requests"])

    assert keys(urls) == keys(list(reversed(urls)))
    assert len(set(keys(urls))) == 4
    assert not set(keys(urls)) & set(keys(urls, page="another page"))  # another page's adds are other requests


def test_a_key_of_your_own_that_looks_like_an_always_enqueue_one_is_kept() -> None:
    """A handler's own unique key of 17 letters and digits and "|" (as crawlee's always_enqueue keys look) is the
    key of one request, whichever page adds it."""
    crawling = importlib.import_module(f"{package_name()}.engine.crawling")
    old, new = "http://127.0.0.1/old/1", "http://127.0.0.1/page/1"

    def added(request: Request, page: str) -> list[str]:
        calls = [{"requests": [request, request]}]  # one request added twice: one key, as crawlee would
        return [r.unique_key for call in crawling._with_keys_of_the_page(calls, page) for r in call["requests"]]

    for own_id in ("ABCDEFGHIJKLMNOPQ", "ABCDEFGHIJKLMNOPQ01234567"):
        own = Request.from_url(new, unique_key=f"{own_id}|sku-1")
        assert added(own, "a") + added(own, "b") == [f"{own_id}|sku-1"] * 4
    drawn = Request.from_url(old, always_enqueue=True)  # while crawlee's own are made of the page's key
    made = added(drawn, "a")
    assert made[0] == made[1] != drawn.unique_key
    assert made[0].endswith(f"|{old}")
    assert made != added(drawn, "b")


def test_a_crawl_fails_if_crawlee_draws_always_enqueue_ids_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    crawling = importlib.import_module(f"{package_name()}.engine.crawling")
    crawling.check_always_enqueue_ids_are_drawn_here()
    monkeypatch.setattr("crawlee._request.crypto_random_object_id", crawling.crypto_random_object_id)  # crawlee's own
    with pytest.raises(crawling.StateError, match="pin crawlee"):
        crawling.check_always_enqueue_ids_are_drawn_here()


def test_failed_pages_are_counted_in_the_final_status(storage: Storage) -> None:
    with LocalSite(pages=30, broken_links=2) as site:
        storage.write_input(crawl_input(site))
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert "Done: 30 items pushed, from 30 pages; 2 pages failed after all retries (see the log)." in result.stdout
    assert_exact(storage, site)


def test_max_requests_per_crawl_counts_pages_saved_and_may_be_raised_or_lowered(storage: Storage) -> None:
    with LocalSite(pages=100, broken_links=3) as site:
        storage.write_input(crawl_input(site, maxRequestsPerCrawl=30))
        assert run_actor(storage).returncode == 0
        assert len(storage.items()) == 30  # pages saved: the three failed requests are not counted
        storage.write_input(crawl_input(site, maxRequestsPerCrawl=20))  # lowered: done at once
        assert run_actor(storage).returncode == 0
        assert len(storage.items()) == 30
        storage.write_input(crawl_input(site, maxRequestsPerCrawl=60))  # raised: goes on
        assert run_actor(storage).returncode == 0
        assert len(storage.items()) == 60
        storage.write_input(crawl_input(site))
        assert run_actor(storage).returncode == 0
    assert_exact(storage, site)
