"""A custom-kind project whose user replaced source.py: its own generated tests (tests/test_custom.py, less those
about the example) read the new source and prove every row lands exactly once, in order, through kills, crashes
right after a push, migrations and reads that raise. The sources (tests/custom_sources/): a keyset over a SQLite
table with gaps in its ids and a composite key (a tuple position, a list after a restart), and a page-token source
as an SDK's list call gives one. A source that does not give the same page for the same position is caught, with a
message saying so."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run

SOURCES = Path(__file__).parent / "custom_sources"


def with_source(bake, tmp_path: Path, source: str) -> Path:
    project = tmp_path / "my-actor"
    shutil.copytree(bake({"source": "custom"}), project)
    (project / "my_actor" / "source.py").write_text(source)
    return project


# The keyset source through both tiers (kills at random instants, incremental runs); the page-token one through the
# fast tier (restore, the crash window, a migration, reads that raise), to keep the suite's time.
TIERS = [("gaps_keyset", "not example"), ("page_token", "not example and not long")]


@pytest.mark.parametrize(("name", "tests"), TIERS)
def test_a_replaced_source_passes_the_projects_own_tests(
    bake, tmp_path: Path, kind_python, name: str, tests: str
) -> None:
    project = with_source(bake, tmp_path, (SOURCES / f"{name}.py").read_text())
    command = [str(kind_python("custom")), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2"]
    result = run([*command, "tests/test_custom.py", "-m", tests], cwd=project)
    assert " passed" in result.stdout
    assert "failed" not in result.stdout


def test_a_source_that_is_not_stable_is_caught_by_the_projects_tests(bake, tmp_path: Path, kind_python) -> None:
    keyset = (SOURCES / "gaps_keyset.py").read_text()
    shuffled = keyset.replace(
        '"SELECT * FROM rows ORDER BY kind, id LIMIT ?"', '"SELECT * FROM rows ORDER BY random() LIMIT ?"'
    )
    assert shuffled != keyset
    project = with_source(bake, tmp_path, shuffled)
    command = [str(kind_python("custom")), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"]
    result = subprocess.run(
        [*command, "tests/test_custom.py::test_reads_the_whole_source_exactly_once_in_order"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "source.py does not give the same page for the same position" in result.stdout
