"""A baked Actor under Apify's own tooling, as a user meets it: `apify run`, a kill -9, `apify run --resurrect`,
and the files `apify push` would upload."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import APIFY_CLI, run


@pytest.fixture(scope="module")
def harness(bake):
    """The baked project's own test harness (its paginated source and storage readers): stdlib only."""
    spec = importlib.util.spec_from_file_location("baked_harness", bake({}) / "tests" / "harness.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def project(bake, tmp_path: Path) -> Path:
    """A copy of the default project, so that its storage/ and .venv are this test's alone."""
    copy = tmp_path / "my-actor"
    shutil.copytree(bake({}), copy)
    return copy


def cli_env(actor_python: Path) -> dict[str, str]:
    """The user's shell: the Actor's virtual environment first on PATH, no Apify variables, no telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APIFY_", "ACTOR_", "CRAWLEE_"))}
    env["PATH"] = f"{actor_python.parent}{os.pathsep}{env['PATH']}"
    env["APIFY_CLI_DISABLE_TELEMETRY"] = "1"
    return env


def write_input(project: Path, actor_input: dict) -> None:
    store = project / "storage" / "key_value_stores" / "default"
    store.mkdir(parents=True, exist_ok=True)
    (store / "INPUT.json").write_text(json.dumps(actor_input))


def test_apify_run_reads_the_whole_source(project: Path, actor_python: Path, harness) -> None:
    with harness.PaginatedSource(total=320, items_path="data") as source:
        write_input(project, {"apiUrl": source.url, "pageSize": 40, "itemsPath": "data"})
        result = run([str(APIFY_CLI), "run"], cwd=project, env=cli_env(actor_python), timeout=300)
    assert f"-m {project.name.replace('-', '_')}" in result.stdout + result.stderr
    storage = harness.Storage(project / "storage")
    assert storage.items() == [harness.source_item(i) for i in range(320)]
    assert storage.state()["finished"] is True


def test_python_m_with_input_json_in_the_project_folder(project: Path, actor_python: Path, harness) -> None:
    """The generated README's first way to run it: INPUT.json beside the package, `python -m <package>`."""
    with harness.PaginatedSource(total=130, offset_param="skip", items_path="products") as source:
        (project / "INPUT.json").write_text(
            json.dumps({"apiUrl": source.url, "offsetParam": "skip", "itemsPath": "products", "pageSize": 30})
        )
        run([str(actor_python), "-m", project.name.replace("-", "_")], cwd=project, env=cli_env(actor_python))
    assert harness.Storage(project / "storage").items() == [harness.source_item(i) for i in range(130)]


def test_apify_run_killed_then_resurrected_finishes_exactly(project: Path, actor_python: Path, harness) -> None:
    storage = harness.Storage(project / "storage")
    with harness.PaginatedSource(total=1500, latency_secs=0.1) as source:
        write_input(project, {"apiUrl": source.url, "pageSize": 25})
        cli = subprocess.Popen(
            [str(APIFY_CLI), "run"],
            cwd=project,
            env=cli_env(actor_python),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the CLI and the Actor it started die together
        )
        deadline = time.monotonic() + 120
        while storage.item_count() < 300 and cli.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cli.poll() is None, "the run ended before it could be killed"
        os.killpg(cli.pid, signal.SIGKILL)
        cli.wait()
        killed_at = storage.item_count()
        assert 300 <= killed_at < 1500
        result = run([str(APIFY_CLI), "run", "--resurrect"], cwd=project, env=cli_env(actor_python), timeout=300)
    assert "Resuming at offset" in result.stdout + result.stderr
    assert storage.items() == [harness.source_item(i) for i in range(1500)]


def test_apify_push_would_upload_the_actor_and_nothing_local(project: Path, actor_python: Path, harness) -> None:
    # What local work leaves behind: storage/ and caches from a run, a venv, and a .env with a secret.
    with harness.PaginatedSource(total=30) as source:
        write_input(project, {"apiUrl": source.url})
        run([str(APIFY_CLI), "run"], cwd=project, env=cli_env(actor_python), timeout=300)
    run([str(actor_python), "-m", "venv", "--without-pip", str(project / ".venv")])
    run([str(actor_python), "-m", "ruff", "check", "--quiet", "."], cwd=project)
    run([str(actor_python), "-m", "compileall", "-q", "."], cwd=project)
    (project / ".env").write_text("APIFY_TOKEN=secret-token\n")
    assert (project / "storage" / "datasets" / "default").is_dir()
    assert list(project.rglob("__pycache__"))

    # The CLI uploads what git would track: it asks `git ls-files` for what .gitignore ignores, and always
    # leaves out .git, storage and node_modules (apify-cli 1.10, getActorLocalFilePaths).
    run(["git", "init", "-q"], cwd=project)
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=project).stdout.split()
    uploaded = {name for name in listed if not name.startswith(("storage/", "node_modules/"))}
    assert not [
        name
        for name in uploaded
        if name.startswith((".venv/", ".ruff_cache/", ".pytest_cache/", "storage/"))
        or "__pycache__" in name
        or name == ".env"
    ]
    package = project.name.replace("-", "_")
    expected = {".actor/actor.json", ".actor/input_schema.json", f"{package}/main.py", "requirements.txt", "Dockerfile"}
    expected |= {"AGENTS.md", "CLAUDE.md"}
    assert expected <= uploaded
