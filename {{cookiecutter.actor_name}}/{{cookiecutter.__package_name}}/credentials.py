"""Credentials that must never leave the run: request header values and the secret-looking query parameters
of apiUrl. Messages are passed through `Secrets.hide` before they are logged or shown; saved URLs lose those
parameters (`without_secrets`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit, urlunsplit

SECRET_NAME = re.compile(r"key|token|secret|passw|pwd|sig|auth|credential|session", re.IGNORECASE)
HIDDEN = "***"
MIN_SECRET_LENGTH = 4  # shorter header values ("1", "en") are no credentials, and hiding them would garble messages


def looks_secret(name: str) -> bool:
    """Whether a query parameter's name says that it carries a credential (api_key, token, signature, ...)."""
    return bool(SECRET_NAME.search(name))


def without_secrets(url: str) -> str:
    """`url` without its secret-looking query parameters and without user:password in its host part."""
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and not looks_secret(p.split("=", 1)[0])] if parts.query else []
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query="&".join(kept)))


class Secrets:
    """The run's secret values, and a way to hide them in any text."""

    def __init__(self, api_url: str, header_values: Iterable[str]) -> None:
        parts = urlsplit(api_url)
        values = {value for name, value in parse_qsl(parts.query, keep_blank_values=True) if looks_secret(name)}
        values |= set(header_values)
        if parts.password:
            values.add(parts.password)
        # As written and as they may appear encoded in a URL; longest first, so no part of one is left.
        values = {value for value in values if len(value) >= MIN_SECRET_LENGTH}
        forms = {form for value in values for form in (value, quote(value, safe=""), quote_plus(value))}
        self._forms = sorted(forms, key=len, reverse=True)

    def hide(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, HIDDEN)
        return text
