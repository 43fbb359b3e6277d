"""The pre-gen hook as a module: the rules it applies, and what main() prints and returns."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import TEMPLATE, run
from jinja2 import Environment

spec = importlib.util.spec_from_file_location("pre_gen_project", TEMPLATE / "hooks" / "pre_gen_project.py")
pre_gen_project = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pre_gen_project)

GOOD = {
    "actor_name": "my-actor",
    "__package_name": "my_actor",
    "actor_title": "My Actor",
    "description": "Two\nlines\tand a tab",
    "author_name": "Anne O'Nymous",
    "python_version": "3.14",
}


def test_good_answers_pass_silently(capsys: pytest.CaptureFixture[str]) -> None:
    assert pre_gen_project.main(GOOD) == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("name", ["xyz", "a" * 63, "web-scraper-2", "x0-9"])
def test_names_apify_accepts_pass(name: str) -> None:
    assert pre_gen_project.problems({**GOOD, "actor_name": name, "__package_name": name.replace("-", "_")}) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"actor_name": "ab"}, "actor_name 'ab' is not a valid Apify Actor name: use 3 to 63"),
        ({"actor_name": "a--b", "__package_name": "a__b"}, None),
        ({"actor_name": "import", "__package_name": "import"}, "'import', which is not a Python identifier"),
        ({"actor_name": "asyncio", "__package_name": "asyncio"}, "'asyncio', which would shadow"),
        ({"actor_name": "tests", "__package_name": "tests"}, "'tests', which would shadow"),
        ({"actor_title": ""}, "actor_title is empty"),
        ({"author_name": "a\x00b"}, "author_name 'a\\x00b' must be a single line without control characters"),
        ({"description": "bell\x07"}, "description must not contain control characters"),
        ({"python_version": "3.10"}, "python_version '3.10' is not supported: choose one of 3.11, 3.12, 3.13, 3.14"),
        ({"actor_title": "Line\u2028break"}, "actor_title 'Line\\u2028break' must be a single line"),
        ({"author_name": "Para\u2029break"}, "author_name 'Para\\u2029break' must be a single line"),
        ({"description": " \n "}, "description is empty"),
        ({"actor_title": "{{ 7*7 }}"}, "actor_title contains '{{', which cookiecutter and cruft would run"),
        ({"description": "{# note #}"}, "description contains '{#'"),
        ({"actor_title": "Braces {like this} are fine"}, None),
    ],
)
def test_each_rule_names_the_value(change: dict, expected: str | None) -> None:
    found = pre_gen_project.problems({**GOOD, **change})
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1
        assert expected in found[0]


def test_main_prints_one_error_line_per_problem_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert pre_gen_project.main({**GOOD, "actor_name": "X", "python_version": "2.7"}) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("ERROR: ") for line in lines)


literal_spec = importlib.util.spec_from_file_location("literal_answers", TEMPLATE / "hooks" / "literal_answers.py")
literal_answers = importlib.util.module_from_spec(literal_spec)
literal_spec.loader.exec_module(literal_answers)


@pytest.mark.parametrize(
    ("source", "rendered"),
    [
        ("{{ 7*7 }}", "{{ 7*7 }}"),  # an answer: kept as typed
        ("{{ foo.bar }}", "{{ foo.bar }}"),
        ("a {% endraw %} b {% raw %}", "a {% endraw %} b {% raw %}"),
        ("{{ cookiecutter.actor_name | upper }}", "MY-ACTOR"),  # the template's own defaults still render
        ("plain", "plain"),
    ],
)
def test_answers_stay_literal_and_the_templates_own_expressions_render(source: str, rendered: str) -> None:
    env = Environment(extensions=[literal_answers.LiteralAnswers])
    assert env.from_string(source).render(cookiecutter={"actor_name": "my-actor"}) == rendered


post_spec = importlib.util.spec_from_file_location("post_gen_project", TEMPLATE / "hooks" / "post_gen_project.py")
post_gen_project = importlib.util.module_from_spec(post_spec)
post_spec.loader.exec_module(post_gen_project)


@pytest.mark.parametrize(
    ("package_manager", "removed", "kept"),
    [("pip", [".python-version"], "requirements.txt"), ("uv", ["requirements.txt"], ".python-version")],
)
def test_the_post_gen_hook_removes_what_the_package_manager_does_not_use(
    tmp_path, package_manager: str, removed: list[str], kept: str
) -> None:
    for name in ("requirements.txt", ".python-version"):
        (tmp_path / name).write_text("x\n")
    answers = {"package_manager": package_manager, "__package_name": "my_actor"}
    assert post_gen_project.remove_unused(answers, tmp_path) == removed
    assert (tmp_path / kept).exists()
    assert not (tmp_path / removed[0]).exists()


def test_the_post_gen_hook_reports_uv_lock_failing_by_its_error_line(tmp_path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\nrequires-python = ">=3.99"\n')
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    reason = post_gen_project.lock(tmp_path)
    assert reason is not None
    assert reason.startswith("error:")
    assert not (tmp_path / "uv.lock").exists()


INSTALLED_MODULES = """
import importlib.metadata as metadata
bootstrap = {"pip", "setuptools"}
print(" ".join(sorted(
    name for name, dists in metadata.packages_distributions().items()
    if name.isidentifier() and not name.startswith("_") and set(dists) - bootstrap
)))
"""


@pytest.mark.parametrize("source", ["json_api", "website"])
def test_every_top_level_module_of_the_actors_environment_is_refused_as_a_name(source: str, kind_python) -> None:
    installed = set(run([str(kind_python(source)), "-c", INSTALLED_MODULES]).stdout.split())
    assert {"apify", "crawlee", "multidict"} <= installed  # what is asked for, and what it brings (yarl's)
    missing = installed - pre_gen_project.DEPENDENCY_PACKAGES
    assert not missing, f"add to DEPENDENCY_PACKAGES in hooks/pre_gen_project.py: {sorted(missing)}"
