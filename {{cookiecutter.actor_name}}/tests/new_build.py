"""A transform of a new build (run in place of main.transform through harness.TRANSFORM_VARIABLE): the items as
the Actor's own transform makes them, with a field added, as a new release of an Actor does between scheduled
runs."""

from __future__ import annotations

import importlib
from typing import Any

from harness import package_name

# (taken when this module is imported, before the entry point puts `with_a_new_field` in its place)
BUILT = importlib.import_module(f"{package_name()}.main").transform


def with_a_new_field(item: Any) -> Any:
    made = BUILT(item)
    return None if made is None else {**made, "newField": True}
