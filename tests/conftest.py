"""Fixtures shared by the template's tests: baking a project (once per answer set) and one virtual
environment, built from a baked project's own requirements and dev group, to run baked projects in.

The suite runs under pytest-xdist (`-n 3`): most of it waits on subprocesses. Bakes and environments are made
once for all workers, in the run's shared temporary folder, under a file lock."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter
from filelock import FileLock

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
def shared_tmp(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder every xdist worker of this run sees (the run's own temporary folder without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


def made_once(folder: Path, make) -> Path:
    """`folder`, made by `make(folder)` by whichever worker comes first; the others wait for it."""
    with FileLock(f"{folder}.lock"):
        if not (done := folder.with_name(folder.name + ".done")).exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            make(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def bake(shared_tmp: Path):
    """bake(answers) -> the project folder cookiecutter generated from those answers (once per run)."""

    def _bake(answers: dict[str, str]) -> Path:
        key = hashlib.sha256(json.dumps(answers, sort_keys=True).encode()).hexdigest()[:12]
        output = made_once(
            shared_tmp / f"baked-{key}",
            lambda folder: cookiecutter(
                str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(folder), default_config=True
            ),
        )
        (project,) = [path for path in output.iterdir() if path.is_dir()]
        return project

    return _bake


@pytest.fixture(scope="session")
def kind_python(bake, shared_tmp: Path):
    """kind_python(source) -> the Python of a fresh virtual environment built from that kind's default bake the
    way its Dockerfile builds the image (its own `RUN pip install ...` line), plus the project's dev group.

    Every answer set of a kind gives the same requirements.txt and dev group (a test checks it), so one each.
    """

    def _make(venv: Path, project: Path) -> None:
        run([sys.executable, "-m", "venv", str(venv)])
        python = venv / "bin" / "python"
        run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip>=25.1"])
        env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "PIP_QUIET": "1"}
        run(["bash", "-c", dockerfile_install_command(project)], cwd=project, env=env)
        run([str(python), "-m", "pip", "install", "-q", "--group", "dev"], cwd=project)

    def _python(source: str = "json_api") -> Path:
        project = bake({} if source == "json_api" else {"source": source})
        venv = made_once(shared_tmp / f"actor-venv-{source}", lambda folder: _make(folder, project))
        return venv / "bin" / "python"

    return _python


@pytest.fixture(scope="session")
def actor_python(kind_python) -> Path:
    """The environment of the JSON API kind (the default)."""
    return kind_python("json_api")


def dockerfile_install_command(project: Path) -> str:
    """The one `RUN pip install ...` command of the project's Dockerfile."""
    (command,) = re.findall(r"^RUN (pip install .+)$", (project / "Dockerfile").read_text(), re.MULTILINE)
    return command
