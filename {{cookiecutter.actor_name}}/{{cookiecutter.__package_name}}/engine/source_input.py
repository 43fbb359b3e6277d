"""The input fields the engine reads (limits, retries, incremental runs), which a source's input model extends with its
own, and what of that input is secret and what defines the source.

A field is secret when its name says so (`password`, `apiKey`, `accessToken`: credentials.looks_secret) or the model
marks it (`Field(json_schema_extra={"isSecret": True})`, as `isSecret` in the input schema); a URL in any text field
has its password and credential query parameters secret too (a DSN such as `postgresql://user:pw@host/db`). Secret
values are hidden in logs, status messages and saved positions, and are no part of the source's identity: a rotated
password resumes the same run and the same incremental job.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from ..credentials import Secrets, looks_secret, without_secrets
from ..incremental import IncrementalInput


class SourceInput(IncrementalInput):
    """maxItems, maxReadRetries, and incremental runs (incremental, datasetName, waitForPreviousRunSecs). parallelRuns
    is refused above 1: a source read by `read(position)` has one position at a time to go on from."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, strict=True, extra="ignore")

    max_items: int = Field(0, ge=0)
    max_read_retries: int = Field(5, ge=0, le=20)
    incremental: bool = False
    parallel_runs: SkipJsonSchema[int] = Field(1, ge=1)  # not in the input schema: only refused, with one line

    @model_validator(mode="after")
    def _one_run_reads_it(self) -> SourceInput:
        if self.parallel_runs > 1:
            raise ValueError(
                f"parallelRuns {self.parallel_runs} cannot be used with your own source: it is read by read(position), "
                "one position after another, so one run reads it (parallelRuns must be 1)"
            )
        self.check_incremental(self.incremental, self.parallel_runs)
        return self

    def source_fields(self) -> dict[str, Any]:
        """The source's own fields (those of the model that extends this one), by alias, as given."""
        return {alias: value for alias, _secret, value in self._own_fields()}

    def secret_fields(self) -> dict[str, str]:
        """Every secret value of the input, named: a secret field's (its alias), and the password and credential
        query parameters of the URLs in text fields (`<alias>.password`, `<alias>.<parameter>`)."""
        named: dict[str, str] = {}
        for alias, secret, value in self._own_fields():
            if not isinstance(value, str) or not value:
                continue
            if secret:
                named[alias] = value
            elif "://" in value:
                parts = urlsplit(value)
                if parts.password:
                    named[f"{alias}.password"] = parts.password
                for parameter, credential in parse_qsl(parts.query, keep_blank_values=True):
                    if looks_secret(parameter) and credential:
                        named[f"{alias}.{parameter}"] = credential
        return named

    def _own_fields(self) -> list[tuple[str, bool, Any]]:
        """(alias, whether it is secret, value) of each field of the source's own."""
        own = []
        for name, field in type(self).model_fields.items():
            if name in SourceInput.model_fields:
                continue
            alias = field.alias or name
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            own.append((alias, looks_secret(alias) or bool(extra.get("isSecret")), getattr(self, name)))
        return own

    def secrets(self) -> Secrets:
        """The credentials machinery (credentials.py) for this input: hides every secret value in any text."""
        return Secrets("", list(self.secret_fields().values()))

    def source(self) -> dict[str, Any]:
        """What defines the source: its own fields, less the secret ones and the credentials of URLs (which may change
        between runs). A run resumes, and an incremental job goes on, only with the same."""
        identity = {
            alias: without_secrets(value) if isinstance(value, str) and "://" in value else value
            for alias, secret, value in self._own_fields()
            if not secret
        }
        return {**identity, **({"incremental": True} if self.incremental else {})}
