"""The Actor's parts on their own: page URLs, item paths, Link headers, secrets, Retry-After, prefetching,
and the input model against the input schema that Apify Console shows (the two must describe the same input)."""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from crawlee.http_clients import ImpitHttpClient
from harness import OAUTH2_SECRET, PROJECT_ROOT, PaginatedSource, assert_model_matches_schema, package_name
from pydantic import ValidationError

json_api = importlib.import_module(f"{package_name()}.engine.json_api")
pagination = importlib.import_module(f"{package_name()}.engine.pagination")
credentials = importlib.import_module(f"{package_name()}.engine.credentials")
ledger = importlib.import_module(f"{package_name()}.engine.ledger")
state_record = importlib.import_module(f"{package_name()}.engine.state_record")
ActorInput = importlib.import_module(f"{package_name()}.actor_input").ActorInput
INPUT_SCHEMA = json.loads((PROJECT_ROOT / ".actor" / "input_schema.json").read_text())


@pytest.mark.parametrize(
    ("api_url", "expected"),
    [
        ("https://api.test/items", "https://api.test/items?offset=40&limit=20"),
        ("https://api.test/items?key=a%20b&offset=3", "https://api.test/items?key=a%20b&offset=40&limit=20"),
        ("https://api.test/v1/items?sort=id#top", "https://api.test/v1/items?sort=id&offset=40&limit=20#top"),
        # The user's own query stays as written: a bare flag, a comma, a + for a space.
        ("https://api.test/items?flag&ids=1,2&q=a+b", "https://api.test/items?flag&ids=1,2&q=a+b&offset=40&limit=20"),
    ],
)
def test_page_url_sets_only_its_own_parameters(api_url: str, expected: str) -> None:
    assert pagination.page_url(api_url, {"offset": 40, "limit": 20}) == expected


def test_items_at_follows_a_dotted_path() -> None:
    assert pagination.items_at({"data": {"items": [1, 2]}}, "data.items") == [1, 2]
    assert pagination.items_at([3], "") == [3]


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"data": {}}, "data.items", "itemsPath 'data.items': the response has no key 'items'"),
        ({"data": [1]}, "data.items", "itemsPath 'data.items': the response has no key 'items'"),
        ({"data": {"items": {"a": 1}}}, "data.items", "itemsPath 'data.items' is a JSON dict, not a list"),
        ({"items": []}, "", "the response body (itemsPath is empty) is a JSON dict, not a list"),
    ],
)
def test_items_at_names_the_path_when_it_leads_nowhere(body: object, path: str, message: str) -> None:
    with pytest.raises(pagination.SourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pagination.items_at(body, path)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('<https://api.test/items?page=2>; rel="next", <https://api.test/items?page=9>; rel="last"', "?page=2"),
        ('<https://api.test/items?page=1>; rel="prev first", <https://api.test/items?page=3>; rel=next', "?page=3"),
        ('<https://api.test/items?page=1>; rel="prev"', None),
        ("", None),
        # Relations are whole words of a space-separated list: these are not "next".
        ('<https://api.test/items?page=7>; rel="next-archive", <https://api.test/items?page=8>; rel="nextPage"', None),
        # A quoted parameter may hold commas and semicolons (RFC 8288); relation types are case-insensitive.
        (
            '<https://api.test/items?page=1>; title="a, b; c"; rel="prev", <https://api.test/items?page=3>; REL=Next',
            "?page=3",
        ),
        # GitHub's header, as it sends it.
        (
            '<https://api.github.com/repositories/1300192/issues?page=2>; rel="prev", '
            '<https://api.github.com/repositories/1300192/issues?page=4>; rel="next", '
            '<https://api.github.com/repositories/1300192/issues?page=515>; rel="last"',
            "https://api.github.com/repositories/1300192/issues?page=4",
        ),
        ("not a link header", None),
    ],
)
def test_next_link_reads_the_rel_next_target(header: str, expected: str | None) -> None:
    link = pagination.next_link(header)
    assert (link and link.removeprefix("https://api.test/items")) == expected


@pytest.mark.parametrize("name", ["api_key", "apiKey", "key", "access_token", "X-Amz-Signature", "sig", "password"])
def test_credential_parameters_are_told_by_whole_words_of_their_name(name: str) -> None:
    assert credentials.looks_secret(name)


@pytest.mark.parametrize("name", ["keywords", "author", "design", "sort_key", "$skiptoken", "q", "signup"])
def test_ordinary_parameters_are_not_taken_for_credentials(name: str) -> None:
    assert not credentials.looks_secret(name)


def test_every_ordinary_parameter_of_api_url_is_part_of_the_source() -> None:
    python, golang = ({"apiUrl": f"https://api.test/jobs?keywords={q}&author=me&api_key=K1"} for q in ("py", "go"))
    assert ActorInput.model_validate(python).source() != ActorInput.model_validate(golang).source()


def next_url_style(api_url: str, **fields: object):
    actor_input = ActorInput.model_validate(
        {"apiUrl": api_url, "pagination": "nextUrl", "nextUrlPath": "next", **fields}
    )
    return pagination.style_for(actor_input, json_api.JsonApiSource(None, actor_input, None).secrets)


def test_a_next_url_keeps_what_the_server_put_in_it_and_loses_only_known_secrets() -> None:
    style = next_url_style("https://api.test/items?api_key=S3CRET&sort=id")
    body = {"next": "/items?$skiptoken=abc&page_token=xyz&continuationToken=q1&api_key=S3CRET&sort=id"}
    following = style.next(pagination.Position(), pagination.Response([1, 2], body, {}))
    assert following.cursor == "https://api.test/items?$skiptoken=abc&page_token=xyz&continuationToken=q1&sort=id"
    assert style.url(following) == following.cursor + "&api_key=S3CRET"  # fetched with apiUrl's credentials


def test_credentials_go_only_to_api_urls_origin_unless_the_input_allows_another() -> None:
    style = next_url_style("https://api.test/items?api_key=S3CRET")
    elsewhere = pagination.Position(offset=2, cursor="https://cdn.other.test/items?page=2")
    assert style.url(elsewhere) == "https://cdn.other.test/items?page=2"
    assert not style.secrets.may_receive("https://cdn.other.test/items")
    assert not style.secrets.may_receive("http://api.test/items")  # another scheme is another origin
    allowed = next_url_style("https://api.test/items?api_key=S3CRET", credentialOrigins=["https://cdn.other.test"])
    assert allowed.url(elsewhere) == "https://cdn.other.test/items?page=2&api_key=S3CRET"


def test_secrets_are_hidden_in_text_and_left_out_of_saved_urls() -> None:
    secrets = credentials.Secrets("https://u:pa55word@api.test/items?api_key=k3y-v4lue&sort=id", ["Bearer t0k3n/x+y"])
    text = "GET https://api.test/items?api_key=k3y-v4lue with Bearer t0k3n/x+y (Bearer%20t0k3n%2Fx%2By), pa55word"
    assert secrets.hide(text) == "GET https://api.test/items?api_key=*** with *** (***), ***"
    assert credentials.without_secrets("https://u:p@api.test/items?page=2&access_token=abc&per_page=5") == (
        "https://api.test/items?page=2&per_page=5"
    )


def test_the_credential_of_an_authorization_scheme_is_a_secret_by_itself() -> None:
    values = ["Bearer t0k3n-a1", "Token t0k3n-b2", "Locale de-CH-1996", "Bearer ab"]
    secrets = credentials.Secrets("https://api.test/items", values)
    text = "t0k3n-a1 expired; t0k3n-b2 too; de-CH-1996 is no scheme's; item-ab is too short to hide"
    assert secrets.hide(text) == "*** expired; *** too; de-CH-1996 is no scheme's; item-ab is too short to hide"
    saved = secrets.strip("https://api.test/items?after=x&access_token=t0k3n-a1")  # noqa: B005 - not str.strip
    assert saved == "https://api.test/items?after=x"


def test_the_credential_after_any_scheme_of_a_header_named_for_a_credential_is_a_secret_by_itself() -> None:
    headers = {"Authorization": "SSWS t0k3n-o1", "Proxy-Authorization": "Negotiate t0k3n-p2", "X-Shop": "Main Store"}
    secrets = credentials.Secrets("https://api.test/items", credentials.header_secrets(headers))
    text = "t0k3n-o1 expired; t0k3n-p2 too; Store is an ordinary header's word"
    assert secrets.hide(text) == "*** expired; *** too; Store is an ordinary header's word"


def test_items_lose_the_runs_credentials_and_keep_the_sources_own_data() -> None:
    secrets = credentials.Secrets("https://api.test/items?key=k1&sort=id", ["Bearer t0k3n-a1", "2"])
    item = {
        "self": "https://api.test/items?key=k1&sort=id&offset=0",  # apiUrl's credential, however short
        "caller": "Bearer t0k3n-a1",
        "image": "https://cdn.test/a.jpg?X-Amz-Signature=5f2e&token=abc",  # the source's own signed URL
        "tags": ["t0k3n-a1", "v2"],
        "count": 2,
    }
    assert secrets.hide_in(item) == {
        "self": "https://api.test/items?key=***&sort=id&offset=0",
        "caller": "***",
        "image": "https://cdn.test/a.jpg?X-Amz-Signature=5f2e&token=abc",
        "tags": ["***", "v2"],
        "count": 2,
    }


# Headers of every kind: ordinary ones (their values are data an item may hold too), ones named for a credential
# (Authorization's token after any scheme, X-Api-Key, the session cookie), and a long opaque one named for nothing.
REQUEST_HEADERS = {
    "Accept-Language": "en-US",
    "X-Shop-Id": "1234",
    "Accept": "application/vnd.shop.v2+json",
    "X-Api-Version": "2024-06-01.preview-23",
    "X-Api-Key": "k3y-v4lue",
    "Authorization": "SSWS t0k3n-o1",
    "Cookie": "theme=dark; sid=9f3ac2e1b7d04f6a8c5e2b1d3a7f9e0c",
    "X-Signer": "Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OQ",
}


def test_items_keep_ordinary_header_values_and_lose_only_credentials() -> None:
    """Ordinary header values that items hold as data stay there; messages and saved URLs still lose them."""
    secrets = credentials.Secrets.of_request("https://api.test/items", REQUEST_HEADERS, None)
    item = {
        "locale": "en-US",
        "sku": "SKU-12345",
        "format": "application/vnd.shop.v2+json",
        "release": "2024-06-01.preview-23",
        "theme": "dark",
        "caller": "SSWS t0k3n-o1",
        "echo": {"key": "k3y-v4lue", "token": "t0k3n-o1", "signer": "Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OQ"},
        "session": "sid=9f3ac2e1b7d04f6a8c5e2b1d3a7f9e0c",
    }
    assert secrets.hide_in(item) == {
        "locale": "en-US",
        "sku": "SKU-12345",
        "format": "application/vnd.shop.v2+json",
        "release": "2024-06-01.preview-23",
        "theme": "dark",
        "caller": "***",
        "echo": {"key": "***", "token": "***", "signer": "***"},
        "session": "sid=***",
    }
    shown = secrets.hide("en-US SKU-12345 application/vnd.shop.v2+json 2024-06-01.preview-23 dark")
    assert shown == "*** SKU-***5 *** *** dark"  # every header value of 4 characters or more, as before
    saved = secrets.strip("https://api.test/items?after=x&shop=1234")  # noqa: B005 - not str.strip
    assert saved == "https://api.test/items?after=x"


def test_long_opaque_header_values_are_credentials_and_identifiers_versions_and_media_types_are_not() -> None:
    assert credentials.header_credentials({"X-Signer": "Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OQ"}) == [
        "Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OQ"
    ]
    ordinary = {
        "X-Tenant-Id": "3f2a9c1e-7b4d-4e8a-9c2f-1a2b3c4d5e6f",  # an identifier: data the items hold
        "X-Api-Version": "2024-06-01.preview-23",
        "Accept": "application/vnd.github.v3+json",
        "Content-Type": "application/json;charset=utf-8",
        "User-Agent": "python-requests/2.31.0",
        "X-Shop": "main-store-with-a-long-name",  # no digit: a name, not a token
        "X-Account": "123456789012345678901234",  # digits only: a number, not a token
        "X-Note": "a sentence of twenty or more characters",
    }
    assert credentials.header_credentials(ordinary) == []


# A token with characters that URLs escape, as items may echo it: raw, Python's `quote` (which keeps `/`), with no
# safe character, `quote_plus`, JavaScript's encodeURIComponent, and any of them with lower-case escapes.
ENCODED_TOKEN = "ab/cd+ef== x"


@pytest.mark.parametrize(
    "written",
    [
        ENCODED_TOKEN,
        quote(ENCODED_TOKEN),
        quote(ENCODED_TOKEN, safe=""),
        quote_plus(ENCODED_TOKEN),
        quote_plus(ENCODED_TOKEN, safe="/"),
        quote(ENCODED_TOKEN, safe="").lower(),
        quote(ENCODED_TOKEN).replace("%2B", "%2b"),
        quote(ENCODED_TOKEN, safe="~()*!.'"),
    ],
)
def test_a_known_secret_is_hidden_however_a_url_encodes_it(written: str) -> None:
    secrets = credentials.Secrets("https://api.test/items", [ENCODED_TOKEN])
    url = f"https://api.test/items?t={written}&page=2"
    assert secrets.hide_in({"self": url}) == {"self": "https://api.test/items?t=***&page=2"}
    assert secrets.hide(f"GET {url}: 503") == "GET https://api.test/items?t=***&page=2: 503"


def test_retry_after_in_seconds_or_as_a_date_capped() -> None:
    in_30s = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert json_api._retry_after_secs("7") == 7
    assert 25 <= json_api._retry_after_secs(in_30s) <= 30
    assert json_api._retry_after_secs("86400") == json_api.BACKOFF_MAX_SECS
    assert json_api._retry_after_secs("soon") is None
    assert json_api._retry_after_secs(None) is None


@pytest.mark.parametrize("name", INPUT_SCHEMA["properties"])
def test_input_model_and_input_schema_agree_on_each_field(name: str) -> None:
    assert_model_matches_schema(ActorInput, INPUT_SCHEMA, name)


def test_input_with_unknown_fields_is_accepted_and_wrong_types_are_not() -> None:
    ActorInput.model_validate({"apiUrl": "https://api.test/", "addedLater": True})
    with pytest.raises(ValidationError, match="pageSize"):
        ActorInput.model_validate({"apiUrl": "https://api.test/", "pageSize": 1.5})


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"offsetParam": "limit"}, "offsetParam and limitParam are both 'limit'"),
        ({"pagination": "page", "pageParam": "n", "limitParam": "n"}, "pageParam and limitParam are both 'n'"),
        ({"pagination": "cursor"}, "needs exactly one of cursorPath and cursorItemField"),
        ({"pagination": "cursor", "cursorPath": "a", "cursorItemField": "id"}, "exactly one of cursorPath and"),
        ({"pagination": "nextUrl"}, "needs nextUrlPath"),
        ({"pagination": "scroll"}, "pagination"),
        ({"pagination": "nextUrl", "nextUrlPath": "n", "requestBody": {}}, "requestBody cannot be used with pagin"),
        ({"pagination": "linkHeader", "requestBody": {"q": 1}}, "requestBody cannot be used with pagination 'li"),
        ({"requestBody": ["not", "an", "object"]}, "requestBody"),
        (
            {"pagination": "page", "pageParam": "variables.page", "requestBody": {"variables": "$vars"}},
            "pageParam 'variables.page' leads through requestBody.variables, a JSON str, not an object",
        ),
        ({"limitParam": "size.n", "requestBody": {"size": 10}}, "limitParam 'size.n' leads through requestBody.size"),
        (
            {"pagination": "page", "pageParam": "page", "limitParam": "page.size", "requestBody": {}},
            "pageParam 'page' and limitParam 'page.size' are places in requestBody where one holds the other",
        ),
        ({"offsetParam": "q.from", "limitParam": "q", "requestBody": {}}, "offsetParam 'q.from' and limitParam 'q'"),
        (
            {"pagination": "cursor", "cursorPath": "c", "cursorParam": "a", "limitParam": "a.n", "requestBody": {}},
            "cursorParam 'a' and limitParam 'a.n' are places in requestBody where one holds the other",
        ),
        ({"limitParam": "size", "requestBody": {"size": {"n": 9}}}, "limitParam 'size' would replace requestBody.si"),
        ({"oauth2TokenUrl": "https://auth.test/token", "oauth2ClientId": "c"}, "OAuth2 needs all of"),
        ({"oauth2ClientId": "c", "oauth2ClientSecret": "s3cret"}, "OAuth2 needs all of"),
        (
            {"oauth2TokenUrl": "https://a.test/t", "oauth2ClientId": "c", "oauth2ClientSecret": "s", "parallelRuns": 2},
            "parallelRuns > 1 cannot be used with OAuth2",
        ),
    ],
)
def test_pagination_that_cannot_work_is_refused_naming_the_fields(fields: dict, named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        ActorInput.model_validate({"apiUrl": "https://api.test/", **fields})


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"apiUrl": "http://[::1/items"}, "apiUrl", "not a valid http(s) URL: invalid IPv6 address"),
        ({"apiUrl": "http://api.test:99999/items"}, "apiUrl", "not a valid http(s) URL: invalid port number"),
        ({"apiUrl": "http:///items"}, "apiUrl", "the URL has no host"),
        ({"apiUrl": "http://api.test:0/items"}, "apiUrl", "port is 0"),
        ({"apiUrl": "http://api.test\\@other.test/items"}, "apiUrl", "URL parsers read the URL's host differently"),
        ({"apiUrl": "http://%61pi.test/items"}, "apiUrl", "URL parsers read the URL's host differently"),
        ({"credentialOrigins": ["https://cdn.test", "https://[::1"]}, "credentialOrigins.1", "invalid IPv6 address"),
        ({"credentialOrigins": ["cdn.test"]}, "credentialOrigins.0", "relative URL without a base"),
        (
            {"oauth2TokenUrl": "https://auth.test:70000/t", "oauth2ClientId": "c", "oauth2ClientSecret": "s"},
            "oauth2TokenUrl",
            "invalid port number",
        ),
        ({"headers": {"X-Key": "k-1\r\nX-Other: 1"}}, "headers", "header 'X-Key' holds a line break or another"),
        ({"headers": {"X-Key": "k-1\x00"}}, "headers", "header 'X-Key' holds a line break or another control"),
        ({"headers": {"X Key": "k-1"}}, "headers", "'X Key' is not a header name"),
        ({"headers": {"X-Key:": "k-1"}}, "headers", "'X-Key:' is not a header name"),
    ],
)
def test_a_malformed_url_or_header_is_refused_naming_its_field(fields: dict, field: str, problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ActorInput.model_validate({"apiUrl": "https://api.test/items", **fields})
    ((loc, message),) = [(".".join(map(str, error["loc"])), error["msg"]) for error in refused.value.errors()]
    assert loc == field
    assert problem in message
    assert "k-1" not in message


def test_well_formed_urls_headers_and_body_places_are_accepted_as_written() -> None:
    for url in ("http://127.0.0.1:9/items", "https://Bücher.test/a%20b?q=1,2&flag", "http://[::1]:8080/items"):
        accepted = ActorInput.model_validate({"apiUrl": url, "credentialOrigins": [url], "oauth2TokenUrl": ""})
        assert (accepted.api_url, accepted.credential_origins) == (url, [url])
    headers = {"X-Api-Key": "k-1", "Accept-Language": "de, en;q=0.5", "X-Tab": "a\tb", "X-Name": "Müller"}
    assert ActorInput.model_validate({"apiUrl": "https://api.test/", "headers": headers}).headers == headers
    composite = {"aggs": {"c": {"composite": {"size": 10, "after": {"k": None}}}}}  # a cursor may replace an object
    cursor = {"pagination": "cursor", "cursorPath": "aggregations.c.after_key", "requestBody": composite}
    places = {"cursorParam": "aggs.c.composite.after", "limitParam": "aggs.c.composite.size"}
    ActorInput.model_validate({"apiUrl": "https://api.test/_search", **cursor, **places})


def test_the_source_fingerprint_ignores_credentials_and_what_may_change() -> None:
    base = {"apiUrl": "https://api.test/items?token=one&sort=id", "pageSize": 10, "maxItems": 5}
    same = {"apiUrl": "https://api.test/items?token=two&sort=id", "pageSize": 50, "prefetchPages": 9}
    assert ActorInput.model_validate(base).source() == ActorInput.model_validate(same).source()
    other = {"apiUrl": "https://api.test/items?token=one&sort=name"}
    assert ActorInput.model_validate(base).source() != ActorInput.model_validate(other).source()


def test_the_source_fingerprint_holds_the_body_without_secret_values_nor_oauth2_credentials() -> None:
    body = {"query": "{ items }", "variables": {"org": "apify", "apiKey": "k-1"}}
    oauth2 = {"oauth2TokenUrl": "https://auth.test/token", "oauth2ClientId": "c", "oauth2ClientSecret": "one"}
    base = ActorInput.model_validate({"apiUrl": "https://api.test/graphql", "requestBody": body, **oauth2})
    assert base.source()["requestBody"] == {"query": "{ items }", "variables": {"org": "apify"}}
    rotated = {"requestBody": {**body, "variables": {"org": "apify", "apiKey": "k-2"}}, "oauth2ClientSecret": "two"}
    assert ActorInput.model_validate({**base.model_dump(by_alias=True), **rotated}).source() == base.source()
    other = {"requestBody": {**body, "variables": {"org": "crawlee"}}}
    assert ActorInput.model_validate({**base.model_dump(by_alias=True), **other}).source() != base.source()
    assert "requestBody" not in ActorInput.model_validate({"apiUrl": "https://api.test/items"}).source()


def test_positions_are_written_into_the_body_with_their_json_types() -> None:
    relay = ActorInput.model_validate(
        {
            "apiUrl": "https://api.test/graphql",
            "pagination": "cursor",
            "requestBody": {"query": "q", "variables": {"after": None}},
            "cursorParam": "variables.after",
            "limitParam": "variables.first",
            "cursorItemField": "sort",
            "pageSize": 50,
        }
    )
    style, Position = pagination.style_for(relay, credentials.Secrets(relay.api_url, [])), state_record.Position
    assert style.url(Position()) == "https://api.test/graphql"
    assert style.body(Position()) == {"query": "q", "variables": {"after": None, "first": 50}}
    page = pagination.Response([{"sort": [7, "b"]}], None, {})
    following = style.next(Position(), page)
    assert style.body(following) == {"query": "q", "variables": {"after": [7, "b"], "first": 50}}
    assert relay.request_body == {"query": "q", "variables": {"after": None}}  # the input itself is unchanged


@pytest.mark.parametrize("lifetime_secs", [100.0, 1e-9])
def test_an_oauth2_token_is_kept_until_its_renewal_time_and_renewed_once_when_refused(lifetime_secs: float) -> None:
    """The local token endpoint says a token lives `lifetime_secs`: 100 s, or less than the next call is away."""

    async def tokens(source: PaginatedSource) -> list[str]:
        actor_input = ActorInput.model_validate(source.input_for())
        secrets = credentials.Secrets(actor_input.api_url, [])
        async with ImpitHttpClient() as http:
            auth = json_api.OAuth2ClientCredentials(http, actor_input, secrets)
            first, again = await auth.token(), await auth.token()
            await asyncio.gather(auth.refused(again), auth.refused(again))  # two pages refused with one token
            renewed = await auth.token()
        assert secrets.hide(f"{OAUTH2_SECRET} {first} {renewed}") == "*** *** ***"
        return [first, again, renewed]

    with PaginatedSource(total=0, token_lifetime_secs=lifetime_secs / 1.5) as source:
        first, again, renewed = asyncio.run(tokens(source))
        issued = list(source.tokens)
    lasting = lifetime_secs == 100.0
    assert (first == again) is lasting
    assert renewed not in (first, again)
    # Lasting: one token, and one more for the refusal (not two). Expiring: each call asks for a new one.
    assert len(issued) == (2 if lasting else 4)


def test_a_token_url_answering_404_fails_rather_than_ending_the_data() -> None:
    async def ask(actor_input: Any) -> None:
        async with ImpitHttpClient() as http:
            secrets = credentials.Secrets(actor_input.api_url, [])
            await json_api.OAuth2ClientCredentials(http, actor_input, secrets).token()

    with PaginatedSource(total=0, token_lifetime_secs=1) as source:
        actor_input = ActorInput.model_validate(source.input_for(oauth2TokenUrl=f"{source.url}/nowhere"))
        with pytest.raises(json_api.SourceError, match="nowhere answered HTTP 404") as raised:
            asyncio.run(ask(actor_input))
    assert not isinstance(raised.value, json_api.GoneError)  # which a later page would take for the end


def test_non_object_items_are_named_by_their_source_offset() -> None:
    with pytest.raises(ledger.StateError, match="The item at source offset 42 is a JSON int"):
        ledger.outputs([{"a": 1}, {"a": 2}, 7], lambda item: item, lambda n: f"item at source offset {40 + n}")


def fake_pages(log: list[str], delays: dict[str, float]):
    async def fetch(url: str, _first: bool) -> pagination.Response:
        log.append(f"start {url}")
        try:
            await asyncio.sleep(delays.get(url, 0.01))
        except asyncio.CancelledError:
            log.append(f"cancelled {url}")
            raise
        log.append(f"done {url}")
        return pagination.Response([url], None, {})

    return fetch


def test_pages_ahead_hands_out_pages_in_order_with_the_ones_named_in_flight() -> None:
    log: list[str] = []
    urls = [f"p{n}" for n in range(8)]

    async def read() -> list[list[str]]:
        pages = json_api.PagesAhead(fake_pages(log, {url: 0.05 - n / 200 for n, url in enumerate(urls)}))
        try:
            return [(await pages.get(urls[n : n + 4])).items for n in range(len(urls))]
        finally:
            await pages.close()

    assert asyncio.run(read()) == [[url] for url in urls]
    assert log[:4] == ["start p0", "start p1", "start p2", "start p3"]  # four in flight at once
    assert [line for line in log if line.startswith("done")] != [f"done {url}" for url in urls]  # finished out of order
    assert log.count("start p5") == 1  # each page fetched once


def test_closing_pages_ahead_cancels_what_is_still_in_flight() -> None:
    log: list[str] = []

    async def read_first_page() -> list[str]:
        pages = json_api.PagesAhead(fake_pages(log, {"a": 0, "b": 10, "c": 10}))
        try:
            return (await pages.get(["a", "b", "c"])).items
        finally:
            await pages.close()

    assert asyncio.run(read_first_page()) == ["a"]
    assert sorted(line for line in log if line.startswith("cancelled")) == ["cancelled b", "cancelled c"]


TRANSFORM_MODULE = """
import re

KINDS = {"book", "film", "game"}
SCALE = 2


def _label(name, suffix="!"):
    return name.upper() + suffix


def transform(item):
    \"\"\"Docstrings and comments do not count.\"\"\"
    if item["kind"] not in KINDS:  # a set literal: its repr's order changes from process to process
        return None
    return {"label": _label(item["name"]), "size": item["size"] * SCALE, "ok": bool(re.match("a", item["name"]))}


def unrelated():
    return 1
"""


def identity_in_a_new_process(tmp_path, source: str, seed: str) -> str:
    (tmp_path / "user_transform.py").write_text(source)
    code = f"import sys; sys.path[:0] = [{str(tmp_path)!r}]; import {state_record.__name__} as r, user_transform as u; "
    code += "print(r.code_identity(u.transform))"
    env = {"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, check=False, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_transform_identity_is_the_same_in_every_process_and_follows_its_helpers(tmp_path) -> None:
    same = {identity_in_a_new_process(tmp_path, TRANSFORM_MODULE, seed) for seed in ("1", "2", "3", "4")}
    assert len(same) == 1  # string hash randomization does not change it
    unchanged = TRANSFORM_MODULE.replace("# a set literal", "# another comment").replace("def unrelated():", "def f():")
    assert identity_in_a_new_process(tmp_path, unchanged, "5") in same
    for change in (("SCALE = 2", "SCALE = 3"), ('suffix="!"', 'suffix="?"'), ('"game"}', '"toy"}')):
        assert identity_in_a_new_process(tmp_path, TRANSFORM_MODULE.replace(*change), "1") not in same, change


def test_read_back_items_compare_numbers_as_the_dataset_api_gives_them_back() -> None:
    big = 2**53 + 1  # JavaScript keeps the nearest double: 2**53
    assert ledger.same_item({"id": big, "price": 0.1, "n": [1, 2]}, {"id": 2**53, "price": 0.1, "n": [1.0, 2.0]})
    assert not ledger.same_item({"id": 7}, {"id": 8})
    assert not ledger.same_item({"id": True}, {"id": 1})


def test_a_worker_stripe_takes_every_nth_chunk_of_pages_from_where_it_is() -> None:
    scale_out = importlib.import_module(f"{package_name()}.engine.scale_out")
    chunks = importlib.import_module(f"{package_name()}.engine.scale_out_chunks")
    Position = state_record.Position
    part = scale_out.JobPart(coordinatorRunId="c", coordinatorStoreId="s", worker=1, workers=3, chunkPages=2)
    offsets = chunks.Stripe.of(part, ActorInput(apiUrl="https://api.test/items", pageSize=10))
    # Chunks of 2 pages of 10 items: worker 1 of 3 reads offsets 20-39, 80-99, 140-159, ...
    assert [offsets.onward(Position(offset=n)).offset for n in (0, 20, 35, 40, 100)] == [20, 20, 35, 80, 140]
    assert offsets.chunk_end(Position(offset=35)) == 40
    assert offsets.chunk_of(Position(offset=85)) == 4
    pages_input = ActorInput(apiUrl="https://api.test/items", pagination="page", firstPage=1, pageSize=10)
    pages = chunks.Stripe.of(part, pages_input)
    # Page numbers from 1: worker 1 reads pages 3-4, 9-10, ...; its first position skips pages 1 and 2.
    assert pages.onward(Position()) == Position(offset=0, cursor=3)
    assert pages.onward(Position(offset=40, cursor=5)).cursor == 9
    assert pages.onward(Position(offset=20, cursor=4)) == Position(offset=20, cursor=4)
    assert pages.chunk_end(Position(cursor=4)) is None


def test_parallel_runs_are_refused_for_styles_read_in_sequence_and_for_a_worker() -> None:
    for style, fields in (("cursor", {"cursorPath": "next"}), ("nextUrl", {"nextUrlPath": "n"}), ("linkHeader", {})):
        with pytest.raises(ValidationError, match=f"needs pagination 'offset' or 'page': with '{style}'"):
            ActorInput(apiUrl="https://api.test/items", pagination=style, parallelRuns=2, **fields)
    part = {"coordinatorRunId": "c", "coordinatorStoreId": "s", "worker": 0, "workers": 2}
    with pytest.raises(ValidationError, match="must have parallelRuns 1"):
        ActorInput(apiUrl="https://api.test/items", parallelRuns=2, partOfJob=part)
    assert ActorInput(apiUrl="https://api.test/items", parallelRuns=2).source()["parallelRuns"] == 2
