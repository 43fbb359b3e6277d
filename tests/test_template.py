"""The template, declaratively: answer sets that must bake, answer sets that must be refused, and the checks
that every baked project must pass."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from datetime import date
from pathlib import Path

import pytest
import yaml
from conftest import APIFY_CLI, APIFY_TOOLS, TEMPLATE, TEMPLATE_PROJECT, run
from jinja2 import Template

post_gen_spec = importlib.util.spec_from_file_location("post_gen_project", TEMPLATE / "hooks" / "post_gen_project.py")
post_gen = importlib.util.module_from_spec(post_gen_spec)
post_gen_spec.loader.exec_module(post_gen)

NAME_63 = "a" + "-b2" * 20 + "-z"
MUST_BAKE: dict[str, dict[str, str]] = {
    "defaults": {},
    "python 3.13": {"python_version": "3.13"},
    "python 3.12": {"python_version": "3.12"},
    "python 3.11": {"python_version": "3.11"},
    "awkward text": {
        "actor_name": "quote-test",
        "actor_title": 'Zoë\'s "quoted" \\ title {braces} ✓ 🚀',
        "description": 'Line one\nLine "two" with a \\backslash,\ta tab, an apostrophe \' and ünïcode 漢字 🚀',
        "author_name": 'O\'Brien "Bob" \\ Ltd — Ünïcode',
    },
    "63-character name": {"actor_name": NAME_63},
    # uv projects: locked here (this machine's Python is 3.11), and one whose Python (3.14) is not here, so
    # the post-gen hook cannot lock it and says what to run instead.
    "uv": {"package_manager": "uv", "python_version": "3.11"},
    "uv, python 3.14": {"package_manager": "uv"},
    # The second kind of Actor: a website crawler.
    "website": {"source": "website"},
    "website, uv": {"source": "website", "package_manager": "uv", "python_version": "3.11"},
    # The third kind: a crawler in a real browser (its suite runs once, here).
    "browser": {"source": "browser"},
    # The fourth kind: your own source (source.py's read(position)).
    "custom": {"source": "custom"},
}
# Refused answers: what is wrong, and the words the ERROR line must say.
MUST_REFUSE: dict[str, tuple[dict[str, str], str]] = {
    "too short": ({"actor_name": "ab"}, "actor_name 'ab' is not a valid Apify Actor name"),
    "too long": ({"actor_name": "a" * 64}, f"actor_name '{'a' * 64}' is not a valid Apify Actor name"),
    "uppercase": ({"actor_name": "My-Actor"}, "actor_name 'My-Actor' is not a valid Apify Actor name"),
    "underscore": ({"actor_name": "my_actor"}, "actor_name 'my_actor' is not a valid Apify Actor name"),
    "leading dash": ({"actor_name": "-my-actor"}, "actor_name '-my-actor' is not a valid Apify Actor name"),
    "trailing dash": ({"actor_name": "my-actor-"}, "actor_name 'my-actor-' is not a valid Apify Actor name"),
    # An empty name makes the project folder the output folder itself: cookiecutter refuses before the hook.
    "empty name": ({"actor_name": ""}, "directory already exists"),
    "starts with a digit": ({"actor_name": "3d-scraper"}, "package name '3d_scraper', which is not a Python"),
    "shadows the stdlib": ({"actor_name": "json"}, "package name 'json', which would shadow the module"),
    "shadows a dependency": ({"actor_name": "crawlee"}, "package name 'crawlee', which would shadow the module"),
    "shadows a transitive one": ({"actor_name": "multidict"}, "package name 'multidict', which would shadow the"),
    "title on two lines": ({"actor_title": "two\nlines"}, "actor_title 'two\\nlines' must be a single line"),
    "blank author": ({"author_name": "  "}, "author_name is empty"),
    "empty description": ({"description": ""}, "description is empty"),
    # Cookiecutter would render these as Jinja (49; a traceback): the answers stay literal, the hook refuses.
    "jinja in the title": ({"actor_title": "{{ 7*7 }}"}, "actor_title contains '{{', which cookiecutter and cruft"),
    "undefined jinja": ({"author_name": "{{ foo.bar }}"}, "author_name contains '{{'"),
    "jinja tag": ({"description": "a {% raw %} b"}, "description contains '{%'"),
    "line separator": ({"actor_title": "one\u2028two"}, "actor_title 'one\\u2028two' must be a single line"),
    "carriage return": ({"author_name": "one\rtwo"}, "author_name 'one\\ntwo' must be a single line"),
}
# Every answer set gives the very same .py files (test_python_files_are_copied_verbatim) and environment
# (test_every_answer_set_needs_the_same_environment): the full suite runs on the defaults (and, in
# test_customized.py, on a project with its own transform); the others run a part that starts the Actor
# both ways (locally and at home), which is what their other package name or metadata could break.
FULL_SUITE = {"defaults", "website", "browser", "custom"}
QUICK_PART = {
    "json_api": [
        "tests/test_parts.py",
        "tests/test_resume.py::test_reads_the_whole_source_in_order",
        "tests/test_migration.py::test_migrating_mid_run_asks_one_reboot_though_the_handler_runs_twice",
    ],
    "website": [
        "tests/test_website.py::test_input_model_and_input_schema_agree_on_each_field",
        "tests/test_website.py::test_a_crawl_saves_every_page_once_and_keeps_to_the_start_urls_host",
        "tests/test_website.py::test_a_kill_right_after_a_push_on_the_platform",
    ],
}
CLI_QUIET = {"APIFY_CLI_DISABLE_TELEMETRY": "1"}
UV = str(Path(sys.executable).parent / "uv")
APIFY_OUTPUT_TEMPLATE = re.compile(r"\{\{(links|run|storages)\.[A-Za-z.]+\}\}")
GITHUB_EXPRESSION = re.compile(r"\$\{\{ [^{}]+ \}\}")  # in the workflows: GitHub's, not Jinja's


def answers_of(name: str) -> dict[str, str]:
    defaults = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    answers = {"actor_name": "my-actor", "python_version": "3.14", "source": "json_api", "package_manager": "pip"}
    answers.update(MUST_BAKE[name])
    answers.setdefault("actor_title", answers["actor_name"].replace("-", " ").title())
    answers.setdefault("description", Template(defaults["description"]).render(cookiecutter=answers))
    answers.setdefault("author_name", defaults["author_name"])
    return answers


@pytest.fixture(params=MUST_BAKE, scope="module")
def baked(request, bake) -> tuple[str, Path]:
    return request.param, bake(MUST_BAKE[request.param])


# Each kind's long tier (`-m long`, which its README names), collected first (the longest tests); the fast tier runs in
# test_the_projects_own_tests_pass. Scale-out shares the crawl core: the browser kind leaves it to the website kind.
LONG_TIER = {
    "defaults": ["-m", "long"],
    "website": ["-m", "long"],
    "browser": ["-m", "long and not scale_out"],
    "custom": ["-m", "long"],
}


def long_tiers_to_run() -> list[str]:
    """The four long tiers together cost more CPU than two cores give within the suite's budget: a run of this suite
    takes one kind's, in turn by the day (every kind's in four days), as the generated CI runs its own weekly.
    TEMPLATE_LONG_TIERS=all (or a comma list of kinds) runs others."""
    chosen = os.environ.get("TEMPLATE_LONG_TIERS", "")
    if chosen:
        return list(LONG_TIER) if chosen == "all" else chosen.split(",")
    return [list(LONG_TIER)[date.today().toordinal() % len(LONG_TIER)]]


@pytest.mark.parametrize("name", long_tiers_to_run())
def test_the_projects_long_tier_passes(name: str, bake, kind_python, tmp_path: Path) -> None:
    project = bake(MUST_BAKE[name])
    assert "pytest -n 3 -m long`" in (project / "README.md").read_text()  # the command the README names
    result = run_projects_tests(name, project, kind_python, tmp_path, LONG_TIER[name])
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]


@pytest.mark.parametrize("case", MUST_REFUSE)
def test_refused_answers_stop_with_one_error_line_and_leave_nothing(case: str, tmp_path: Path) -> None:
    answers, message = MUST_REFUSE[case]
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "--default-config", str(TEMPLATE), "-o", str(tmp_path)]
        + [f"{key}={value}" for key, value in answers.items()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    hook_errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR: ")]
    cookiecutter_errors = [line for line in result.stdout.splitlines() if line.startswith("Error: ")]
    errors = hook_errors + cookiecutter_errors
    assert len(errors) == 1, result.stdout + result.stderr
    assert message in errors[0]
    assert list(tmp_path.iterdir()) == []


def test_nothing_is_left_unrendered(baked) -> None:
    _name, project = baked
    for path in project.rglob("*"):
        if path.is_file():
            text = GITHUB_EXPRESSION.sub("", APIFY_OUTPUT_TEMPLATE.sub("", path.read_text()))
            assert not re.search(r"\{\{|\{%|\{#|cookiecutter\.", text), path


def test_json_and_toml_parse_and_hold_the_answers(baked) -> None:
    name, project = baked
    answers = answers_of(name)
    package = answers["actor_name"].replace("-", "_")
    actor = json.loads((project / ".actor" / "actor.json").read_text())
    assert (actor["name"], actor["title"], actor["description"]) == (
        answers["actor_name"],
        answers["actor_title"],
        answers["description"],
    )
    input_schema = json.loads((project / ".actor" / "input_schema.json").read_text())
    assert input_schema["title"] == f"{answers['actor_title']} input"
    for schema in ("dataset_schema.json", "output_schema.json"):
        json.loads((project / ".actor" / schema).read_text())
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == answers["actor_name"]
    assert pyproject["project"]["description"] == answers["description"]
    assert pyproject["project"]["authors"] == [{"name": answers["author_name"]}]
    assert pyproject["project"]["requires-python"] == f">={answers['python_version']}"
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + answers["python_version"].replace(".", "")
    uv = answers["package_manager"] == "uv"
    assert ("dependencies" in pyproject["project"]) is uv  # else requirements.txt, read dynamically
    assert (project / "requirements.txt").exists() is not uv
    assert (project / ".python-version").exists() is uv
    if uv:
        assert (project / ".python-version").read_text().strip() == answers["python_version"]
        assert pyproject["tool"]["uv"] == {"package": False}
    dockerfile = (project / "Dockerfile").read_text()
    if answers["source"] == "browser":  # the image brings the browsers of the Playwright version pinned
        pin = next(d for d in runtime_dependencies(project) if d.startswith("playwright=="))
        image = f"apify/actor-python-playwright:{answers['python_version']}-{pin.removeprefix('playwright==')}"
        assert f"FROM {image}\n" in dockerfile
    else:
        assert f"FROM apify/actor-python:{answers['python_version']}\n" in dockerfile
    assert f'CMD ["python", "-m", "{package}"]' in dockerfile
    assert f"compileall -q {package}/" in dockerfile
    assert (project / package / "__main__.py").is_file()
    assert f"# {answers['actor_title']}\n" in (project / "README.md").read_text()


def test_python_files_are_copied_verbatim(baked) -> None:
    """The .py files of the chosen kind, as the template has them; none of the other kind's."""
    name, project = baked
    answers = {**answers_of(name), "__package_name": "PKG"}
    unused = {
        path.format(package="PKG")
        for (question, answer), paths in post_gen.NOT_USED.items()
        if answers[question] == answer
        for path in paths
    }
    renamed = {
        old.format(package="PKG"): new.format(package="PKG")
        for (question, answer), names in post_gen.RENAMED.items()
        if answers[question] == answer
        for old, new in names.items()
    }
    template_files = {}
    for path in TEMPLATE_PROJECT.rglob("*.py"):
        relative = path.relative_to(TEMPLATE_PROJECT).as_posix().replace("{{cookiecutter.__package_name}}", "PKG")
        if relative not in unused and not any(relative.startswith(f"{folder}/") for folder in unused):
            template_files[renamed.get(relative, relative)] = path
    package = next(project.glob("*/__main__.py")).parent.name
    baked_files = {
        path.relative_to(project).as_posix().replace(f"{package}/", "PKG/", 1): path for path in project.rglob("*.py")
    }
    assert set(baked_files) == set(template_files)
    for relative, path in baked_files.items():
        assert path.read_bytes() == template_files[relative].read_bytes(), relative
    # Each kind keeps only what it runs: every module of the package is imported by another one.
    sources = {relative: path.read_text() for relative, path in baked_files.items() if relative.startswith("PKG/")}
    for relative in sources:
        module = relative.removeprefix("PKG/").removesuffix(".py").removesuffix("/__init__")
        if module not in {"__init__", "__main__", "main"}:
            name = module.rsplit("/", 1)[-1]  # a subpackage's module (engine/reading) is imported by its name
            imported = re.compile(  # a subpackage (engine) by any import from it (from .engine.resumable import)
                rf"^\s*from \.+(?:\w+\.)*(?:{name}(?:\.\w+)* import | import (?:\w+, )*{name}\b)", re.MULTILINE
            )
            assert any(imported.search(text) for other, text in sources.items() if other != relative), relative


def test_apify_schemas_accept_the_actor(baked) -> None:
    _name, project = baked
    validator = APIFY_TOOLS / "validate.cjs"
    run(["node", str(validator), str(project)])


def test_apify_schema_check_can_fail(bake, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    run(["cp", "-r", str(bake({})), str(broken)])
    actor_json = broken / ".actor" / "actor.json"
    actor_json.write_text(actor_json.read_text().replace('"version": "0.0"', '"version": "zero"'))
    validator = APIFY_TOOLS / "validate.cjs"
    result = subprocess.run(["node", str(validator), str(broken)], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "actor.json/version: must match pattern" in result.stdout


def test_ruff_finds_nothing(baked) -> None:
    _name, project = baked
    run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=project)
    run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."], cwd=project)


# `apify validate-schema` (a Node CLI, seconds a call) on each kind's input schema and on awkward answers; every
# answer set's .actor/ also goes through Apify's published schemas (test_apify_schemas_accept_the_actor).
CLI_VALIDATED = {"defaults", "awkward text", "website", "browser"}


def test_apify_cli_validates_the_schemas(baked) -> None:
    name, project = baked
    if name not in CLI_VALIDATED:
        pytest.skip("the same input schema as its kind's default, which the Apify CLI validates")
    result = run([str(APIFY_CLI), "validate-schema"], cwd=project, env={**os.environ, **CLI_QUIET})
    assert "Input schema is valid" in result.stdout + result.stderr


def test_apify_cli_schema_check_can_fail(bake, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(bake({}), broken)
    input_schema = broken / ".actor" / "input_schema.json"
    input_schema.write_text(input_schema.read_text().replace('"editor": "number"', '"editor": "dial"', 1))
    result = subprocess.run(
        [str(APIFY_CLI), "validate-schema"],
        cwd=broken,
        env={**os.environ, **CLI_QUIET},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "firstPage.editor must be equal to one of the allowed values" in result.stdout + result.stderr


def test_the_dockerfile_passes_hadolint_and_copies_what_exists(baked) -> None:
    name, project = baked
    run([str(Path(sys.executable).parent / "hadolint"), "Dockerfile"], cwd=project)
    dockerfile = (project / "Dockerfile").read_text()
    copies = re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", dockerfile, re.MULTILINE)
    binds = re.findall(r"--mount=type=bind,source=([^,]+),", dockerfile)
    if answers_of(name)["package_manager"] == "uv":
        assert copies == ["/uv /uvx", "."]  # the uv binary from its image, then the project
        assert binds == ["uv.lock", "pyproject.toml"]
        assert "uv sync --locked --no-dev" in dockerfile
        sources = ["pyproject.toml"] + (["uv.lock"] if name != "uv, python 3.14" else [])
    else:
        assert copies == ["requirements.txt", "."]
        assert binds == []
        sources = copies
    assert all((project / source).exists() for source in sources)


TOOLS = Path(sys.executable).parent
WORKFLOW = ".github/workflows/ci.yml"
DEPENDABOT = ".github/dependabot.yml"


def readme_test_command(project: Path) -> str:
    """The block after `<!-- test-command -->` in the project's README: the one test command, CI's too."""
    match = re.search(r"<!-- test-command -->\n```bash\n(.+?)\n```", (project / "README.md").read_text(), re.DOTALL)
    assert match, "README.md has no command after <!-- test-command -->"
    return match.group(1)


def workflow_findings(project: Path) -> list[subprocess.CompletedProcess]:
    """zizmor (its strictest persona, offline, no configuration, ignore comments ignored) and the JSON schemas
    that check-jsonschema vendors, over the project's workflow and Dependabot file."""
    commands = [
        [TOOLS / "zizmor", "--offline", "--no-config", "--no-ignores", "--no-progress", "--persona=auditor", "."],
        [TOOLS / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", WORKFLOW],
        [TOOLS / "check-jsonschema", "--builtin-schema", "vendor.dependabot", DEPENDABOT],
    ]
    return [subprocess.run(command, cwd=project, capture_output=True, text=True, check=False) for command in commands]


# Answer sets that differ in nothing the checks read (the name, the title...) give the very same files: checked once.
checked_workflows: dict[tuple[str, ...], list[subprocess.CompletedProcess]] = {}


def test_the_workflows_pass_zizmor_and_their_schemas(baked) -> None:
    _name, project = baked
    files = tuple(path.read_text() for path in sorted((project / ".github").rglob("*.yml")))
    assert len(files) == 2, "one workflow and dependabot.yml"
    if files not in checked_workflows:
        checked_workflows[files] = workflow_findings(project)
    for result in checked_workflows[files]:
        assert result.returncode == 0, " ".join(map(str, result.args)) + "\n" + result.stdout + result.stderr


def test_the_workflow_checks_can_fail(bake, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(bake({}) / ".github", broken / ".github")
    workflow = broken / WORKFLOW
    text = workflow.read_text()
    workflow.write_text(text.replace(".venv/bin/pytest -n 3", 'echo "${{ github.event.pull_request.title }}"', 1))
    zizmor = workflow_findings(broken)[0]
    assert zizmor.returncode != 0
    assert "template-injection" in zizmor.stdout
    workflow.write_text(text.replace("runs-on:", "runs_on:", 1))
    dependabot = broken / DEPENDABOT
    dependabot.write_text(dependabot.read_text().replace("interval: weekly", "interval: hourly", 1))
    _zizmor, workflow_schema, dependabot_schema = workflow_findings(broken)
    assert workflow_schema.returncode != 0
    assert "runs_on" in workflow_schema.stdout
    assert dependabot_schema.returncode != 0
    assert "hourly" in dependabot_schema.stdout


def test_the_workflow_tests_with_the_readme_command_and_deploys_after(baked) -> None:
    name, project = baked
    answers = answers_of(name)
    workflow = yaml.safe_load((project / WORKFLOW).read_text())
    test, deploy = workflow["jobs"]["test"], workflow["jobs"]["deploy"]
    (step,) = [step for step in test["steps"] if step.get("name", "").startswith("Test (README.md's test command")]
    assert step["run"] == readme_test_command(project) + "\n"
    # The long tier: weekly and by hand, the same environment, then the command the README names after the block.
    assert {"schedule", "workflow_dispatch"} <= set(workflow[True])  # (YAML reads the key `on` as true)
    assert "'push'" in test["if"]
    assert "'schedule'" in workflow["jobs"]["long"]["if"]
    (long,) = [step for step in workflow["jobs"]["long"]["steps"] if step.get("name", "").startswith("Test (the long")]
    *make_environment, fast = readme_test_command(project).splitlines()
    assert long["run"] == "\n".join([*make_environment, f"{fast} -m long"]) + "\n"
    assert f"`{fast} -m long`" in (project / "README.md").read_text()
    if answers["source"] == "browser":  # fresh runners lack Chromium's libraries (Playwright's CI guide)
        assert "playwright install --with-deps chromium" in step["run"]
    assert bool(step.get("env", {}).get("CRAWLEE_DISABLE_BROWSER_SANDBOX")) is (answers["source"] == "browser")
    uses = {step["uses"].split("@")[0]: step.get("with", {}) for step in test["steps"] if "uses" in step}
    if answers["package_manager"] == "uv":
        assert uses["actions/setup-python"] == {"python-version-file": ".python-version"}
        assert "astral-sh/setup-uv" in uses
    else:
        assert uses["actions/setup-python"] == {"python-version": answers["python_version"]}
        assert "astral-sh/setup-uv" not in uses
    lint = "\n".join(step.get("run", "") for step in test["steps"])
    assert "ruff check ." in lint
    assert "ruff format --check ." in lint
    assert deploy["needs"] == "test"
    assert "github.event_name == 'push'" in deploy["if"]
    assert "default_branch" in deploy["if"]
    (push,) = [step for step in deploy["steps"] if "apify push" in step.get("run", "")]
    assert push["env"]["APIFY_TOKEN"] == "${{ secrets.APIFY_TOKEN }}"
    assert "npm ci --prefix .github/apify-cli" in "\n".join(step.get("run", "") for step in deploy["steps"])
    # npm ci installs exactly the lock, which must pin the CLI that package.json names (npm ci refuses a mismatch).
    cli = project / ".github" / "apify-cli"
    lock = json.loads((cli / "package-lock.json").read_text())
    pinned = {"apify-cli": lock["packages"]["node_modules/apify-cli"]["version"]}
    assert lock["packages"][""]["dependencies"] == pinned
    assert json.loads((cli / "package.json").read_text())["dependencies"] == pinned


def runtime_dependencies(project: Path) -> list[str]:
    """The runtime dependencies, from requirements.txt (pip) or pyproject.toml (uv)."""
    if (project / "requirements.txt").exists():
        lines = (project / "requirements.txt").read_text().splitlines()
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]


def test_every_answer_set_needs_the_same_environment_as_its_kinds_default(baked, bake) -> None:
    name, project = baked
    source = answers_of(name)["source"]
    default = bake({} if source == "json_api" else {"source": source})
    assert runtime_dependencies(project) == runtime_dependencies(default)
    dev_group = tomllib.loads((project / "pyproject.toml").read_text())["dependency-groups"]
    assert dev_group == tomllib.loads((default / "pyproject.toml").read_text())["dependency-groups"]


# Words of the machinery that the Actor's page (README.md) leaves to the manual (DEVELOPMENT.md).
INTERNALS = ("APIFY_GLOBAL_STATE", "state record", "ledger", "`pending`", "group commit", "rehearse.py", "campaign")


def test_the_readme_is_the_actors_page_and_the_manual_holds_the_rest(baked) -> None:
    """Apify shows README.md as the Actor's page: short, with input and output examples, no internals, linking
    the manual (DEVELOPMENT.md), which AGENTS.md names too."""
    _, project = baked
    readme = (project / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    for heading in ("## Migrations and crashes\n", "## Run it on a schedule\n", "## Develop\n"):
        assert heading in readme
    for heading in ("## Input\n", "## Output\n"):  # each with an example
        assert "```json\n" in readme.split(heading, 1)[1].split("\n## ", 1)[0], heading
    assert not re.search(r"[^\n]\n#+ ", readme), "a heading without a blank line before it"
    assert not [word for word in INTERNALS if word in readme]
    assert "[DEVELOPMENT.md](DEVELOPMENT.md)" in readme
    assert "DEVELOPMENT.md" in (project / "AGENTS.md").read_text()
    manual = (project / "DEVELOPMENT.md").read_text()
    assert "[README.md](README.md)" in manual
    assert "## How it works\n" in manual
    assert "## Customize" in manual
    assert not re.search(r"[^\n]\n#+ ", manual), "a heading without a blank line before it"


@pytest.mark.parametrize("source", ["json_api", "website", "browser", "custom"])
@pytest.mark.parametrize("manual", ["DEVELOPMENT.md", "AGENTS.md"])
def test_the_manuals_prose_keeps_within_120_columns(source: str, manual: str, bake) -> None:
    """DEVELOPMENT.md and AGENTS.md as each kind renders their Jinja branches: no line over 120 columns outside code
    blocks and tables."""
    text = (bake({} if source == "json_api" else {"source": source}) / manual).read_text()
    fenced, too_long = False, []
    for number, line in enumerate(text.splitlines(), 1):
        fence = line.lstrip().startswith("```")
        fenced ^= fence
        if not (fenced or fence or line.lstrip().startswith("|")) and len(line) > 120:
            too_long.append(f"line {number} ({len(line)} columns): {line[:60]}...")
    assert not too_long, "\n".join(too_long)


def test_every_project_has_agents_md_with_its_own_commands(baked) -> None:
    name, project = baked
    agents = (project / "AGENTS.md").read_text()
    assert (project / "CLAUDE.md").read_text() == "@AGENTS.md\n"
    run_prefix = "uv run " if answers_of(name)["package_manager"] == "uv" else ".venv/bin/"
    for command in ("pytest", "python tests/rehearse.py", "python -m " + project.name.replace("-", "_")):
        assert f"{run_prefix}{command}" in agents
    assert "apify push" in agents


def test_a_uv_project_is_locked_when_its_python_is_at_hand(bake) -> None:
    project = bake(MUST_BAKE["uv"])
    run([UV, "lock", "--check"], cwd=project)
    assert not (bake(MUST_BAKE["uv, python 3.14"]) / "uv.lock").exists()


def test_the_post_gen_hook_says_how_to_lock_when_it_cannot(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE), "-o", str(tmp_path), "package_manager=uv"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    assert result.returncode == 0, result.stderr
    assert "NOTE: uv.lock was not made (" in result.stdout
    assert "In my-actor/, run: uv lock" in result.stdout


# The same .py files (copied verbatim) on this machine's one interpreter as the defaults' full suite: running
# them again would test nothing new (their metadata is checked above, their lint with their target version).
SUITE_SPARED = {"python 3.13", "python 3.12", "python 3.11"}


def test_the_projects_own_tests_pass(baked, kind_python, tmp_path: Path) -> None:
    name, project = baked
    if name in SUITE_SPARED:
        pytest.skip("same code and interpreter as the defaults' full suite")
    source = answers_of(name)["source"]
    # Its fast tier (the README command's default), or a part of it: a part is a few tests, with no workers
    # (`-n 0` overrides the command's `-n 3`).
    quick = [] if name in FULL_SUITE else ["-n", "0", *QUICK_PART[source]]
    if answers_of(name)["package_manager"] == "uv" and not (project / "uv.lock").exists():
        pytest.skip("no Python of this project's version here to lock and sync it (see the uv-lock tests)")
    result = run_projects_tests(name, project, kind_python, tmp_path, quick)
    assert re.search(r"\d+ passed", result.stdout)


def run_projects_tests(
    name: str, project: Path, kind_python, tmp_path: Path, arguments: list[str]
) -> subprocess.CompletedProcess:
    """The project's README test command with these arguments added, in a copy of the project; it must pass."""
    source = answers_of(name)["source"]
    # The README's test command: its last line runs the tests; the lines before it make the environment (and
    # download Playwright's Chromium, which cannot be done here). `uv run --locked` makes a uv project's
    # environment; a pip project's is the kind's, made the same way (requirements and dev group), linked in as
    # .venv. Both in a copy of the project: the bake is shared with the other tests, which read it meanwhile.
    test_line = readme_test_command(project).splitlines()[-1]
    project = shutil.copytree(project, tmp_path / project.name)
    if answers_of(name)["package_manager"] != "uv":
        (project / ".venv").symlink_to(kind_python(source).parent.parent, target_is_directory=True)
    result = subprocess.run(
        ["bash", "-c", f"{test_line} -q -p no:cacheprovider {shlex.join(arguments)}"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": f"{Path(UV).parent}{os.pathsep}{os.environ['PATH']}"},
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return result
