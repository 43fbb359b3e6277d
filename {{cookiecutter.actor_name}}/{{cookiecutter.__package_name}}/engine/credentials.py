"""Credentials that must never leave the run: request header values (whole, and the credential after an
authorization scheme such as `Bearer <token>` by itself too, for a server may echo the token alone: in a next URL's
`access_token`, in an error message), the credential query parameters of apiUrl and oauth2TokenUrl, the values of
requestBody's keys that name a credential, and OAuth2's client secret and tokens. Messages are passed through
`Secrets.hide` before they are logged or shown: it hides the known secret values, and in every URL the value of
each query parameter whose name says it is a credential, however short. A known secret is hidden however a URL
encodes it (any character percent-escaped, in upper- or lower-case hex, a space as `+`).
Dataset items lose only the credentials (`Secrets.hide_in`), for an API may echo the request in them (a HAL self
link, a `caller` field) and datasets are often shared, but the items are the user's data: an ordinary header's value
(`Accept-Language: en-US`, `X-Shop-Id: 1234`) is data that items may hold too (`"locale": "en-US"`). In items are
hidden: the values of headers named for a credential (Authorization, Proxy-Authorization, X-Api-Key, X-Auth-Token,
Cookie; see `names_a_credential`) whole and after any scheme, a cookie's value when its name says so or it looks like
a token, header values that look like a token (`looks_like_token`), requestBody's credentials, OAuth2's client
secret and tokens, and apiUrl's credential parameters (by value, and by name in URLs however short); other
credential-like parameters in items are the source's data (a signed image URL) and stay.
Saved URLs lose the known secret values (`Secrets.strip`), and credentials go only to apiUrl's origin (and the
origins the input allows; the OAuth2 client secret only to the token URL's), at every hop of a redirect too.

A query parameter carries a credential when a whole word of its name says so (`api_key`, `apiKey`,
`access_token`, `X-Amz-Signature`, `password`, `session`), not when the letters merely occur in it
(`keywords`, `author`, `design`, `sort_key` are ordinary parameters: part of the source's identity, shown as
written).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit, urlunsplit

CREDENTIAL_WORDS = frozenset(
    {"token", "secret", "password", "passwd", "pwd", "passphrase", "signature", "sig", "auth", "authorization"}
    | {"credential", "credentials", "session", "sessionid", "apikey", "jwt", "bearer", "otp"}
)
# "key" alone is ordinary (sort_key, group_key): it names a credential after one of these words, or on its own.
KEY_OWNERS = frozenset({"api", "access", "secret", "private", "client", "subscription", "app", "license", "consumer"})
HIDDEN = "***"
# Authorization schemes (RFC 9110 section 11.4 and common API ones): in `<scheme> <credential>`, the credential is a
# secret by itself.
AUTH_SCHEMES = frozenset({"bearer", "basic", "token", "bot", "apikey", "api-key", "key", "jwt", "oauth", "sso-key"})
SCHEME_AND_CREDENTIAL = re.compile(r"([A-Za-z][A-Za-z0-9._-]*)\s+(\S+)\s*")
MIN_SECRET_LENGTH = 4  # shorter header values ("1", "en") are no credentials, and hiding them would garble messages
# A header value that looks like a token, whatever its header's name: at least 20 characters of RFC 6750's b64token
# alphabet (no space, comma, semicolon or colon: no sentence, list or media-type parameters), with a letter and a
# digit. API keys and tokens are that long and random (AWS's access key id has 20, GitHub's tokens 40, JWTs far
# more), while ordinary values are short ("en-US", "1234"), words ("main-store"), lists ("en;q=0.9") or numbers.
TOKEN_LIKE = re.compile(r"(?=.*[A-Za-z])(?=.*[0-9])[A-Za-z0-9._~+/=-]{20,}")
# Headers whose values describe the content, the client or a version, or that name an identifier (X-Shop-Id,
# X-Tenant-Id, a UUID): data the items may hold, however token-like it looks (application/vnd.github.v3+json).
ORDINARY_HEADER = re.compile(r"(accept|content|user-agent|if|cache-control)(-.*)?|.*[-_](id|version)", re.IGNORECASE)
# A query parameter in a URL within a message: its name, and its value up to a character that ends a URL's query
# (trailing punctuation is the message's: "...?api_key=k1: HTTP 503").
QUERY_PARAMETER = re.compile(r"(?<=[?&])([^=&#\s]+)=((?:[^&#\s'\"<>]*[^&#\s'\"<>.,;:!?)\]])?)")


def looks_secret(name: str) -> bool:
    """Whether a query parameter's name says that it carries a credential (see the module's docstring)."""
    words = re.findall(r"[a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower())
    if CREDENTIAL_WORDS.intersection(words) or words == ["key"]:
        return True
    return any(word == "key" and number and words[number - 1] in KEY_OWNERS for number, word in enumerate(words))


def without_secrets(url: str) -> str:
    """`url` without its credential query parameters and without user:password in its host part."""
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and not looks_secret(_name(p))] if parts.query else []
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query="&".join(kept)))


def body_without_secrets(body: Any) -> Any:
    """A JSON body with the values of the keys that name a credential (at any depth) left out."""
    if isinstance(body, dict):
        return {key: body_without_secrets(value) for key, value in body.items() if not looks_secret(key)}
    if isinstance(body, list):
        return [body_without_secrets(value) for value in body]
    return body


def body_secrets(body: Any) -> list[str]:
    """The string values of the keys that name a credential in a JSON body, at any depth."""
    if isinstance(body, dict):
        found = [value for key, value in body.items() if looks_secret(key) and isinstance(value, str)]
        return found + [secret for value in body.values() for secret in body_secrets(value)]
    if isinstance(body, list):
        return [secret for value in body for secret in body_secrets(value)]
    return []


def secret_parts(value: str) -> list[str]:
    """A secret value, and the credential of `<scheme> <credential>` (Bearer, Basic, Token...) by itself."""
    match = SCHEME_AND_CREDENTIAL.fullmatch(value)
    return [value, match[2]] if match and match[1].lower() in AUTH_SCHEMES else [value]


def names_a_credential(header: str) -> bool:
    """Whether a header's name says that it carries a credential: Authorization, Proxy-Authorization, X-Api-Key,
    X-Auth-Token (named like a credential query parameter, see `looks_secret`), or Cookie."""
    return looks_secret(header) or header.lower() == "cookie"


def looks_like_token(value: str) -> bool:
    """Whether a value looks like a token or an API key (see TOKEN_LIKE)."""
    return TOKEN_LIKE.fullmatch(value) is not None


def header_secrets(headers: Mapping[str, str]) -> list[str]:
    """The secret values of request headers, hidden in what the run logs, shows and saves: each whole value (see
    `secret_parts`), and the credentials among them (`header_credentials`)."""
    return [*headers.values(), *header_credentials(headers)]


def header_credentials(headers: Mapping[str, str]) -> list[str]:
    """The credentials among request header values, hidden in dataset items too: the values of headers named for a
    credential, whole and the credential after any scheme, for schemes are many (Okta's `SSWS <token>`, DeepL's
    `DeepL-Auth-Key <key>`, Imgur's `Client-ID <id>`), and a cookie's value when its name says so or it looks like
    a token; and of other headers, except ordinary ones (ORDINARY_HEADER), a value or the credential after a known
    scheme that looks like a token."""
    found = []
    for name, value in headers.items():
        if names_a_credential(name):
            found.append(value)
            if match := SCHEME_AND_CREDENTIAL.fullmatch(value):
                found.append(match[2])
            if name.lower() == "cookie":
                cookies = (cookie.strip().partition("=") for cookie in value.split(";"))
                found += [v for n, _, v in cookies if v and (looks_secret(n) or looks_like_token(v))]
        elif not ORDINARY_HEADER.fullmatch(name):
            found += [part for part in secret_parts(value) if looks_like_token(part)]
    return found


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


class Secrets:
    """The run's secret values, where they may be sent, and a way to hide them in any text."""

    def __init__(
        self,
        api_url: str,
        header_values: Iterable[str],
        other_origins: Iterable[str] = (),
        *,
        not_in_items: Iterable[str] = (),
    ) -> None:
        """`header_values`: credentials, hidden everywhere; `not_in_items`: values hidden in what the run logs, shows
        and saves but left in dataset items (the values of ordinary headers, which items may hold as data)."""
        # apiUrl's credential parameters, as written: added again to the next URLs of its own origin.
        self.query_credentials = [p for p in urlsplit(api_url).query.split("&") if p and looks_secret(_name(p))]
        self._query_pairs = {_pair(p) for p in self.query_credentials}  # left out of saved URLs, however short
        self._query_names = {name for name, _value in self._query_pairs}
        self._values: set[str] = set()  # hidden in messages and left out of saved URLs
        self._credentials: set[str] = set()  # hidden in dataset items too
        self._everywhere: re.Pattern[str] | None = None
        self._in_items: re.Pattern[str] | None = None
        self.add_url(api_url)
        self.add(header_values)
        self._add(not_in_items, credentials=False)
        self._origins = {origin(api_url), *(origin(other) for other in other_origins)}

    @classmethod
    def of_request(
        cls, api_url: str, headers: Mapping[str, str], body: Any, other_origins: Iterable[str] = ()
    ) -> Secrets:
        """The secrets of the requests the input describes: apiUrl's credentials, the header values (in dataset
        items only the credentials among them, `header_credentials`) and requestBody's credentials."""
        credentials = [*header_credentials(headers), *body_secrets(body)]
        return cls(api_url, credentials, other_origins, not_in_items=header_secrets(headers))

    def add_url(self, url: str) -> None:
        """Hide the values of `url`'s credential query parameters and its password (apiUrl, oauth2TokenUrl)."""
        parts = urlsplit(url)
        self.add(value for name, value in parse_qsl(parts.query, keep_blank_values=True) if looks_secret(name))
        self.add([parts.password] if parts.password else [])

    def add(self, values: Iterable[str]) -> None:
        """Hide these credentials too, in dataset items as well (an OAuth2 client secret, each token as issued)."""
        self._add(values, credentials=True)

    def _add(self, values: Iterable[str], *, credentials: bool) -> None:
        parts = {
            form
            for value in values
            for part in secret_parts(value)
            for form in _written_forms(part)
            if len(form) >= MIN_SECRET_LENGTH
        }
        self._values |= parts
        self._everywhere = _any_of(self._values)
        if credentials:
            self._credentials |= parts
            self._in_items = _any_of(self._credentials)

    def hide(self, text: str) -> str:
        # By name too: a credential parameter too short to be hidden by its value, or one the run never knew.
        return _hide_parameters(_hide_values(text, self._everywhere), looks_secret)

    def hide_in(self, value: Any) -> Any:
        """A JSON value (a dataset item) with the credentials hidden in its strings, and in its URLs the values of
        apiUrl's credential parameters, however short (see the module's docstring)."""
        if self._in_items is None and not self._query_names:
            return value  # a run without credentials: nothing to hide
        if isinstance(value, str):
            return _hide_parameters(_hide_values(value, self._in_items), self._query_names.__contains__)
        if isinstance(value, dict):
            return {key: self.hide_in(inner) for key, inner in value.items()}
        if isinstance(value, list):
            return [self.hide_in(inner) for inner in value]
        return value

    def may_receive(self, url: str) -> bool:
        """Whether requests to `url` may carry the credentials: apiUrl's origin, or one the input allows."""
        return origin(url) in self._origins

    def strip(self, url: str) -> str:
        """`url` without user:password and without the query parameters whose value is a known secret or that are
        one of apiUrl's credential parameters: what a server put in a next URL (a page token, a skip token, a
        signature of its own) stays."""
        parts = urlsplit(url)
        secret = [_pair(p)[1] in self._values or _pair(p) in self._query_pairs for p in parts.query.split("&")]
        kept = [p for p, is_secret in zip(parts.query.split("&"), secret, strict=True) if p and not is_secret]
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query="&".join(kept)))


def _written_forms(value: str) -> set[str]:
    """The forms a secret takes in a message: as given, percent-decoded (a DSN's password as its driver uses it), and
    each of those escaped as Python's repr and JSON write it (in a KeyError's message a backslash comes doubled)."""
    forms = {value, unquote(value)}
    return forms | {escaped for form in forms for escaped in (repr(form)[1:-1], json.dumps(form)[1:-1])}


def _any_of(values: Iterable[str]) -> re.Pattern[str] | None:
    """A pattern that finds any of `values` as written or however a URL encodes it: each character as is or
    percent-escaped (its UTF-8 bytes, in upper- or lower-case hex), a space as `+` too. That covers `quote` with or
    without `safe="/"`, `quote_plus`, JavaScript's encodeURIComponent and any mix. Longest first, so no part of one
    is left, and in the same order in every process (an item hidden again after a restart is compared with the one
    that landed)."""
    ordered = sorted(values, key=lambda value: (-len(value), value))
    return re.compile("|".join(map(_any_encoding, ordered))) if ordered else None


def _any_encoding(value: str) -> str:
    def character(char: str) -> str:
        escaped = "".join(f"%(?i:{byte:02x})" for byte in char.encode())
        return f"(?:{re.escape(char)}|{escaped}{'|[+]' if char == ' ' else ''})"

    return "".join(map(character, value))


def _hide_values(text: str, secrets: re.Pattern[str] | None) -> str:
    return secrets.sub(HIDDEN, text) if secrets else text


def _hide_parameters(text: str, is_secret: Callable[[str], bool]) -> str:
    """`text` with the value of each query parameter of its URLs whose (decoded) name `is_secret` hidden."""
    if "=" not in text:
        return text
    return QUERY_PARAMETER.sub(lambda m: f"{m[1]}={HIDDEN}" if m[2] and is_secret(_name(m[1])) else m[0], text)


def _name(pair: str) -> str:
    return unquote_plus(pair.split("=", 1)[0])


def _pair(pair: str) -> tuple[str, str]:
    name, _, value = pair.partition("=")
    return unquote_plus(name), unquote_plus(value)
