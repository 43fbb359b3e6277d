from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from harness import BROWSER_VARIABLES, Storage

# A crawler in a browser needs one: with none set, a Chromium on the PATH (Debian's `chromium` package), without
# its sandbox when the tests run as root (as in a container). Playwright's own downloaded browser needs nothing.
if not any(os.environ.get(name) for name in BROWSER_VARIABLES) and (chromium := shutil.which("chromium")):
    os.environ["CRAWLEE_DEFAULT_BROWSER_PATH"] = chromium
    if os.geteuid() == 0:
        os.environ["CRAWLEE_DISABLE_BROWSER_SANDBOX"] = "1"

# The long tier (`pytest -m long`; pyproject.toml's addopts leave it out of a plain `pytest`): the full matrices
# (every pagination style, every seed), incremental runs, scale-out, the rehearsals and the campaign. What stays in
# the fast tier checks the promise for each kind: a restore, a kill, the crash window, a migration, bad input.
# An entry is a test file, a test (all its parameters) or one parametrized case; files of other kinds are absent.
LONG = [
    # every kind
    "test_campaign.py::test_a_scenario_of_the_campaign_keeps_the_promise",
    "test_rehearse.py",
    "test_scale_out.py",
    "test_standin_schedule.py",
    # json_api
    "test_incremental.py",
    "test_incremental_at_home.py",
    "test_ledger.py::test_a_group_of_pages_cut_in_the_middle_of_its_push_by_a_kill",
    "test_ledger.py::test_a_kill_right_after_a_push_with_a_lagging_item_count_and_an_instant_restart[2]",
    "test_ledger.py::test_a_kill_right_after_a_push_with_a_lagging_item_count_and_an_instant_restart[5]",
    "test_ledger.py::test_a_refused_push_is_pushed_again",
    "test_ledger.py::test_max_items_inside_a_page_checkpoints_just_after_the_last_item_used_and_may_be_raised",
    "test_migration.py::test_migrations_past_the_reboot_guard_wait_for_the_platform_instead_of_looping",
    "test_migration.py::test_migrating_during_a_slow_page_abandons_it_and_fetches_it_again",
    "test_migration.py::test_status_messages_reach_the_platform_rate_limited",
    "test_pagination.py::test_each_style_is_exact_through_the_crash_window_a_kill_a_migration_and_an_abort",
    "test_pagination.py::test_each_style_reads_the_whole_source_in_order",
    "test_pagination.py::test_graphql_errors_at_http_200_are_failed_attempts",
    "test_resume.py::test_kill_9_at_random_moments_then_restart[2]",
    "test_resume.py::test_kill_9_at_random_moments_then_restart[3]",
    "test_resume.py::test_crash_between_push_and_checkpoint_is_reconciled[3]",
    "test_resume.py::test_429_and_500_bursts_are_retried_and_the_output_stays_exact",
    "test_resume.py::test_a_source_that_keeps_failing_gives_up_naming_url_and_status",
    "test_resume.py::test_corrupt_state_fails_clearly_and_touches_nothing",
    "test_resume.py::test_max_items_lowered_below_what_a_crashed_push_landed_keeps_those_items_and_says_so",
    "test_resume.py::test_progress_is_shown_as_status_messages",
    # website
    "test_incremental_crawl.py",
    "test_website.py::test_a_two_label_router_through_migrations_on_the_platform",
    "test_website.py::test_a_two_label_router_with_several_pushes_a_page_is_exact_under_kills",
    "test_website.py::test_kill_9_at_random_moments_then_restart[2]",
    "test_website.py::test_max_requests_per_crawl_holds_across_kills",
    "test_website.py::test_pages_waiting_for_their_commit_free_their_slot_and_a_kill_amid_them_loses_nothing",
    "test_website.py::test_the_charge_limit_stops_the_crawl_at_whole_pages_and_a_resumed_run_goes_on",
    # browser
    "test_browser.py::test_an_incremental_crawl_loads_only_the_new_pages_in_the_next_run",
    "test_browser.py::test_max_requests_per_crawl_holds_across_kills",
]


def _long(nodeid: str) -> str | None:
    """The entry of LONG that names this test, if any."""
    name = nodeid.removeprefix("tests/")
    for entry in LONG:
        if name == entry or name.startswith((f"{entry}::", f"{entry}[")):
            return entry
    return None


@pytest.hookimpl(tryfirst=True)  # before `-m` and `-k` deselect anything
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    used = set()
    for item in items:
        if entry := _long(item.nodeid):
            item.add_marker(pytest.mark.long)
            used.add(entry)
    # A test renamed or removed must not leave the long tier silently: with whole files collected, every entry
    # whose file is here names some test.
    if not any("::" in arg for arg in config.args):
        collected = {item.nodeid.removeprefix("tests/").split("::")[0] for item in items}
        stale = [entry for entry in LONG if entry.split("::")[0] in collected and entry not in used]
        if stale:
            raise pytest.UsageError(f"tests/conftest.py: LONG names no test here: {', '.join(stale)}")


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "storage")
