"""The rehearsal command users run on their own Actor: it reports exactly, and it can report failure."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from harness import PROJECT_ROOT, Storage, expected_items, package_name, source_item
from platform_standin import PlatformStandIn
from rehearse import is_browser, is_crawler, is_custom, report

# Sources long enough that the run is still going at the second disruption: offset paging fetches 4 pages at
# once, a cursor one at a time; a crawler saves hundreds of pages a second locally, so its site answers in 0.1 s
# (the --latency of the JSON API, 1 s, over ten), a browser is far slower; your own source (source.py) is read with
# its tests' input (the example's table: --total rows), each read slowed by --latency.
CASES = [("site", 100 if is_browser() else 400)] if is_crawler() else [("offset", 1500), ("cursor", 600)]
CASES = [("custom", 600)] if is_custom() else CASES
LATENCY = {"site": "0.3" if is_browser() else "1.0", "offset": "0.3", "cursor": "0.3", "custom": "0.3"}


@pytest.mark.parametrize(("source", "total"), CASES)
def test_rehearsal_with_migrations_and_kills_reports_exactly(tmp_path: Path, source: str, total: int) -> None:
    command = [sys.executable, "tests/rehearse.py", "--migrate-after", "1.6", "--kill-after", "1.3", "--times", "2"]
    command += ["--total", str(total), "--latency", LATENCY[source], "--storage", str(tmp_path / "storage")]
    if source in ("offset", "cursor"):
        command += ["--pagination", source]
    if source != "site":
        command += ["--page-size", "20"]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "migrations sent        1\n" in result.stdout
    assert "reboots asked          1\n" in result.stdout
    assert "kills (SIGKILL)        1\n" in result.stdout
    assert "duplicates             0\n" in result.stdout
    assert "missing                0\n" in result.stdout
    assert "RESULT: exact" in result.stdout
    saved = Storage(tmp_path / "storage").items()
    if source == "site":
        assert len(saved) == total  # one item per page: each page once ("duplicates 0", "missing 0" above)
    elif source == "custom":
        from rehearse_custom import expected_of  # noqa: PLC0415 - the custom kind's own

        rehearsed_input = json.loads((Storage(tmp_path / "storage").store / "INPUT.json").read_text())
        assert saved == expected_of(rehearsed_input)[0]
    else:
        assert saved == expected_items(total)


@pytest.mark.skipif(is_crawler() or is_custom(), reason="the schedule rehearsal is the JSON kind's")
def test_schedule_rehearsal_reports_each_run_and_the_checks(tmp_path: Path) -> None:
    command = [sys.executable, "tests/rehearse.py", "--schedule", "3", "--seed", "1", "--within", "0"]
    command += ["--disruptions", "kill,overlap,killed-at-done", "--changes", "2", "--new-items", "60"]
    command += ["--page-size", "10", "--latency", "0.2", "--storage", str(tmp_path / "storage")]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = [line.split()[3:5] for line in result.stdout.splitlines() if line.startswith("  run ")]
    assert runs == [
        ["kill", "FAILED"],
        ["overlap", "SUCCEEDED"],
        ["killed-at-done", "FAILED"],
        ["none", "(hands"],  # the last run failed: one more hands its items over
    ]
    assert "succeeded runs together" in result.stdout
    assert result.stdout.count("duplicates 0, missing 0") == 2
    assert "in source order yes" in result.stdout
    assert "RESULT: exact" in result.stdout


@pytest.mark.skipif(is_crawler() or is_custom(), reason="the schedule rehearsal is the JSON kind's")
def test_the_schedule_report_counts_what_succeeded_runs_delivered(tmp_path: Path) -> None:
    from rehearse_schedule import ScheduledRun, ScheduleRehearsal  # noqa: PLC0415 - the JSON kind's own

    versions = [{"id": i, "updated": 1, "name": f"item-{i}"} for i in range(3)]
    platform = PlatformStandIn(Storage(tmp_path / "storage"))
    rehearsal = ScheduleRehearsal(argparse.Namespace(), platform, source=None, chance=None, versions=versions)
    rehearsal.runs = [
        ScheduledRun("none", "run1", "SUCCEEDED", expected_of(versions[:2])),
        ScheduledRun("kill", "run2", "FAILED", expected_of(versions[2:])),  # delivered, but failed: not counted
        ScheduledRun("none", "run3", "SUCCEEDED", expected_of(versions[1:2])),
    ]
    lines, exact = rehearsal.report()
    assert not exact
    assert any("3 items: duplicates 1, missing 1" in line for line in lines)
    assert any("0 items: duplicates 0, missing 3, in source order no" in line for line in lines)


def test_the_report_counts_duplicates_and_missing_items(tmp_path: Path) -> None:
    platform = PlatformStandIn(Storage(tmp_path / "storage"), starts=2, exit_codes=[-9, 0])
    expected = [source_item(i) for i in range(5)]
    dataset = [source_item(0), source_item(1), source_item(1), source_item(3), source_item(4)]
    lines, exact = report(platform, 1, dataset, expected)
    assert not exact
    assert "duplicates             1" in lines
    assert "missing                1" in lines
    assert report(platform, 1, expected, expected)[1]


def test_the_help_offers_what_this_project_has_and_refuses_the_rest_in_one_line() -> None:
    """The fault campaign is the JSON and crawler kinds', the schedule rehearsal and the built-in API's pagination
    the JSON kind's, parallel runs not your own source's: a project's --help lists only its own options, and one it
    lacks, given anyway, is refused with one line (your own source's: pointing to its rehearsal)."""
    json_api = not is_crawler() and not is_custom()
    offered = {"--campaign": not is_custom(), "--schedule": json_api, "--pagination": json_api}
    offered["--parallel-runs"] = not is_custom()
    rehearse = [sys.executable, "tests/rehearse.py"]
    shown = subprocess.run([*rehearse, "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    for option, here in offered.items():
        assert (option in shown.stdout) is here, option
        if not here:
            given = [option, "cursor" if option == "--pagination" else "2"]
            refused = subprocess.run([*rehearse, *given], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert (refused.stdout, len(refused.stderr.splitlines())) == ("", 1), refused.stderr
            assert option in refused.stderr
            if is_custom() and option == "--campaign":
                assert "tests/rehearse.py --migrate-after" in refused.stderr


def expected_of(items: list[dict]) -> list:
    """What the Actor's transform makes of these source items."""
    transform = importlib.import_module(f"{package_name()}.main").transform
    return [out for item in items if (out := transform(item)) is not None]
