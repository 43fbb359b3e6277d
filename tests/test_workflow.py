"""The GitHub Actions workflow that builds the baked image (Docker is not on this CI machine): it must at
least parse, cover every python_version the template offers, and build what it baked."""

from __future__ import annotations

import json

import yaml
from conftest import TEMPLATE


def test_the_docker_workflow_builds_every_python_version() -> None:
    workflow = yaml.safe_load((TEMPLATE / ".github" / "workflows" / "docker.yml").read_text())
    job = workflow["jobs"]["image"]
    choices = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"]
    assert job["strategy"]["matrix"]["python-version"] == choices
    commands = "\n".join(step.get("run", "") for step in job["steps"])
    assert "cookiecutter --no-input . --output-dir build python_version=${{ matrix.python-version }}" in commands
    assert "docker build --tag my-actor build/my-actor" in commands
    assert "docker run --rm my-actor" in commands
