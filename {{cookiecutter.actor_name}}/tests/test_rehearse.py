"""The rehearsal command users run on their own Actor: it reports exactly, and it can report failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from harness import PROJECT_ROOT, Storage, expected_items, source_item
from platform_standin import PlatformStandIn
from rehearse import is_browser, is_crawler, report

# Sources long enough that the run is still going at the second disruption: offset paging fetches 4 pages at
# once, a cursor one at a time; a crawler saves hundreds of pages a second locally, so its site answers in 0.1 s
# (the --latency of the JSON API, 1 s, over ten), a browser is far slower.
CASES = [("site", 100 if is_browser() else 400)] if is_crawler() else [("offset", 1500), ("cursor", 600)]
LATENCY = {"site": "0.3" if is_browser() else "1.0", "offset": "0.3", "cursor": "0.3"}


@pytest.mark.parametrize(("source", "total"), CASES)
def test_rehearsal_with_migrations_and_kills_reports_exactly(tmp_path: Path, source: str, total: int) -> None:
    command = [sys.executable, "tests/rehearse.py", "--migrate-after", "1.6", "--kill-after", "1.3", "--times", "2"]
    command += ["--total", str(total), "--latency", LATENCY[source], "--storage", str(tmp_path / "storage")]
    if source != "site":
        command += ["--pagination", source, "--page-size", "20"]
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
    else:
        assert saved == expected_items(total)


def test_the_report_counts_duplicates_and_missing_items(tmp_path: Path) -> None:
    platform = PlatformStandIn(Storage(tmp_path / "storage"), starts=2, exit_codes=[-9, 0])
    expected = [source_item(i) for i in range(5)]
    dataset = [source_item(0), source_item(1), source_item(1), source_item(3), source_item(4)]
    lines, exact = report(platform, 1, dataset, expected)
    assert not exact
    assert "duplicates             1" in lines
    assert "missing                1" in lines
    assert report(platform, 1, expected, expected)[1]
