"""Transforms for the JSON kind's tests (run in place of main.transform through harness.TRANSFORM_VARIABLE):
`with_odd_values` gives values JSON cannot encode natively, which the SDK stores as their str(); `failing` has a
bug that shows at the item with id 45."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from typing import Any


def with_odd_values(item: Any) -> Any:
    number = item["id"]
    day = datetime.date(2026, 1, 1) + datetime.timedelta(days=number)
    return {**item, "day": day, "price": decimal.Decimal(number) / 4, "key": uuid.UUID(int=number)}


def failing(item: Any) -> Any:
    return {**item, "ratio": 1 / (item["id"] - 45)}


def stored(items: list[Any]) -> list[Any]:
    """Items as the dataset holds them: the SDK encodes them with `json.dumps(..., default=str)`."""
    return json.loads(json.dumps(items, default=str))
