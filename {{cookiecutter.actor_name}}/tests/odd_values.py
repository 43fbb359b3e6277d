"""Transforms for the JSON kind's tests (run in place of main.transform through harness.TRANSFORM_VARIABLE):
`with_odd_values` gives values JSON cannot encode natively, which the SDK stores as their str(); `failing` has a
bug that shows at the item with id 45; `buggy`, the bug ODD_BUG names at the item with id 45 (without it the items
as served: a rerun goes on)."""

from __future__ import annotations

import datetime
import decimal
import json
import os
import sys
import uuid
from typing import Any


def with_odd_values(item: Any) -> Any:
    number = item["id"]
    day = datetime.date(2026, 1, 1) + datetime.timedelta(days=number)
    return {**item, "day": day, "price": decimal.Decimal(number) / 4, "key": uuid.UUID(int=number)}


def failing(item: Any) -> Any:
    return {**item, "ratio": 1 / (item["id"] - 45)}


class MessageThatFails(Exception):
    def __str__(self) -> str:
        raise RuntimeError("this message cannot be made")


def _exit() -> None:
    sys.exit(0)


def _interrupt() -> None:
    raise KeyboardInterrupt


def _message_on_lines() -> None:
    raise ValueError("first line\nsecond line\n  Traceback (most recent call last): a third")


def _message_that_fails() -> None:
    raise MessageThatFails


BUGS = {"exit": _exit, "interrupt": _interrupt, "lines": _message_on_lines, "message": _message_that_fails}


def buggy(item: Any) -> Any:
    if item["id"] == 45 and (bug := os.environ.get("ODD_BUG")):
        BUGS[bug]()
    return item


def stored(items: list[Any]) -> list[Any]:
    """Items as the dataset holds them: the SDK encodes them with `json.dumps(..., default=str)`."""
    return json.loads(json.dumps(items, default=str))
