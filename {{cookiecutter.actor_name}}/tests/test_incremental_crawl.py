"""Incremental crawls on a schedule (website kind): successive runs of one job in one storage folder (schedule.py)
against a local site that grows between runs (local_site.py with a listing, crawled by listing_routes.py): each
run loads the start URL and the listing again (revisitLabels), never a page saved before, and delivers the new
pages' items; runs killed for good hand their pages over to the next run that succeeds."""

from __future__ import annotations

import importlib
import random
import signal
from collections import Counter

import home_link_routes
import listing_items_routes
import listing_routes
import pytest
import site_routes
from crawlee import Request
from harness import ROUTES_VARIABLE, Storage, kill_once_working, package_name
from local_site import LocalSite, sort_items
from schedule import Schedule

JOB = "pages-job"  # datasetName of the tests that name their job
CRASH_ENTRY = "tests/crash_after_push.py"


@pytest.fixture(autouse=True)
def tests_own_router(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ROUTES_VARIABLE, "listing_routes")


def incremental_input(site: LocalSite, **fields: object) -> dict:
    return {
        "startUrls": [{"url": site.home}],
        "maxRequestsPerCrawl": 0,
        "incremental": True,
        "revisitLabels": ["LIST"],
        **fields,
    }


def visits_since(site: LocalSite, before: Counter) -> Counter:
    return Counter(site.visits) - before


def test_each_run_loads_and_delivers_only_the_new_pages(storage: Storage) -> None:
    """Each run loads the start URL and the listing again, of the pages only the new ones (and one that failed for
    good in the run before), and delivers exactly their items; a run with nothing new is empty and says so."""
    with LocalSite(pages=8, listing=True, faults={3: [500]}) as site:
        # The job named after the Actor and its start URLs; page 3 fails for good in the first run (no retries).
        schedule = Schedule(storage, incremental_input(site, maxRequestRetries=0))
        result = schedule.run()
        assert result.returncode == 0
        assert sort_items(schedule.runs[-1][1]) == listing_routes.expected_items(site, [0, 1, 2, 4, 5, 6, 7])
        assert "1 page of this pass failed after all retries" in result.stdout

        site.pages = 12
        before = Counter(site.visits)
        assert schedule.run().returncode == 0
        assert sort_items(schedule.runs[-1][1]) == listing_routes.expected_items(site, [3, *range(8, 12)])
        # The start URL and the listing again, the new pages and the failed one once, no page saved before.
        assert visits_since(site, before) == Counter({"/": 1, "/list": 1, 3: 1, **dict.fromkeys(range(8, 12), 1)})

        before = Counter(site.visits)
        result = schedule.run()
        assert result.returncode == 0
        assert schedule.runs[-1][1] == []
        assert "nothing new" in result.stdout
        assert visits_since(site, before) == Counter({"/": 1, "/list": 1})

    everything = listing_routes.expected_items(site, range(12))
    assert sort_items(schedule.job_items()) == everything
    assert sort_items(schedule.delivered_by_succeeded_runs()) == everything


def test_runs_killed_for_good_are_handed_over(storage: Storage) -> None:
    """Runs killed at random instants and never resumed, pages added between runs, then runs that go through:
    the runs that succeeded delivered every page's item exactly once, taken together, and so does the job's
    dataset. (The first run after a kill finishes the pass the killed run began, whose listing it loaded then:
    pages added since come with the next pass, the next run.)"""
    chance = random.Random(2512)
    with LocalSite(pages=30, listing=True, latency_secs=0.05) as site:
        schedule = Schedule(storage, incremental_input(site, datasetName=JOB, maxConcurrency=2))
        for _ in range(4):
            schedule.killed_run(chance, within_secs=0.8)
            site.pages += chance.randint(5, 20)
        assert schedule.run().returncode == 0
        assert schedule.run().returncode == 0
    assert any(ended == "killed" for ended, _items in schedule.runs)
    everything = listing_routes.expected_items(site, range(site.pages))
    assert sort_items(schedule.delivered_by_succeeded_runs()) == everything
    assert sort_items(schedule.job_items()) == everything


def test_max_requests_per_crawl_counts_from_each_runs_start(storage: Storage) -> None:
    """A run stops at maxRequestsPerCrawl pages of its own (the home page and the listing count), delivers what it
    saved, and the next run goes on in the same pass: the start URL and the listing are not loaded again until
    the pass is done."""
    with LocalSite(pages=12, listing=True) as site:
        schedule = Schedule(storage, incremental_input(site, maxRequestsPerCrawl=6))
        for _ in range(3):  # 2 + 4 pages, then 6, then the last 2: the pass is done
            assert schedule.run().returncode == 0
        assert [len(items) for _ended, items in schedule.runs] == [4, 6, 2]
        assert site.visits["/"] == site.visits["/list"] == 1  # (a page fetched past a limit is given back unsaved)

        site.pages = 14
        assert schedule.run().returncode == 0  # a new pass
        assert sort_items(schedule.runs[-1][1]) == listing_routes.expected_items(site, range(12, 14))
        assert site.visits["/"] == site.visits["/list"] == 2
    everything = listing_routes.expected_items(site, range(14))
    assert sort_items(schedule.delivered_by_succeeded_runs()) == everything


def test_pages_loaded_again_deliver_only_their_new_versions(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    """The start URL and the listing, loaded in every pass, push items too (as every page of the generated routes.py
    does): a run that finds them as they were delivers nothing of them and says nothing is new; a listing that
    changed is delivered once, as a new version."""
    monkeypatch.setenv(ROUTES_VARIABLE, "listing_items_routes")
    with LocalSite(pages=3, listing=True) as site:
        schedule = Schedule(storage, incremental_input(site))
        assert schedule.run().returncode == 0
        result = schedule.run()
        assert result.returncode == 0
        assert "nothing new" in result.stdout
        site.pages = 5
        assert schedule.run().returncode == 0
    expected = listing_items_routes.expected_items
    assert [sort_items(items) for _ended, items in schedule.runs] == [
        expected(site, range(3), [3], home=True),
        [],
        expected(site, [3, 4], [5]),
    ]
    assert sort_items(schedule.job_items()) == expected(site, range(5), [3, 5], home=True)


def test_a_new_version_is_kept_once_its_items_have_landed(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    """The listing changed: a run killed as its item's push starts (the marker saved, nothing landed), then one
    killed right after it landed (before its version was kept apart from the marker): the next run hands the item
    over without pushing it again, and the run after that finds the listing unchanged."""
    monkeypatch.setenv(ROUTES_VARIABLE, "listing_items_routes")
    with LocalSite(pages=3, listing=True) as site:
        schedule = Schedule(storage, incremental_input(site))
        assert schedule.run().returncode == 0
        site.pages = 4
        for crash in ("CRASH_BEFORE_PUSH", "CRASH_AFTER_PUSH"):  # the first push: the listing's (the home page's
            assert schedule.run(entry=CRASH_ENTRY, **{crash: "1"}).returncode == -signal.SIGKILL  # is as it was)
        assert schedule.run().returncode == 0
        result = schedule.run()
        assert result.returncode == 0
        assert "nothing new" in result.stdout
    expected = listing_items_routes.expected_items
    assert [sort_items(items) for _ended, items in schedule.runs] == [
        expected(site, range(3), [3], home=True),
        [],
        [],
        expected(site, [3], [4]),
        [],
    ]
    assert sort_items(schedule.job_items()) == expected(site, range(4), [3, 4], home=True)


def test_a_home_link_to_the_start_url_and_an_unlabelled_link_to_a_listing_load_nothing_twice(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every page links back to the start URL (a Home link) and to the listing, unlabelled: a run saves each page once,
    as a plain crawl does (the start URL and the listing are loaded once a pass, under the pass's key), and the next
    run loads again only those two and the new pages, delivering the listing's new version and the new pages."""
    monkeypatch.setenv(ROUTES_VARIABLE, "home_link_routes")
    with LocalSite(pages=6, listing=True) as site:
        schedule = Schedule(storage, incremental_input(site))
        assert schedule.run().returncode == 0
        assert sort_items(schedule.runs[-1][1]) == home_link_routes.expected_items(site, range(6), [6], home=True)
        assert set(site.visits.values()) == {1}

        site.pages, before = 8, Counter(site.visits)
        assert schedule.run().returncode == 0
        assert sort_items(schedule.runs[-1][1]) == home_link_routes.expected_items(site, [6, 7], [8])
        assert visits_since(site, before) == Counter({"/": 1, "/list": 1, 6: 1, 7: 1})


def test_an_unlabelled_link_to_the_listing_is_the_listings_page_after_a_kill_before_the_listing_was_loaded(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first run is killed once the home page has added the listing (labelled) and before the listing is loaded;
    the next run goes on with the pass: the pages' unlabelled links to the listing are still the listing's page of
    the pass, which is saved once (by its LIST handler), as in a run that is not killed."""
    monkeypatch.setenv(ROUTES_VARIABLE, "home_link_routes")
    with LocalSite(pages=6, listing=True, latency_secs=1.0) as site:
        schedule = Schedule(storage, incremental_input(site, datasetName=JOB))
        process = schedule.start()
        listing_key = f"|{site.home}list"

        def listing_queued() -> bool:
            queue = storage.root / "request_queues" / JOB
            return any(listing_key in path.read_text(errors="replace") for path in queue.glob("*.json"))

        assert kill_once_working(process, listing_queued, random.Random(0), 0)
        schedule.ended(process, killed=True)
        assert schedule.run().returncode == 0
    assert sort_items(schedule.job_items()) == home_link_routes.expected_items(site, range(6), [6], home=True)


def test_the_generated_routes_save_the_start_page_once_although_pages_link_back_to_it(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the generated routes.py (site_routes.py) every link is followed unlabelled, the Home link back to the start
    URL too: the start page is saved once, as in a plain crawl."""
    monkeypatch.setenv(ROUTES_VARIABLE, "site_routes")
    with LocalSite(pages=5, listing=True) as site:
        schedule = Schedule(storage, incremental_input(site, revisitLabels=[]))
        assert schedule.run().returncode == 0
    home_and_listing = [{"url": site.home, "title": "Home"}, {"url": f"{site.home}list", "title": "All pages"}]
    assert sort_items(schedule.runs[-1][1]) == sort_items(site_routes.expected_items(site) + home_and_listing)
    assert set(site.visits.values()) == {1}


def test_links_added_as_text_to_a_page_loaded_again_get_the_passs_key() -> None:
    """A handler may add a Home link as text, relative or absolute (context.add_requests(["/"])): it is the start
    page's request of the pass, as a link enqueued from the page is."""
    crawling = importlib.import_module(f"{package_name()}.engine.crawling")
    revisits = importlib.import_module(f"{package_name()}.engine.incremental_pages").Revisits(2, frozenset({"LIST"}), 0)
    home = "http://127.0.0.1:8000/"
    home_key = Request.from_url(home).unique_key
    revisits.pages.add(home_key)
    calls = [{"requests": ["/", home, "/page/1", Request.from_url(f"{home}list", label="LIST")]}]
    added = crawling._with_keys_of_the_page(calls, "page", revisits, base_url=f"{home}page/3")
    keys = [request.unique_key for call in added for request in call["requests"]]
    assert keys == [f"revisit-2|{home_key}"] * 2 + [f"{home}page/1", f"revisit-2|{home}list"]
