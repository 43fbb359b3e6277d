"""Redirects of the JSON API and its OAuth2 token URL, followed hop by hop: credentials (the input's headers,
apiUrl's credential parameters, the bearer token, a body that names a credential) reach only the origins that may
have them, a POST is redirected as RFC 9110 says, and a redirect loop stops. Two local sources are two origins
(127.0.0.1 on two ports). And URLs in messages show no credential parameter, however short."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest
from harness import OAUTH2_SECRET, STYLE_INPUTS, PaginatedSource, Storage, expected_items, package_name, run_actor

json_api = importlib.import_module(f"{package_name()}.engine.json_api")
credentials = importlib.import_module(f"{package_name()}.engine.credentials")
ActorInput = importlib.import_module(f"{package_name()}.actor_input").ActorInput

SECRET_HEADER = "SENTINEL-header-5c07e3"
SECRET_KEY = "SENTINEL-key-a1d2f4"
SECRET_IN_BODY = "SENTINEL-body-93be60"


def credentials_in(source: PaginatedSource) -> list[str]:
    """The credentials of any kind that reached `source`."""
    texts = [f"{request.target} {request.headers} {request.body}" for request in source.received]
    secrets = [SECRET_HEADER, SECRET_KEY, SECRET_IN_BODY, OAUTH2_SECRET, "Bearer "]
    return [secret for secret in secrets if any(secret in text for text in texts)]


def test_a_redirect_to_another_origin_gets_no_credentials_and_one_on_the_same_origin_gets_them(
    storage: Storage,
) -> None:
    """apiUrl /old redirects (302, relative) to /moved on its own origin, which redirects (307) to the other
    source, the query kept (credential parameter included). The other source serves the pages without asking for
    credentials, and asks for the second page again once (429): that hop is retried, not the whole way."""
    with PaginatedSource(total=60, style="cursor", faults={20: [429]}, retry_after="0") as other:
        moved = {"/old": (302, "/moved"), "/moved": (307, other.url)}
        with PaginatedSource(total=0, style="cursor", token_lifetime_secs=30, redirects=moved) as api:
            actor_input = api.input_for(pageSize=20, headers={"X-Api-Key": SECRET_HEADER})
            storage.write_input({**actor_input, "apiUrl": api.url.replace("/items", f"/old?api_key={SECRET_KEY}")})
            result = run_actor(storage, timeout=60)
    assert result.returncode == 0, result.stdout
    assert storage.items() == expected_items(60, "cursor")  # every page, each through both redirects
    same_origin_hops = [request for request in api.received if request.target.startswith("/moved")]
    assert len(same_origin_hops) == 3
    for request in same_origin_hops:
        assert request.headers["x-api-key"] == SECRET_HEADER
        assert request.headers["authorization"].startswith("Bearer token-")
        assert f"api_key={SECRET_KEY}" in request.target
    assert len(other.received) == 4
    assert credentials_in(other) == []


@pytest.mark.parametrize(("status", "same_origin"), [(307, False), (308, True)])
def test_a_post_whose_body_names_a_credential_is_redirected_only_within_the_origins_that_may_have_it(
    storage: Storage, status: int, same_origin: bool
) -> None:
    search = {**STYLE_INPUTS["searchAfter"]["requestBody"], "access_token": SECRET_IN_BODY}
    with PaginatedSource(total=60, style="searchAfter") as other:
        target = "/items/_search" if same_origin else f"{other.url}/_search"
        with PaginatedSource(total=60, style="searchAfter", redirects={"/old/_search": (status, target)}) as api:
            old = api.url.replace("/items", "/old/_search")
            storage.write_input(api.input_for(apiUrl=old, requestBody=search, pageSize=20))
            result = run_actor(storage, timeout=60)
    if same_origin:  # method and body kept (RFC 9110 15.4.9)
        assert result.returncode == 0, result.stdout
        assert storage.items() == expected_items(60, "searchAfter")
        assert all(SECRET_IN_BODY in request.body for request in api.received)
    else:
        assert result.returncode == 1
        where = other.url.removesuffix("/items")
        assert f"redirected (HTTP 307) to {where}, which may not receive the credentials" in result.stdout
        assert SECRET_IN_BODY not in result.stdout
        assert other.received == []
        assert storage.items() == []


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirected_post_is_followed_with_a_get_without_its_body(status: int) -> None:
    """RFC 9110 15.4: after a POST, 303 is followed with a GET, and 301 and 302 are too (as every client does)."""
    with (
        PaginatedSource(total=10) as other,
        PaginatedSource(total=0, redirects={"/search": (status, other.url)}) as api,
    ):
        answer = asyncio.run(ask(f"{api.url.replace('/items', '/search')}?offset=0&limit=5", payload=b'{"q": 1}'))
    assert answer == other.page_items(0, 5)
    (request,) = other.received
    assert (request.method, request.body) == ("GET", "")
    assert "content-type" not in request.headers
    assert credentials_in(other) == []


def test_a_redirect_to_another_origin_that_wants_the_credentials_says_they_were_withheld() -> None:
    """As an API that redirects http to https would (another origin too): one message that says why."""
    with (
        PaginatedSource(total=10, required_headers={"X-Api-Key": SECRET_HEADER}) as other,
        PaginatedSource(total=0, redirects={"/old": (301, other.url)}) as api,
        pytest.raises(json_api.SourceError) as raised,
    ):
        asyncio.run(ask(f"{api.url.replace('/items', '/old')}?offset=0&limit=5"))
    assert f"{other.url}?offset=0&limit=5 (redirected from {api.url.replace('/items', '/old')}" in str(raised.value)
    assert "asked without the credentials" in str(raised.value)
    assert "answered HTTP 401" in str(raised.value)
    assert credentials_in(other) == []


def test_a_redirect_loop_stops_with_one_message() -> None:
    with PaginatedSource(total=0, redirects={"/loop": (302, "/loop")}) as api:
        with pytest.raises(json_api.SourceError, match=r"/loop\?limit=5 redirected more than 10 times"):
            asyncio.run(ask(f"{api.url.replace('/items', '/loop')}?limit=5"))
        assert len(api.received) == 11  # the request and 10 hops


async def ask(url: str, payload: bytes | None = None) -> Any:
    """What `url` answers to a request with a credential header, which only its own origin may receive."""
    secrets = credentials.Secrets(url, [SECRET_HEADER])
    async with json_api.http_client() as http:
        body, _headers = await json_api.request_json(
            http,
            url,
            headers={} if payload is None else {"Content-Type": "application/json"},
            credential_headers={"X-Api-Key": SECRET_HEADER},
            may_receive=secrets.may_receive,
            payload=payload,
            max_retries=0,
            secrets=secrets,
        )
    return body


def test_credential_parameters_of_shown_urls_are_hidden_whatever_their_length() -> None:
    """oauth2TokenUrl's own credential parameters (the client secret's is not the input's oauth2ClientSecret), one
    of them shorter than a value the run would hide; the token URL answers 404."""

    async def refusal(actor_input: Any) -> str:
        secrets = credentials.Secrets(actor_input.api_url, [])
        async with json_api.http_client() as http:
            with pytest.raises(json_api.SourceError) as raised:
                await json_api.OAuth2ClientCredentials(http, actor_input, secrets).token()
        return str(raised.value)

    with PaginatedSource(total=0, token_lifetime_secs=1) as source:
        token_url = f"{source.url}/nowhere?client_secret=SENTINEL-in-the-url&key=k7&scope=all"
        message = asyncio.run(refusal(ActorInput.model_validate(source.input_for(oauth2TokenUrl=token_url))))
    assert message.endswith("/nowhere?client_secret=***&key=***&scope=all answered HTTP 404.")
    shown = credentials.Secrets("https://api.test/items?sig=x1", []).hide("https://api.test/items?page=2&sig=x1: 503")
    assert shown == "https://api.test/items?page=2&sig=***: 503"


def test_saved_urls_lose_api_urls_credential_parameters_however_short() -> None:
    next_url = "https://api.test/items?page=2&key=k7&sort=id&key=other"
    saved = credentials.Secrets("https://api.test/items?key=k7&sort=id", []).strip(next_url)
    assert saved == "https://api.test/items?page=2&sort=id&key=other"  # a value of its own, which the server gave
