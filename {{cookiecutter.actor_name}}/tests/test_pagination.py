"""Every pagination style end to end against the local source (GET and POST: GraphQL, search_after; behind OAuth2
client credentials): read completely, and exact through the crash window, a kill, a migration and an abort; a safe
end of data (page-size caps, totalPath, APIs that repeat or answer 404 past the end); GraphQL errors at HTTP 200;
APIs that would loop stopped at once; credentials that appear nowhere."""

from __future__ import annotations

import asyncio
import re
import signal
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from harness import OAUTH2_SECRET, STYLE_INPUTS, PaginatedSource, Storage, expected_items, run_actor
from platform_standin import PlatformStandIn

# Each style, and OAuth2 in front of one read page by page: tokens that the source refuses after 0.6 s, sooner
# than it tells the client (a run outlives several, and sees both renewals: before the expiry it knows, and on a 401).
# (0.2 s was shorter than a renewal and the request after it take beside two CPU hogs: every retry was refused.)
SHAPES: dict[str, dict[str, Any]] = {
    **{style: {"style": style} for style in STYLE_INPUTS},
    "oauth2": {"style": "cursor", "token_lifetime_secs": 0.6},
}
CRASH_ENTRY = "tests/crash_after_push.py"
CLIENT_IN_THE_FORM = {"style": "graphqlPage", "token_lifetime_secs": 0.25, "client_auth": "form"}


def killed_after_its_second_push_then_restarted(storage: Storage) -> Any:
    """The Actor killed right after its 2nd push (before the checkpoint after it), then run again: the restart."""
    crashed = run_actor(storage, entry=CRASH_ENTRY, CRASH_AFTER_PUSH="2", timeout=60)
    assert crashed.returncode == -signal.SIGKILL
    assert storage.state()["pending"]  # the 2nd push landed after the last checkpoint
    return run_actor(storage, timeout=60)


def log_of(storage: Storage) -> str:
    return (storage.root.parent / "actor.log").read_text(errors="replace")


def leaks(storage: Storage, platform: PlatformStandIn, secrets: list[str]) -> list[str]:
    """Where any of `secrets` appears: the run's log, a file it wrote, or what it told the platform."""
    written = {
        str(path): path.read_bytes().decode(errors="replace")
        for path in storage.root.rglob("*")
        if path.is_file() and path.name != "INPUT.json"  # the user's own input, not written by the run
    }
    places = {"the log": log_of(storage), **written, **{f"call {call}": repr(call.body) for call in platform.calls}}
    return [f"{secret!r} in {place}" for secret in secrets for place, text in places.items() if secret in text]


@pytest.mark.parametrize("shape", [*SHAPES, "oauth2Form"])
def test_each_style_reads_the_whole_source_in_order(storage: Storage, shape: str) -> None:
    with PaginatedSource(total=237, **SHAPES.get(shape, CLIENT_IN_THE_FORM)) as source:
        storage.write_input(source.input_for(pageSize=20))
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert storage.items() == expected_items(237, source.style)
    assert storage.progress()["finished"] is True
    assert sorted({start for start, _limit, status in source.requests if start < 237}) == list(range(0, 237, 20))


@pytest.mark.parametrize("shape", SHAPES)
def test_each_style_is_exact_through_the_crash_window_a_kill_a_migration_and_an_abort(
    storage: Storage, shape: str
) -> None:
    async def script(platform: PlatformStandIn) -> None:
        await platform.start(entry=CRASH_ENTRY, CRASH_AFTER_PUSH="2")  # killed right after its 2nd push
        assert await platform.wait_for_exit(within=60) == -signal.SIGKILL
        await platform.start()
        await platform.wait_for_items(storage.item_count() + 40)
        await platform.migrate()
        await platform.wait_for_items(storage.item_count() + 40)
        platform.kill()
        await platform.start()
        await platform.wait_for_items(storage.item_count() + 40)
        await platform.send("aborting")
        assert await platform.wait_for_exit(within=30) == 0
        await platform.start()  # resurrected
        assert await platform.wait_for_exit(within=120) == 0

    with PaginatedSource(total=700, latency_secs=0.05, **SHAPES[shape]) as source:
        storage.write_input(source.input_for(pageSize=20))

        async def play() -> PlatformStandIn:
            async with PlatformStandIn(storage) as platform:
                await script(platform)
                return platform

        platform = asyncio.run(play())
    assert len(platform.reboot_calls()) == 1
    assert storage.items() == expected_items(700, source.style)
    if source.token_lifetime_secs:
        assert len(source.tokens) >= 3  # the run outlived several (35 pages one after another: 1.75 s at least)
        assert source.refused_tokens  # some were refused before the client meant to renew them: renewed then
        assert not leaks(storage, platform, [OAUTH2_SECRET, *source.tokens])


@pytest.mark.parametrize(
    ("answers", "fields", "read"),
    [
        (["error", "error"], {}, True),  # transient: retried like a 5xx
        (["error"] * 3, {}, False),  # for good: the run fails with the server's message
        (["partial"] * 3, {}, False),  # data with errors fails the same way...
        (["partial"] * 3, {"acceptPartialData": True}, True),  # ...unless the input accepts partial data
    ],
)
def test_graphql_errors_at_http_200_are_failed_attempts(
    storage: Storage, answers: list[str], fields: dict[str, Any], read: bool
) -> None:
    with PaginatedSource(total=60, style="graphqlRelay", graphql_errors={20: list(answers)}) as source:
        storage.write_input(source.input_for(pageSize=20, maxRequestRetries=2, **fields))
        result = run_actor(storage, timeout=60)
    message = "note is deprecated" if answers[0] == "partial" else "items are not available right now"
    assert f"GraphQL error: {message}" in result.stdout  # the server's words, in the log
    if read:
        assert result.returncode == 0, result.stdout
        assert storage.items() == expected_items(60)
    else:
        assert result.returncode == 1
        assert f"failed 3 times; last: GraphQL error: {message}." in result.stdout
        assert storage.items() == expected_items(20)  # never taken for an empty page or the end


@pytest.mark.parametrize(
    ("answers", "fields", "read"),
    [
        (["cursorNull"], {}, True),  # once: the page is asked for again, and the run reads on
        (["cursorNull"] * 3, {}, False),  # every time: the run fails, never "Done" with the rest unread
        (["cursorFailed"], {"acceptPartialData": True}, True),  # endCursor's resolver failed: null, and an error
        (["cursorFailed"] * 3, {"acceptPartialData": True}, False),
    ],
)
def test_a_relay_page_that_has_a_next_page_but_no_cursor_is_asked_again_then_fails(
    storage: Storage, answers: list[str], fields: dict[str, Any], read: bool
) -> None:
    with PaginatedSource(total=60, style="graphqlRelay", graphql_errors={20: list(answers)}) as source:
        storage.write_input(source.input_for(pageSize=20, maxRequestRetries=2, **fields))
        result = run_actor(storage, timeout=60)
    if read:
        assert result.returncode == 0, result.stdout
        assert storage.items() == expected_items(60)
    else:
        assert result.returncode == 1, result.stdout
        (failure,) = [line for line in result.stdout.splitlines() if "failed 3 times" in line]
        assert "hasMorePath 'data.connection.pageInfo.hasNextPage' says there is more" in failure
        assert storage.items() == expected_items(20)  # the page without a cursor is not taken for the last one
        assert storage.progress()["finished"] is False
    assert [start for start, _limit, _status in source.requests].count(20) == len(answers) + read


def test_a_refused_oauth2_client_fails_the_run_with_the_servers_words_and_not_the_secret(storage: Storage) -> None:
    with PaginatedSource(total=60, token_lifetime_secs=10) as source:
        storage.write_input(source.input_for(oauth2ClientSecret=OAUTH2_SECRET + "-wrong"))
        result = run_actor(storage, timeout=60)
    assert result.returncode == 1
    assert "/token answered HTTP 401; this is not retried (invalid_client)." in result.stdout
    assert OAUTH2_SECRET not in result.stdout
    assert storage.item_count() == 0


@pytest.mark.parametrize("style", ["offset", "page"])
def test_an_api_that_caps_its_page_size_is_read_completely(storage: Storage, style: str) -> None:
    with PaginatedSource(total=250, style=style, max_page_size=30) as source:
        storage.write_input(source.input_for(pageSize=100))
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert storage.items() == expected_items(250)


def test_total_path_ends_the_data_without_a_confirming_request(storage: Storage) -> None:
    with PaginatedSource(total=100, items_path="data.items") as source:
        storage.write_input(source.input_for(pageSize=30, totalPath="total", prefetchPages=1))
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert storage.items() == expected_items(100)
    assert [start for start, _limit, _status in source.requests] == [0, 30, 60, 90]


def test_an_api_that_repeats_its_last_page_past_the_end_is_read_once(storage: Storage) -> None:
    with PaginatedSource(total=95, past_the_end="repeat") as source:
        storage.write_input(source.input_for(pageSize=20))
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert storage.items() == expected_items(95)


@pytest.mark.parametrize("status", ["404", "416"])
def test_404_or_416_for_the_position_after_a_full_page_ends_the_data_with_a_warning(
    storage: Storage, status: str
) -> None:
    with PaginatedSource(total=100, past_the_end=status) as source:
        storage.write_input(source.input_for(pageSize=20))
        result = run_actor(storage)
    assert result.returncode == 0, result.stdout
    assert storage.items() == expected_items(100)
    assert f"answered HTTP {status}. Taking that for the end of the data." in result.stdout


def test_404_for_the_first_page_fails_the_run(storage: Storage) -> None:
    with PaginatedSource(total=100) as source:
        storage.write_input(source.input_for(apiUrl=f"{source.url}/wrong"))
        result = run_actor(storage)
    assert result.returncode == 1
    assert "answered HTTP 404" in result.stdout
    assert storage.item_count() == 0


@pytest.mark.parametrize(
    ("style", "message"),
    [
        ("offset", "The API served the same full page for two positions"),
        ("page", "The API served the same full page for two positions"),
        ("cursor", "The API gave a cursor position it gave before"),
    ],
)
def test_an_api_that_ignores_the_position_is_stopped_at_once(storage: Storage, style: str, message: str) -> None:
    with PaginatedSource(total=100, style=style, ignore_position=True) as source:
        storage.write_input(source.input_for(pageSize=20, prefetchPages=1))
        result = run_actor(storage, timeout=60)
    assert result.returncode == 1
    assert message in result.stdout
    assert storage.items() == expected_items(20)  # the first page once, nothing more
    assert len(source.requests) <= 3


SECRET_HEADER = "Bearer SENTINEL-header-8d41c2"
SECRET_KEY = "SENTINEL-key-77f0a9"


def test_credentials_appear_nowhere_the_run_wrote_or_printed(storage: Storage) -> None:
    faults = {20: [503], 60: [500, 500]}  # a retry warning, then a failure that names the URL

    async def play() -> PlatformStandIn:
        async with PlatformStandIn(storage) as platform:
            await platform.start()
            assert await platform.wait_for_exit(within=60) == 1  # page 60 failed twice
            await platform.start()  # resurrected: goes on from page 60
            assert await platform.wait_for_exit(within=60) == 0
            return platform

    with PaginatedSource(
        total=150,
        style="linkHeader",
        faults=faults,
        retry_after="0",
        required_headers={"Authorization": SECRET_HEADER},
        required_query={"api_key": SECRET_KEY},
    ) as source:
        actor_input = source.input_for(
            apiUrl=f"{source.url}?api_key={SECRET_KEY}", headers={"Authorization": SECRET_HEADER}, pageSize=20
        )
        actor_input["maxRequestRetries"] = 1
        storage.write_input(actor_input)
        platform = asyncio.run(play())
    assert storage.items() == expected_items(150)
    assert sum(status == 200 for _start, _limit, status in source.requests) >= 8  # the credentials were sent
    printed = log_of(storage)
    assert "api_key=***: HTTP 503; retry 1 of 1" in printed
    failure = [message for _at, message, _terminal in platform.status_messages() if "failed 2 times" in message]
    assert failure
    assert "api_key=***" in failure[0]
    assert not leaks(storage, platform, ["SENTINEL-header", SECRET_KEY])


# Bearer, and schemes of other APIs' own (Okta's SSWS, DeepL's): the token after any scheme of an Authorization header
@pytest.mark.parametrize("scheme", ["Bearer", "SSWS", "DeepL-Auth-Key"])
def test_a_bearer_token_is_hidden_by_itself_in_next_urls_and_in_what_a_refusal_says(
    storage: Storage, scheme: str
) -> None:
    """`Authorization: Bearer <token>`, and next URLs that carry the token as `access_token` (Facebook's Graph API
    does so); the page at 40 is refused with a 401 whose body names the token. Then resurrected, to the end."""
    token = "SENTINEL-token-3e8a51"

    async def play() -> PlatformStandIn:
        async with PlatformStandIn(storage) as platform:
            await platform.start()
            assert await platform.wait_for_exit(within=60) == 1  # the 401 is not retried
            await platform.start()
            assert await platform.wait_for_exit(within=60) == 0
            return platform

    with PaginatedSource(
        total=60,
        style="nextUrl",
        required_headers={"Authorization": f"{scheme} {token}"},
        next_query={"access_token": token},
        faults={40: [401]},
        fault_description=f"the access token {token} has expired",
    ) as source:
        storage.write_input(source.input_for(headers={"Authorization": f"{scheme} {token}"}, pageSize=20))
        platform = asyncio.run(play())
    assert storage.items() == expected_items(60)
    refusal = [message for _at, message, _terminal in platform.status_messages() if "HTTP 401" in message]
    assert refusal
    assert "(injected fault: the access token *** has expired)" in refusal[0]
    assert not leaks(storage, platform, [token])


def test_credentials_that_items_echo_are_hidden_in_the_dataset_and_a_resume_stays_exact(storage: Storage) -> None:
    """Each item echoes the request: a HAL self link with the query (apiUrl's api_key) and a `caller` field (the
    Authorization header). Killed right after its 2nd push, then restarted: the landed items are compared with
    the page fetched again, both hidden alike. A short header value ("2") and ordinary fields are left alone."""
    headers = {"Authorization": SECRET_HEADER, "X-Api-Version": "2"}
    with PaginatedSource(total=100, echo_request=True, required_query={"api_key": SECRET_KEY}) as source:
        storage.write_input(
            source.input_for(apiUrl=f"{source.url}?api_key={SECRET_KEY}&sort=id", headers=headers, pageSize=20)
        )
        result = killed_after_its_second_push_then_restarted(storage)
    assert result.returncode == 0, result.stdout
    items = storage.items()
    assert [{"id": item["id"], "name": item["name"]} for item in items] == expected_items(100)
    assert {item["caller"] for item in items} == {"***"}
    assert items[1]["_links"]["self"]["href"] == f"{source.url}?api_key=***&sort=id&offset=0&limit=20"
    assert not [item for item in items if SECRET_KEY in str(item) or "SENTINEL-header" in str(item)]


ESCAPED_TOKEN = "SENTINEL/token+5c07d2=="  # characters a URL escapes
SHOP_HEADERS = {
    "Authorization": f"Bearer {ESCAPED_TOKEN}",
    "Accept": "application/json",
    "Accept-Language": "en-US",
    "X-Shop-Id": "1234",
}
SHOP_FIELDS = {"locale": "en-US", "sku": "SKU-12345", "format": "application/json"}  # data, like header values


@dataclass
class ShopSource(PaginatedSource):
    """Items whose own fields equal the values of ordinary request headers, and that echo the caller's token in
    URLs as Python's `quote` writes it (`/` left as is) and with lower-case escapes."""

    def page_items(self, start: int, limit: int, echo: dict[str, Any] | None = None) -> list[Any]:
        lower_case = re.sub("%[0-9A-F]{2}", lambda escape: escape[0].lower(), quote(ESCAPED_TOKEN, safe=""))
        urls = {"avatar": f"https://cdn.test/a.png?for={quote(ESCAPED_TOKEN)}", "next": f"/items?for={lower_case}"}
        return [item | SHOP_FIELDS | urls for item in super().page_items(start, limit, echo)]


def test_items_keep_data_that_equals_ordinary_header_values_and_lose_the_token_however_encoded(
    storage: Storage,
) -> None:
    """Headers `Accept: application/json`, `Accept-Language: en-US` and `X-Shop-Id: 1234`, and items with
    `"format": "application/json"`, `"locale": "en-US"` and `"sku": "SKU-12345"`: the items keep them. The token
    (Authorization) is hidden in the items however encoded. Killed right after its 2nd push, then restarted: the
    page read again is hidden as the landed items were."""
    source = ShopSource(total=60, echo_request=True, required_headers={"Authorization": SHOP_HEADERS["Authorization"]})
    with source:
        storage.write_input(source.input_for(headers=SHOP_HEADERS, pageSize=20))
        result = killed_after_its_second_push_then_restarted(storage)
    assert result.returncode == 0, result.stdout
    items = storage.items()
    assert [{"id": item["id"], "name": item["name"]} for item in items] == expected_items(60)
    shown = {(item["caller"], item["avatar"], item["next"]) for item in items}
    assert shown == {("***", "https://cdn.test/a.png?for=***", "/items?for=***")}
    assert [{name: item[name] for name in SHOP_FIELDS} for item in items] == [SHOP_FIELDS] * 60
    assert not [item for item in items if "SENTINEL" in str(item)]


@pytest.mark.parametrize("allowed", [False, True])
def test_credentials_go_to_another_origin_only_when_the_input_allows_it(storage: Storage, allowed: bool) -> None:
    """Next URLs name `localhost`, another origin than apiUrl's 127.0.0.1 (the same server, which asks for the
    credentials on every page)."""
    required = {"required_headers": {"Authorization": SECRET_HEADER}, "required_query": {"api_key": SECRET_KEY}}
    with PaginatedSource(total=60, style="nextUrl", next_host="localhost", **required) as source:
        other = [f"http://localhost:{source.url.split(':')[2].split('/')[0]}"] if allowed else []
        actor_input = source.input_for(
            apiUrl=f"{source.url}?api_key={SECRET_KEY}", headers={"Authorization": SECRET_HEADER}, pageSize=20
        )
        storage.write_input({**actor_input, "credentialOrigins": other})
        result = run_actor(storage, timeout=60)
    if allowed:
        assert result.returncode == 0, result.stdout
        assert storage.items() == expected_items(60)
    else:  # the second page's request went without them: refused by the server, and the run stops
        assert result.returncode == 1
        assert "answered HTTP 401" in result.stdout
        assert storage.items() == expected_items(20)


def test_a_cursor_cycle_longer_than_one_page_is_stopped_with_one_message(storage: Storage) -> None:
    """Cursors c20 -> c40 -> c60 -> c40: the page at c40 would come again, and again."""
    with PaginatedSource(total=200, style="cursor", cursor_loop={80: 40}) as source:
        storage.write_input(source.input_for(pageSize=20, maxItems=100))
        result = run_actor(storage, timeout=60)
    assert result.returncode == 1
    assert "The API gave a cursor position it gave before, after 60 items" in result.stdout
    assert storage.items() == expected_items(60)  # c60's page, whose next cursor repeats, is not saved


def test_a_cursor_cycle_back_past_a_restart_is_stopped_too(storage: Storage) -> None:
    """Killed right after the 3rd push (the page at c40); the restarted run goes on at c40, then c60, whose next
    cursor leads back to c20, read before the kill only."""
    with PaginatedSource(total=200, style="cursor", cursor_loop={80: 20}, latency_secs=0.2) as source:
        storage.write_input(source.input_for(pageSize=20, maxItems=150))
        crashed = run_actor(storage, entry="tests/crash_after_push.py", CRASH_AFTER_PUSH="3", timeout=60)
        assert crashed.returncode == -signal.SIGKILL
        result = run_actor(storage, timeout=60)
    assert result.returncode == 1
    assert "The API gave a cursor position it gave before, after 60 items" in result.stdout
    assert storage.items() == expected_items(60)  # the page at c20 is not read again
