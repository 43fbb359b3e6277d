"""The Actor's parts on their own: page URLs, item paths, Retry-After, and the input model against the
input schema that Apify Console shows (the two must describe the same input)."""

from __future__ import annotations

import asyncio
import importlib
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from harness import PROJECT_ROOT, package_name
from pydantic import ValidationError

json_api = importlib.import_module(f"{package_name()}.json_api")
actor_main = importlib.import_module(f"{package_name()}.main")
INPUT_SCHEMA = json.loads((PROJECT_ROOT / ".actor" / "input_schema.json").read_text())


@pytest.mark.parametrize(
    ("api_url", "expected"),
    [
        ("https://api.test/items", "https://api.test/items?offset=40&limit=20"),
        ("https://api.test/items?key=a%20b&offset=3", "https://api.test/items?key=a+b&offset=40&limit=20"),
        ("https://api.test/v1/items?sort=id#top", "https://api.test/v1/items?sort=id&offset=40&limit=20#top"),
    ],
)
def test_page_url_merges_with_the_query_already_there(api_url: str, expected: str) -> None:
    assert json_api.page_url(api_url, {"offset": 40, "limit": 20}) == expected


def test_items_at_follows_a_dotted_path() -> None:
    assert json_api.items_at({"data": {"items": [1, 2]}}, "data.items") == [1, 2]
    assert json_api.items_at([3], "") == [3]


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
    with pytest.raises(json_api.SourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        json_api.items_at(body, path)


def test_retry_after_in_seconds_or_as_a_date_capped() -> None:
    in_30s = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert json_api._retry_after_secs("7") == 7
    assert 25 <= json_api._retry_after_secs(in_30s) <= 30
    assert json_api._retry_after_secs("86400") == json_api.BACKOFF_MAX_SECS
    assert json_api._retry_after_secs("soon") is None
    assert json_api._retry_after_secs(None) is None


@pytest.mark.parametrize("name", INPUT_SCHEMA["properties"])
def test_input_model_and_input_schema_agree_on_each_field(name: str) -> None:
    model = actor_main.ActorInput.model_json_schema(by_alias=True)
    assert set(model["properties"]) == set(INPUT_SCHEMA["properties"])
    assert set(model["required"]) == set(INPUT_SCHEMA["required"])
    spec, field = INPUT_SCHEMA["properties"][name], model["properties"][name]
    if "type" in field:  # an optional field is anyOf [its type, null]
        assert field["type"] == spec["type"]
    for rule in ("default", "minimum", "maximum", "minLength", "pattern"):
        assert field.get(rule) == spec.get(rule), rule


def test_input_with_unknown_fields_is_accepted_and_wrong_types_are_not() -> None:
    actor_main.ActorInput.model_validate({"apiUrl": "https://api.test/", "addedLater": True})
    with pytest.raises(ValidationError, match="pageSize"):
        actor_main.ActorInput.model_validate({"apiUrl": "https://api.test/", "pageSize": 1.5})


def test_pages_ahead_hands_out_pages_in_order_with_a_bounded_number_in_flight() -> None:
    in_flight, peak, finished = 0, 0, []

    async def fetch(offset: int) -> list[int]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05 - offset / 4000)  # later pages answer sooner
        in_flight -= 1
        finished.append(offset)
        return [offset]

    async def read() -> list[list[int]]:
        async with json_api.PagesAhead(fetch, page_size=10) as pages:
            return [await pages.get(offset, ahead=4) for offset in range(0, 120, 10)]

    assert asyncio.run(read()) == [[offset] for offset in range(0, 120, 10)]
    assert peak == 4
    assert finished != sorted(finished)


def test_leaving_pages_ahead_cancels_what_is_still_in_flight() -> None:
    cancelled = []

    async def fetch(offset: int) -> list[int]:
        try:
            await asyncio.sleep(0 if offset == 0 else 10)
        except asyncio.CancelledError:
            cancelled.append(offset)
            raise
        return [offset]

    async def read_first_page() -> list[int]:
        async with json_api.PagesAhead(fetch, page_size=10) as pages:
            return await pages.get(0, ahead=5)

    assert asyncio.run(read_first_page()) == [0]
    assert sorted(cancelled) == [10, 20, 30, 40]
