"""Refuse template answers that would give a broken Actor, before any file is written.

Cookiecutter renders this file and runs it inside the new project folder; on a non-zero exit it deletes
that folder, so a refused answer leaves nothing behind. The answers reach `main()` as JSON (`tojson`), so
no answer can ever become Python code here.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
import unicodedata

# Apify's rule for Actor names (the `name` in .actor/actor.json).
ACTOR_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
PYTHON_VERSIONS = ("3.11", "3.12", "3.13", "3.14")
# Every top-level module of the generated Actor's installed dependency tree (both kinds, dev tools included)
# and its tests folder: a package of the same name would shadow it. Computed, not chosen: the template's tests
# (test_hooks.py) list what is installed in a baked Actor's environment and fail, naming the modules, when one
# is missing here.
DEPENDENCY_PACKAGES = frozenset(
    {"annotated_types", "apify", "apify_client", "async_timeout", "brotli", "cachetools", "cffi", "colorama"}
    | {"crawlee", "cryptography", "cssselect", "dns", "dotenv", "email_validator", "idna", "impit", "jmespath"}
    | {"lazy_object_proxy", "lxml", "more_itertools", "multidict", "parsel", "proclimits", "propcache", "protego"}
    | {"psutil", "pycparser", "pydantic", "pydantic_core", "pydantic_settings", "typing_extensions"}
    | {"typing_inspection", "w3lib", "websockets", "yarl"}
    | {"execnet", "graphql", "iniconfig", "packaging", "pluggy", "py", "pytest", "ruff", "xdist", "pygments"}
    | {"tests"}
)


# The start of a Jinja expression, tag or comment; written so that this script, which cookiecutter renders
# before running it, holds none itself.
JINJA_SYNTAX = re.compile(r"\{[#%{]")
# Control characters, and the line and paragraph separators (U+2028, U+2029) that end a line just as well.
LINE_BREAKING = ("Cc", "Zl", "Zp")


def _control_characters(text: str, allowed: str = "") -> list[str]:
    return [repr(ch) for ch in text if unicodedata.category(ch) in LINE_BREAKING and ch not in allowed]


def problems(answers: dict) -> list[str]:
    """Return one message for each answer that cannot make a working Actor (empty: all good)."""
    found = []
    name = answers.get("actor_name", "")
    if not ACTOR_NAME.fullmatch(name):
        found.append(
            f"actor_name {name!r} is not a valid Apify Actor name: use 3 to 63 lowercase letters, digits "
            "and dashes, starting and ending with a letter or digit"
        )
    else:
        package = answers.get("__package_name") or name.replace("-", "_")
        if not package.isidentifier() or keyword.iskeyword(package):
            found.append(
                f"actor_name {name!r} gives the package name {package!r}, which is not a Python identifier: "
                "start the name with a letter and do not use a Python keyword"
            )
        elif package in sys.stdlib_module_names or package in DEPENDENCY_PACKAGES:
            found.append(
                f"actor_name {name!r} gives the package name {package!r}, which would shadow the module of "
                "the same name that the Actor imports: choose another name"
            )
    for field in ("actor_title", "author_name"):
        value = answers.get(field, "")
        if not value.strip():
            found.append(f"{field} is empty: give a short one-line text")
        elif bad := _control_characters(value):
            found.append(f"{field} {value!r} must be a single line without control characters ({', '.join(bad)})")
    description = answers.get("description", "")
    if not description.strip():
        found.append("description is empty: say in one sentence what the Actor does")
    elif bad := _control_characters(description, allowed="\n\t"):
        found.append(f"description must not contain control characters other than newlines and tabs ({', '.join(bad)})")
    for field in ("actor_title", "author_name", "description"):
        if match := JINJA_SYNTAX.search(answers.get(field, "")):
            found.append(
                f"{field} contains {match.group()!r}, which cookiecutter and cruft would run as a template: "
                "leave out the braces"
            )
    version = answers.get("python_version")
    if version not in PYTHON_VERSIONS:
        found.append(f"python_version {version!r} is not supported: choose one of {', '.join(PYTHON_VERSIONS)}")
    return found


def main(answers: dict) -> int:
    """Print an `ERROR: ...` line per refused answer to stderr; return the exit code."""
    messages = problems(answers)
    for message in messages:
        print(f"ERROR: {message}", file=sys.stderr)
    return 1 if messages else 0


if __name__ == "__main__":
    sys.exit(main(json.loads(r"""{{ cookiecutter | tojson }}""")))
