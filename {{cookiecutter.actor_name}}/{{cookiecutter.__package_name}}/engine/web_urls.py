"""The URL fields of the input (apiUrl, oauth2TokenUrl, credentialOrigins, startUrls): checked with pydantic's URL
parser (the WHATWG rules browsers and HTTP clients follow) and with urllib's (which credentials.py and
pagination.py use), and kept exactly as written: what is sent is what the user wrote."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, AnyHttpUrl, TypeAdapter, ValidationError

_PARSED = TypeAdapter(AnyHttpUrl)
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def check_web_url(url: str) -> str:
    """`url`, unchanged, if it is an http(s) URL with a host and a port that can be connected to, and that
    both parsers read alike; else ValueError naming the problem (not the URL: it may hold a credential)."""
    if _SPACE_OR_CONTROL.search(url):
        raise ValueError("the URL holds a space or a control character (write a space as %20)")
    try:
        parsed = _PARSED.validate_python(url)
        parts = urlsplit(url)
        port = parts.port
    except ValidationError as error:
        problem = error.errors()[0]["msg"].removeprefix("Input should be a valid URL, ")
        raise ValueError(f"not a valid http(s) URL: {problem}") from None
    except ValueError as error:
        raise ValueError(f"not a valid http(s) URL: {error}") from None
    if not parts.hostname:
        raise ValueError("the URL has no host")  # `http:///path`, which WHATWG parsers read as host `path`
    if port == 0:
        raise ValueError("the URL's port is 0, which cannot be connected to")
    host = parsed.host or ""
    if parts.hostname.isascii() and not host.startswith("[") and parts.hostname != host:
        # `http://a.com\@b.com/`, `%41` or `0x7f.1` in the host: the HTTP client would connect to another host
        # than the one the credential checks see. Neither is shown: a misread host may be part of a password.
        raise ValueError(
            "URL parsers read the URL's host differently (a backslash, a %-escape or a numeric form in it?): "
            "write the host plainly"
        )
    return url


WebUrl = Annotated[str, AfterValidator(check_web_url)]
