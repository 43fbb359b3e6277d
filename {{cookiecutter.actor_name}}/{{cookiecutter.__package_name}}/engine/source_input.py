"""The input fields the engine reads (limits, retries, incremental runs), which a source's input model extends with its
own, and what of that input is secret and what defines the source.

A field is secret when its name says so (`password`, `apiKey`, `accessToken`: credentials.looks_secret) or the model
marks it (`Field(json_schema_extra={"isSecret": True})`, as `isSecret` in the input schema); a URL in any text field
has its password and credential query parameters secret too (a DSN such as `postgresql://user:pw@host/db`), and so
has a connection string of `key=value` pairs (libpq's `host=db password=pw`, ODBC's `Server=db;Pwd=pw;`). Secret
values are hidden in logs, status messages and saved positions, and are no part of the source's identity: a rotated
password resumes the same run and the same incremental job. The secrets other than passwords (an API key, a token)
and a URL's user name an unnamed incremental job, hashed (`account`): two tasks reading one source as different
accounts have different jobs (datasetName keeps a job across another key).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from .credentials import Secrets, looks_secret, without_secrets
from .mode_input import IncrementalInput

# A connection string of key=value pairs: libpq's (separated by spaces; a value in single quotes may hold them) or
# ODBC's and ADO.NET's (separated by semicolons; a value in braces may hold them; an unbraced one ends at =: base64).
LIBPQ_PAIR = re.compile(r"\s*([A-Za-z_][\w.-]*)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)\s*")
ODBC_PAIR = re.compile(r"\s*([A-Za-z][\w .-]*?)\s*=\s*(\{(?:[^}]|\}\})*\}|[^;{=]*?=*)\s*(?:;|$)")
PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "passphrase"})  # a password's rotation keeps the account
CONNECTION_CREDENTIALS = frozenset({"accountkey"})  # Azure Storage's, which looks_secret does not take for one


def connection_string_credentials(text: str) -> list[tuple[str, str, tuple[int, int]]]:
    """(name, value, span of the value in `text`) of each pair of a key=value connection string whose name says it is
    a credential (`password`, `Pwd`, `AccountKey`), the value unquoted; none when `text` is no such string."""
    for pair, unquote, separator in ((ODBC_PAIR, _unquote_odbc, ";"), (LIBPQ_PAIR, _unquote_libpq, "=")):
        if separator in text and (pairs := _pairs(text, pair)):
            return [
                (match[1], unquote(match[2]), match.span(2))
                for match in pairs
                if (looks_secret(match[1]) or match[1].lower() in CONNECTION_CREDENTIALS) and match[2]
            ]
    return []


def _pairs(text: str, pair: re.Pattern[str]) -> list[re.Match[str]] | None:
    """`text` as a sequence of `pair`s, matched one after the other (one regular expression for all of them would
    backtrack for ages over a long text that is not one); None when it is not."""
    pairs: list[re.Match[str]] = []
    at = 0
    while at < len(text):
        match = pair.match(text, at)
        if match is None or match.end() == at:
            return None
        pairs.append(match)
        at = match.end()
    return pairs


def _unquote_libpq(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value[1:-1]) if value.startswith("'") else value


def _unquote_odbc(value: str) -> str:
    return value[1:-1].replace("}}", "}") if value.startswith("{") else value


def without_credentials(text: str) -> str:
    """A text field as the source's identity holds it: a URL without its user, password and credential parameters; a
    connection string without its credential values."""
    for _name, _value, (start, end) in reversed(connection_string_credentials(text)):
        text = text[:start] + text[end:]
    return without_secrets(text) if "://" in text else text


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
                continue
            for name, credential, _span in connection_string_credentials(value):
                named[f"{alias}.{name}"] = credential
            if "://" in value:
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
            alias: without_credentials(value) if isinstance(value, str) else value
            for alias, secret, value in self._own_fields()
            if not secret
        }
        return {**identity, **({"incremental": True} if self.incremental else {})}

    def account(self) -> dict[str, Any]:
        """Who the source is read as: the users of URLs and the secret values other than passwords (an API key, a
        token), which `source` leaves out. Only for the name of an unnamed incremental job, hashed
        (incremental.job_name): never saved, logged or shown. A rotated password keeps the job; another key is
        another account, and another job."""
        users = {
            f"{alias}.user": urlsplit(value).username
            for alias, _secret, value in self._own_fields()
            if isinstance(value, str) and "://" in value and urlsplit(value).username
        }
        keys = {name: value for name, value in self.secret_fields().items() if not _names_a_password(name)}
        return {**keys, **users}


def _names_a_password(name: str) -> bool:
    """Whether a secret's name (`password`, `dsn.password`, `dbPassword`, `Pwd`) says it is a password."""
    words = re.findall(r"[a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name.rpartition(".")[2]).lower())
    return bool(PASSWORD_WORDS.intersection(words))
