"""A page-token source, as an SDK's list call gives one (Google's pageToken, boto3's ContinuationToken): each answer
names the next page with an opaque token."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

TOTAL, PAGE = 650, 40


class FakeSdk:
    """An SDK's list call: the items after a token, and the token of the next page (None after the last)."""

    async def list_items(self, page_token: str | None = None) -> dict[str, Any]:
        await asyncio.sleep(0)
        start = json.loads(base64.b64decode(page_token))["after"] if page_token else 0
        items = [{"key": f"obj-{n:05d}", "size": n * 7 % 1000} for n in range(start, min(start + PAGE, TOTAL))]
        following = start + PAGE
        token = base64.b64encode(json.dumps({"after": following}).encode()).decode() if following < TOTAL else None
        return {"items": items, "nextPageToken": token}


class Source:
    def __init__(self, actor_input: Any) -> None:
        self._sdk = FakeSdk()

    async def __aenter__(self) -> Source:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def read(self, position: Any) -> tuple[list[Any], Any]:
        answer = await self._sdk.list_items(page_token=position)
        return answer["items"], answer["nextPageToken"]
