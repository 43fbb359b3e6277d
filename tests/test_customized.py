"""A project whose `transform` its user changed: its transform-sensitive tests and the rehearsal still hold
it to exactly-once; and a transform that breaks the contract (not deterministic) is caught when a crash
between a push and its checkpoint makes the restarted run compare what landed with the page again. A website
project whose `routes.py` its user replaced with a two-label router (listing and detail pages, several
`push_data` calls a page) rehearses exactly through migrations and kills."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run

RESHAPE_AND_DROP = """    if item["id"] % 3 == 0:
        return None  # drop every third item
    return {"id": item["id"], "label": item["name"].upper()}
"""
NOT_DETERMINISTIC = """    import random

    return {**item, "nonce": random.random()}
"""
TWO_LABEL_ROUTES = """from crawlee.crawlers import ParselCrawlingContext
from crawlee.router import Router

router = Router[ParselCrawlingContext]()


@router.default_handler
async def start_page(context: ParselCrawlingContext) -> None:
    await context.enqueue_links(selector='a[href^="/page/"]', label="DETAIL")


@router.handler("DETAIL")
async def detail_page(context: ParselCrawlingContext) -> None:
    url = context.request.loaded_url or context.request.url
    await context.push_data({"url": url, "part": 1})
    await context.push_data([{"url": url, "part": 2, "heading": context.selector.css("h1::text").get()}])
    await context.enqueue_links(selector='a[href^="/page/"]', label="DETAIL")
"""
REHEARSAL = ["tests/rehearse.py", "--total", "600", "--page-size", "20", "--latency", "0.3"]
# The generated tests whose expectations come from the project's own transform (harness.expected_items): the
# rest do not depend on it, and every answer set's .py files are the template's (test_template.py).
TRANSFORM_SENSITIVE = [
    "tests/test_resume.py::test_reads_the_whole_source_in_order",
    "tests/test_resume.py::test_kill_9_at_random_moments_then_restart",
    "tests/test_resume.py::test_crash_between_push_and_checkpoint_is_reconciled",
    "tests/test_resume.py::test_max_items_stops_without_reading_on",
    "tests/test_ledger.py::test_a_kill_right_after_a_push_with_a_lagging_item_count_and_an_instant_restart",
    "tests/test_ledger.py::test_max_items_inside_a_page_checkpoints_just_after_the_last_item_used_and_may_be_raised",
    "tests/test_ledger.py::test_a_smaller_page_size_after_a_crash_in_the_window_carries_the_landed_items_over",
    "tests/test_pagination.py::test_each_style_is_exact_through_the_crash_window_a_kill_a_migration_and_an_abort",
    "tests/test_migration.py::test_two_migrations_in_one_run",
]


def customized(bake, tmp_path: Path, body: str) -> Path:
    project = tmp_path / "my-actor"
    shutil.copytree(bake({}), project)
    main = project / "my_actor" / "main.py"
    source = main.read_text()
    assert source.count("    return item\n") == 1
    main.write_text(source.replace("    return item\n", body))
    return project


@pytest.fixture
def reshaped(bake, tmp_path: Path) -> Path:
    return customized(bake, tmp_path, RESHAPE_AND_DROP)


def test_a_changed_transform_passes_the_projects_transform_sensitive_tests(reshaped: Path, actor_python: Path) -> None:
    command = [str(actor_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "3", *TRANSFORM_SENSITIVE]
    # The GET styles only: the POST shapes take the same path through the transform (the project's own suite runs
    # them), and search_after's items are Elasticsearch hits, which this transform was not written for.
    command += ["-k", "not graphql and not searchAfter and not oauth2"]
    result = run(command, cwd=reshaped)  # fails on a failed test, and on a test name that no longer exists
    assert " passed" in result.stdout


def test_a_changed_transform_rehearses_exactly(reshaped: Path, actor_python: Path) -> None:
    disruptions = ["--migrate-after", "1.6", "--kill-after", "1.3", "--times", "2"]
    result = run([str(actor_python), *REHEARSAL, *disruptions], cwd=reshaped)
    assert "items in dataset       400 (expected 400)" in result.stdout
    assert "RESULT: exact" in result.stdout


def test_a_transform_that_is_not_deterministic_is_caught_after_a_crash_in_the_window(
    bake, tmp_path: Path, actor_python: Path
) -> None:
    project = customized(bake, tmp_path, NOT_DETERMINISTIC)
    storage = tmp_path / "storage"
    command = [*REHEARSAL, "--crash-after-push", "2", "--times", "0", "--storage", str(storage)]
    result = subprocess.run([str(actor_python), *command], cwd=project, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "exit codes             -9 1" in result.stdout  # the restart refused to go on
    assert "RESULT: NOT EXACT" in result.stdout
    assert "differ from what the page at offset 20 gives now: the source or the transform changed" in result.stdout


def test_a_website_project_with_its_own_two_label_router_rehearses_exactly(bake, tmp_path: Path, kind_python) -> None:
    project = tmp_path / "my-actor"
    shutil.copytree(bake({"source": "website"}), project)
    (project / "my_actor" / "routes.py").write_text(TWO_LABEL_ROUTES)
    disruptions = ["--migrate-after", "1.5", "--kill-after", "1.2", "--times", "2"]
    command = [str(kind_python("website")), "tests/rehearse.py", "--total", "800", "--latency", "0.3", *disruptions]
    result = run(command, cwd=project)
    assert "items in dataset       1598 (expected 1598)" in result.stdout  # two for each page but the start page
    assert "kills (SIGKILL)        1" in result.stdout
    assert "RESULT: exact" in result.stdout
