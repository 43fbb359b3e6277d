"""Fixtures shared by the template's tests: baking a project (once per answer set) and one virtual
environment, built from a baked project's own requirements and dev group, to run baked projects in."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent.parent
TEMPLATE_PROJECT = TEMPLATE / "{{cookiecutter.actor_name}}"
APIFY_TOOLS = TEMPLATE / "tests" / "apify_tools"  # npm ci --prefix tests/apify_tools installs them
APIFY_CLI = APIFY_TOOLS / "node_modules" / ".bin" / "apify"
# uv must not download a Python here (none can be, and the tests must say so rather than wait).
os.environ["UV_PYTHON_DOWNLOADS"] = "never"


def run(command: list[str], cwd: Path | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run a command; on failure, fail the test with its output."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def bake(tmp_path_factory: pytest.TempPathFactory):
    """bake(answers) -> the project folder cookiecutter generated from those answers (cached)."""
    baked: dict[str, Path] = {}

    def _bake(answers: dict[str, str]) -> Path:
        key = json.dumps(answers, sort_keys=True)
        if key not in baked:
            output = tmp_path_factory.mktemp("baked")
            baked[key] = Path(
                cookiecutter(
                    str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output), default_config=True
                )
            )
        return baked[key]

    return _bake


@pytest.fixture(scope="session")
def kind_python(bake, tmp_path_factory: pytest.TempPathFactory):
    """kind_python(source) -> the Python of a fresh virtual environment built from that kind's default bake the
    way its Dockerfile builds the image (its own `RUN pip install ...` line), plus the project's dev group.

    Every answer set of a kind gives the same requirements.txt and dev group (a test checks it), so one each.
    """
    made: dict[str, Path] = {}

    def _python(source: str = "json_api") -> Path:
        if source not in made:
            project = bake({} if source == "json_api" else {"source": source})
            venv = tmp_path_factory.mktemp(f"actor-venv-{source}")
            run([sys.executable, "-m", "venv", str(venv)])
            python = venv / "bin" / "python"
            run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip>=25.1"])
            env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "PIP_QUIET": "1"}
            run(["bash", "-c", dockerfile_install_command(project)], cwd=project, env=env)
            run([str(python), "-m", "pip", "install", "-q", "--group", "dev"], cwd=project)
            made[source] = python
        return made[source]

    return _python


@pytest.fixture(scope="session")
def actor_python(kind_python) -> Path:
    """The environment of the JSON API kind (the default)."""
    return kind_python("json_api")


def dockerfile_install_command(project: Path) -> str:
    """The one `RUN pip install ...` command of the project's Dockerfile."""
    (command,) = re.findall(r"^RUN (pip install .+)$", (project / "Dockerfile").read_text(), re.MULTILINE)
    return command
