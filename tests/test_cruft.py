"""Generated projects can take the template's later fixes: cruft create, customize, template changes,
cruft check fails, cruft update brings the change and keeps the customization, cruft check passes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import TEMPLATE, run

CRUFT = [sys.executable, "-m", "cruft"]


def git(*args: str, cwd: Path) -> None:
    run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args], cwd=cwd)


def test_cruft_update_brings_a_template_fix_and_keeps_the_users_code(tmp_path: Path) -> None:
    template = tmp_path / "template"
    ignored = shutil.ignore_patterns(".git", ".venv", "build", "node_modules", "__pycache__")
    shutil.copytree(TEMPLATE, template, ignore=ignored)
    git("init", "-q", cwd=template)
    git("add", "-A", cwd=template)
    git("commit", "-qm", "template as it is", cwd=template)

    projects = tmp_path / "projects"
    run([*CRUFT, "create", str(template), "--no-input", "--output-dir", str(projects)])
    project = projects / "my-actor"
    assert json.loads((project / ".cruft.json").read_text())["template"] == str(template)
    git("init", "-q", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-qm", "generated", cwd=project)
    main = project / "my_actor" / "main.py"
    main.write_text(main.read_text().replace("    return item\n", "    return {**item, 'mine': True}\n", 1))
    git("commit", "-qam", "my transform", cwd=project)

    # A fix in the template: a new .dockerignore entry and the version that records it.
    template_project = template / "{{cookiecutter.actor_name}}"
    dockerignore = template_project / ".dockerignore"
    dockerignore.write_text(dockerignore.read_text() + "*.log\n")
    actor_json = template_project / ".actor" / "actor.json"
    actor_json.write_text(re.sub(r'"templateVersion": "[^"]+"', '"templateVersion": "9.9.9"', actor_json.read_text()))
    git("commit", "-qam", "template 9.9.9: keep logs out of the image", cwd=template)

    stale = subprocess.run([*CRUFT, "check"], cwd=project, capture_output=True, text=True, check=False)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    run([*CRUFT, "update", "--skip-apply-ask"], cwd=project)

    assert (project / ".dockerignore").read_text().endswith("*.log\n")
    assert json.loads((project / ".actor" / "actor.json").read_text())["meta"]["templateVersion"] == "9.9.9"
    assert "    return {**item, 'mine': True}\n" in main.read_text()
    run([*CRUFT, "check"], cwd=project)
