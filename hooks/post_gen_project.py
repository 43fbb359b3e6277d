"""Shape the new project to the answers: remove the files of the options not chosen, and lock the
dependencies of a uv project.

Cookiecutter renders this file and runs it inside the new project folder, after every file is written. The
answers reach `main()` as JSON (`tojson`). A lock that cannot be made here (no uv, or no Python of the
project's version) does not fail the generation: the one command to run later is printed instead.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

JSON_API_FILES = [
    "{package}/actor_input.py",
    "{package}/engine/incremental_items.py",
    "{package}/engine/json_api.py",
    "{package}/engine/pagination.py",
    "{package}/engine/credentials.py",
    "{package}/engine/page_commits.py",
    "{package}/engine/paged_run.py",
    "{package}/engine/scale_out_chunks.py",
    "{package}/engine/json_run.py",
    "tests/test_resume.py",
    "tests/test_ledger.py",
    "tests/test_migration.py",
    "tests/test_pagination.py",
    "tests/test_incremental.py",
    "tests/test_incremental_at_home.py",
    "tests/linger_at_exit.py",
    "tests/rehearse_schedule.py",
    "tests/changing_source.py",
    "tests/test_parts.py",
    "tests/test_redirects.py",
    "tests/odd_values.py",
    "tests/new_build.py",
    "tests/campaign_json.py",
]
CRAWL_FILES = [  # what both crawler kinds use
    "{package}/crawl_input.py",
    "{package}/engine/incremental_pages.py",
    "{package}/engine/crawling.py",
    "{package}/engine/scale_out_pages.py",
    "{package}/engine/crawl_run.py",
    "tests/local_site.py",
    "tests/campaign_routes.py",
    "tests/listing_routes.py",
    "tests/redirect_routes.py",
    "tests/campaign_crawl.py",
]
WEBSITE_FILES = [
    "{package}/main_website.py",
    "{package}/routes.py",
    "tests/test_website.py",
    "tests/site_routes.py",
    "tests/two_label_routes.py",
    "tests/chain_routes.py",
    "tests/test_incremental_crawl.py",
    "tests/listing_items_routes.py",
    "tests/home_link_routes.py",
]
BROWSER_FILES = [
    "{package}/main_browser.py",
    "{package}/routes_browser.py",
    "{package}/browser_input.py",
    "tests/test_browser.py",
    "tests/browser_routes.py",
]
CUSTOM_FILES = [  # your own source: the engine's face (its modules in engine/) and its user's files
    "{package}/main_custom.py",
    "{package}/source.py",
    "{package}/custom_input.py",
    "{package}/engine/reading.py",
    "{package}/engine/source_input.py",
    "{package}/engine/source_run.py",
    "tests/test_custom.py",
    "tests/custom_source.py",
    "tests/custom_entry.py",
    "tests/rehearse_custom.py",
]
# What the custom kind runs of the JSON kind's files (the face and its walk, the commit path and the credentials
# machinery), and of those the other kinds share (the rest of them is scale-out and crawling, which one run over a
# source never uses).
JSON_API_FILES_CUSTOM_RUNS = [
    "{package}/engine/credentials.py",
    "{package}/engine/page_commits.py",
    "{package}/engine/paged_run.py",
]
NOT_IN_CUSTOM = [
    "{package}/engine/modes.py",
    "{package}/engine/scale_out.py",
    "{package}/engine/web_urls.py",
    "tests/test_merge.py",
    "tests/test_scale_out.py",
    "tests/test_campaign.py",
    "tests/campaign.py",
    "tests/campaign_grounds.py",
]
# (question, answer) -> files and folders that answer does not use; "{package}" is the package folder.
NOT_USED: dict[tuple[str, str], list[str]] = {
    ("source", "json_api"): [*CRAWL_FILES, *WEBSITE_FILES, *BROWSER_FILES, *CUSTOM_FILES],
    ("source", "website"): ["{package}/main.py", *JSON_API_FILES, *BROWSER_FILES, *CUSTOM_FILES],
    ("source", "browser"): ["{package}/main.py", *JSON_API_FILES, *WEBSITE_FILES, *CUSTOM_FILES],
    ("source", "custom"): [
        "{package}/main.py",
        *(path for path in JSON_API_FILES if path not in JSON_API_FILES_CUSTOM_RUNS),
        *CRAWL_FILES,
        *WEBSITE_FILES,
        *BROWSER_FILES,
        *NOT_IN_CUSTOM,
    ],
    ("package_manager", "pip"): [".python-version"],
    ("package_manager", "uv"): ["requirements.txt"],
}
# (question, answer) -> files that take another name: each kind's story is its package's main.py, and a crawler's
# handlers are its package's routes.py.
RENAMED: dict[tuple[str, str], dict[str, str]] = {
    ("source", "website"): {"{package}/main_website.py": "{package}/main.py"},
    ("source", "custom"): {"{package}/main_custom.py": "{package}/main.py"},
    ("source", "browser"): {
        "{package}/main_browser.py": "{package}/main.py",
        "{package}/routes_browser.py": "{package}/routes.py",
    },
}


def remove_unused(answers: dict, project: Path) -> list[str]:
    """Delete what the chosen options do not use; return the paths deleted."""
    removed = []
    for (question, answer), paths in NOT_USED.items():
        if answers.get(question, "json_api" if question == "source" else None) != answer:
            continue
        for relative in paths:
            path = project / relative.format(package=answers["__package_name"])
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
            else:
                continue
            removed.append(relative)
    return removed


def rename(answers: dict, project: Path) -> None:
    """Give the chosen kind's files their names (its main module becomes main.py)."""
    for (question, answer), names in RENAMED.items():
        if answers.get(question) == answer:
            for old, new in names.items():
                package = answers["__package_name"]
                (project / old.format(package=package)).rename(project / new.format(package=package))


def lock(project: Path) -> str | None:
    """Run `uv lock` in the project; return why it could not, or None once uv.lock is written."""
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv is None:
        return "uv is not installed"
    result = subprocess.run([uv, "lock", "--quiet"], cwd=project, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        return next((line for line in lines if line.startswith("error:")), lines[0] if lines else "uv lock failed")
    return None


def main(answers: dict, project: Path) -> int:
    remove_unused(answers, project)
    rename(answers, project)
    if answers.get("package_manager") == "uv" and (reason := lock(project)):
        print(f"NOTE: uv.lock was not made ({reason}). In {project.name}/, run: uv lock")
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(r"""{{ cookiecutter | tojson }}"""), Path.cwd()))
