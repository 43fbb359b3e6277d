"""The README says what is true: its variable table is cookiecutter.json, and its "try it" command works."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from conftest import TEMPLATE

README = (TEMPLATE / "README.md").read_text()
COOKIECUTTER = json.loads((TEMPLATE / "cookiecutter.json").read_text())


def fenced_command(marker: str) -> str:
    """The bash block that follows `<!-- marker -->` in the README."""
    match = re.search(rf"<!-- {marker} -->\n```bash\n(.+?)\n```", README, re.DOTALL)
    assert match, f"README has no command after <!-- {marker} -->"
    return match.group(1)


def test_the_variable_table_lists_every_variable_with_its_default() -> None:
    section = README.split("## Template variables", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| (.+?) \|", section, re.MULTILINE))
    # Asked ones, and computed ones (`__name`); not cookiecutter's own settings (`_name`, `__prompts__`).
    variables = [name for name in COOKIECUTTER if name != "__prompts__" and not re.match(r"_[^_]", name)]
    assert sorted(rows) == sorted(variables)
    for name in variables:
        default = COOKIECUTTER[name]
        if isinstance(default, list):  # a choice: the first is the default
            assert rows[name] == f"`{default[0]}`", name
            assert all(choice in README for choice in default)
        elif "{{" not in default and len(default) < 40:
            assert rows[name] == f"`{default}`", name


def test_every_asked_variable_has_a_prompt() -> None:
    asked = [name for name in COOKIECUTTER if not name.startswith("_")]
    assert sorted(COOKIECUTTER["__prompts__"]) == sorted(asked)


def test_ci_runs_the_readme_test_command() -> None:
    ci = (TEMPLATE / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci
    assert fenced_command("test-command").endswith(".venv/bin/pytest -n 3")


def test_the_try_it_command_works_in_a_fresh_clone(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=TEMPLATE, capture_output=True, text=True, check=True)
    for name in filter(None, tracked.stdout.split("\0")):
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE / name, clone / name)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", fenced_command("try-command")],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "RESULT: exact, every item once, in order" in result.stdout
    assert "duplicates             0" in result.stdout
    assert "missing                0" in result.stdout


def test_the_changelog_names_the_version_that_generated_projects_record() -> None:
    actor_json = (TEMPLATE / "{{cookiecutter.actor_name}}" / ".actor" / "actor.json").read_text()
    version = re.search(r'"templateVersion": "([^"]+)"', actor_json).group(1)
    newest = re.search(r"^## (\S+) - ", (TEMPLATE / "CHANGELOG.md").read_text(), re.MULTILINE).group(1)
    assert newest == version


def test_the_readme_starts_where_a_user_starts() -> None:
    """The cookiecutter command on the first screen; the benchmark's figures and the detail live elsewhere."""
    lines = README.splitlines()
    assert len(lines) <= 250
    assert any(line.startswith("cookiecutter ") for line in lines[:40])
    assert (TEMPLATE / "bench" / "README.md").is_file()
    assert "(bench/README.md)" in README
    assert "| measure | result | target |" not in README
