"""A project whose `transform` its user changed: its own tests and the rehearsal still hold it to
exactly-once; and a transform that breaks the contract (not deterministic) is caught by the rehearsal."""

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
REHEARSAL = ["tests/rehearse.py", "--total", "600", "--page-size", "20", "--latency", "0.3"]


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


def test_a_changed_transform_passes_the_projects_own_tests(reshaped: Path, actor_python: Path) -> None:
    result = run([str(actor_python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=reshaped)
    assert " passed" in result.stdout


def test_a_changed_transform_rehearses_exactly(reshaped: Path, actor_python: Path) -> None:
    disruptions = ["--migrate-after", "1.6", "--kill-after", "1.3", "--times", "2"]
    result = run([str(actor_python), *REHEARSAL, *disruptions], cwd=reshaped)
    assert "items in dataset       400 (expected 400)" in result.stdout
    assert "RESULT: exact" in result.stdout


def test_a_transform_that_is_not_deterministic_fails_the_rehearsal(bake, tmp_path: Path, actor_python: Path) -> None:
    project = customized(bake, tmp_path, NOT_DETERMINISTIC)
    result = subprocess.run(
        [str(actor_python), *REHEARSAL, "--times", "0"], cwd=project, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "missing                600" in result.stdout
    assert "RESULT: NOT EXACT" in result.stdout
