"""The GitHub Actions workflow that builds the baked image (Docker is not on this CI machine): it must at
least parse, cover every python_version the template offers, build what it baked, and pass zizmor as the
generated projects' workflows do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import TEMPLATE


def test_the_docker_workflow_builds_every_python_version() -> None:
    workflow = yaml.safe_load((TEMPLATE / ".github" / "workflows" / "docker.yml").read_text())
    job = workflow["jobs"]["image"]
    choices = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"]
    assert job["strategy"]["matrix"]["python-version"] == choices
    commands = "\n".join(step.get("run", "") for step in job["steps"])
    (bake,) = [step for step in job["steps"] if "cookiecutter --no-input" in step.get("run", "")]
    assert bake["env"]["PYTHON_VERSION"] == "${{ matrix.python-version }}"
    assert 'cookiecutter --no-input . --output-dir build python_version="$PYTHON_VERSION"' in commands
    assert "docker build --tag my-actor build/my-actor" in commands
    assert "docker run --rm my-actor" in commands


def test_the_repository_workflows_pass_zizmor_and_the_schema() -> None:
    tools = Path(sys.executable).parent
    for command in (
        [tools / "zizmor", "--offline", "--no-config", "--no-ignores", "--no-progress", "--persona=auditor", ".github"],
        [tools / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", ".github/workflows/docker.yml"],
    ):
        result = subprocess.run(command, cwd=TEMPLATE, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
