"""A Jinja extension that keeps template answers literal (named in cookiecutter.json's `_extensions`).

Cookiecutter renders every answer as a Jinja template: with `--no-input`, a title `{{ 7*7 }}` becomes `49`,
`{{ foo.bar }}` is a traceback, and `cruft update` would render it again. Sources that this template writes
itself (defaults, paths, hook scripts) all name `cookiecutter`; any other text with Jinja syntax that is
rendered outside a template file is an answer, and is kept exactly as typed, so that the pre-gen hook can
refuse it with its own message.
"""

from __future__ import annotations

import re

from jinja2.ext import Extension

JINJA_SYNTAX = re.compile(r"\{\{|\{%|\{#")
END_RAW = "{% endraw %}"


class LiteralAnswers(Extension):
    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        if filename is None and name is None and JINJA_SYNTAX.search(source) and "cookiecutter" not in source:
            return (
                "{% raw %}"
                + source.replace("{% endraw %}", "{% endraw %}{{ '{% endraw %}' }}{% raw %}")
                + "{% endraw %}"
            )
        return source
