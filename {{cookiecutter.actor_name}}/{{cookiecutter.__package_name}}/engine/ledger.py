"""The dataset as the ledger of what a run has written: pushes made exactly once, and what landed read back.

A dataset has no idempotent push, and on the platform its item count lags a push by seconds; its items do not.
So a push that fails, or a restart after a crash mid-push, reads the items after the last count the state
record trusts (`pushed`) and compares them with what was being pushed: those that landed are skipped, the
rest pushed again. The API client's own blind retries are turned off for pushes: they would store a push
whose response was lost a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from apify import Actor

if TYPE_CHECKING:
    from apify.storages import Dataset

STATE_KEY = "APIFY_GLOBAL_STATE"  # the record Actor.use_state() keeps by default
# A push cut off by a crash or a failed request may still be landing on the platform: how long to watch the
# dataset settle before trusting what it holds (never waited for locally, where a push is all or nothing).
PUSH_SETTLE_SECS = 10.0
PUSH_ATTEMPTS = 5
PUSH_BACKOFF_SECS = 2.0  # before the 2nd attempt; doubled before each next one
# The platform's per-item event of pay-per-event Actors: pushes stop when the run's maximum charge is reached.
DATASET_ITEM_EVENT = "apify-default-dataset-item"


Outputs = list[tuple[int, Any]]  # (index of the source item, the dataset item made of it)


class StateError(Exception):
    """The state record or the dataset cannot be trusted: resuming would lose or duplicate items."""


def error_text(error: BaseException) -> str:
    """`Type: message` of an error, on one line (a message that cannot even be made, said so)."""
    try:
        said = str(error)
    except Exception:  # an exception whose __str__ fails
        said = "(its message cannot be shown)"
    return " ".join(f"{type(error).__name__}: {said}".split()) if said else type(error).__name__


class SourceError(Exception):
    """The source cannot be read on (a refused request, retries used up, a page that breaks the contract): the run
    ends with this one line, its state kept, and a new start goes on from the last checkpoint."""


def outputs(items: Sequence[Any], transform: Callable[[Any], Any], where: Callable[[int], str]) -> Outputs:
    """(index among `items`, dataset item) for each item the transform keeps; they must be objects."""
    kept = []
    for index, source_item in enumerate(items):
        item = transform(source_item)
        if item is None:
            continue
        if not isinstance(item, dict):
            raise StateError(
                f"The {where(index)} is a JSON {type(item).__name__}, not an object: dataset items must be "
                "objects. Make transform (or your handler) give dicts (or None to drop an item)."
            )
        kept.append((index, item))
    return kept


class Landed:
    """The items found in the dataset after `pushed` when the run started (a push cut off by the last run's
    end), to be skipped by the first commits, after checking that they are the very items being committed."""

    def __init__(self, items: list[Any], request: str | None = None) -> None:
        self.items = items
        self.request = request  # crawls: the request those items came from

    def __len__(self) -> int:
        return len(self.items)

    def skip(self, items: list[Any], what: str) -> int:
        """How many of `items` (the next ones to push) landed already; raises StateError when they differ."""
        skipped = min(len(self.items), len(items))
        if not all(same_item(item, landed) for item, landed in zip(items[:skipped], self.items, strict=False)):
            raise StateError(
                f"The dataset holds {len(self.items)} items after the last checkpoint that differ from what the "
                f"{what} gives now: the source or the transform changed. Nothing was written."
            )
        self.items = self.items[skipped:]
        if not self.items:
            self.request = None
        return skipped


async def push(items: list[Any], *, at: int, dataset: Dataset | None = None) -> int:
    """Push `items` exactly once as the items of the default dataset (or `dataset`) from index `at`; return how
    many landed (all of them, unless the run's maximum charge cut a push to the default dataset short). A failed
    push is read back before what did not land is pushed again. Raises StateError when the dataset holds what
    this run did not push, or pushing keeps failing."""
    confirmed = 0
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        try:
            with _dataset_client_retries_off(dataset or await Actor.open_dataset()):
                if dataset is not None:  # not the default dataset: no item is charged there
                    await dataset.push_data(items[confirmed:])
                    return len(items)
                result = await Actor.push_data(items[confirmed:])
            return confirmed + _landed_of_push(result, len(items) - confirmed)
        except Exception as error:
            if not _may_have_failed_in_transit(error):
                raise StateError(f"The dataset refused a push of {len(items) - confirmed} items: {error}") from error
            Actor.log.warning(f"Pushing {len(items) - confirmed} items failed ({error}); reading back what landed.")
            landed = await items_after(at + confirmed, len(items) - confirmed, settle=True, dataset=dataset)
            if not all(same_item(a, b) for a, b in zip(items[confirmed:], landed, strict=False)):
                raise StateError("The dataset holds items after the last checkpoint that this run did not push.") from (
                    error
                )
            confirmed += len(landed)
            if confirmed == len(items):
                return confirmed
            if attempt == PUSH_ATTEMPTS:
                raise StateError(f"Pushing to the dataset failed {attempt} times; last: {error}") from error
            await asyncio.sleep(PUSH_BACKOFF_SECS * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def _landed_of_push(result: Any, asked: int) -> int:
    """How many items of a push of `asked` landed, as the SDK says: under pay-per-event pricing with the
    dataset item event priced, the SDK pushes only what the run's maximum charge still allows."""
    if getattr(result, "event_charge_limit_reached", False) and _dataset_items_are_charged():
        return min(asked, result.charged_count)
    return asked


def _dataset_items_are_charged() -> bool:
    pricing = Actor.get_charging_manager().get_pricing_info()
    return DATASET_ITEM_EVENT in (pricing.per_event_prices or {})


def chargeable_items(dataset: Dataset | None = None) -> int | None:
    """How many more items of the default dataset the run's maximum total charge allows (None: no limit, as for
    the items of any other `dataset`)."""
    if dataset is not None:
        return None
    return Actor.get_charging_manager().calculate_max_event_charge_count_within_limit(DATASET_ITEM_EVENT)


def as_stored(item: Any) -> Any:
    """`item` as the dataset stores it: the SDK's storage clients (local files and the platform's) encode items
    with `json.dumps(..., default=str)`, so a date, a Decimal or a UUID is stored as its str()."""
    return json.loads(json.dumps(item, default=str))


def same_item(pushed: Any, stored: Any) -> bool:
    """Whether an item read back from the dataset is the one pushed. The dataset API is JavaScript: integers
    beyond 2**53 come back rounded to the nearest double, so numbers are compared as a double would hold them
    (and as canonical JSON, in which a NaN equals itself)."""
    return _canonical(as_stored(pushed)) == _canonical(stored)


def fingerprint(item: Any) -> bytes:
    """A digest of `item` as same_item compares it: equal for an item pushed and the same item read back."""
    return hashlib.blake2b(_canonical(as_stored(item)).encode(), digest_size=16).digest()


def _canonical(value: Any) -> str:
    return json.dumps(_as_double(value), sort_keys=True)


def _as_double(value: Any) -> Any:
    if isinstance(value, bool):
        return ("bool", value)  # not equal to the numbers 1 and 0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {key: _as_double(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_double(item) for item in value]
    return value


def _may_have_failed_in_transit(error: Exception) -> bool:
    """A failure that pushing again may cure (a lost connection, a timeout, 5xx or 429), not a refusal of the
    items themselves (not serializable, too large, or a 4xx from the API)."""
    if isinstance(error, ValueError | TypeError):
        return False
    status = getattr(error, "status_code", None)
    return status is None or status >= 500 or status == 429


async def check_push_retries_can_be_turned_off(dataset: Dataset | None = None) -> None:
    """At home, fail at start-up (not with a duplicate later) if the SDK no longer lets pushes go without
    the API client's own retries: the ledger relies on reading a failed push back instead."""
    if Actor.is_at_home() and _retrying_http_client(dataset or await Actor.open_dataset()) is None:
        raise StateError(
            "This version of the Apify SDK hides the API client's retry setting, which the exactly-once push "
            "turns off: pin apify to a version this template supports (see requirements)."
        )


def _retrying_http_client(dataset: Any) -> Any:
    """The HTTP client behind a dataset opened through the Apify API, which holds the retry setting."""
    http = getattr(getattr(getattr(dataset, "_client", None), "_api_client", None), "_http_client", None)
    return http if isinstance(getattr(http, "_max_retries", None), int) else None


@contextlib.contextmanager
def _dataset_client_retries_off(dataset: Any) -> Iterator[None]:
    """On the platform, push without the API client's own retries: they resend a push whose response was lost,
    and the dataset, which has no idempotency key, stores it twice. push() reads back and retries instead.
    (Reaches into the SDK's dataset client; check_push_retries_can_be_turned_off() fails loudly where it can't.
    Locally there is no HTTP client and nothing to turn off.)"""
    if not Actor.is_at_home():
        yield
        return
    http = _retrying_http_client(dataset)
    if http is None:
        raise StateError("Cannot turn off the API client's retries for a push: the Apify SDK changed.")
    saved, http._max_retries = http._max_retries, 0
    try:
        yield
    finally:
        http._max_retries = saved


async def items_after(pushed: int, expected: int, *, settle: bool, dataset: Dataset | None = None) -> list[Any]:
    """The items of the default dataset (or `dataset`) after the first `pushed` (at most `expected` of them,
    which a push under way may have added). With `settle`, on the platform, give a push cut off by a crash time
    to land first.

    Raises StateError when the dataset holds fewer than `pushed` items, or more than `expected` after them.
    """
    dataset = dataset or await Actor.open_dataset()
    deadline = time.monotonic() + (PUSH_SETTLE_SECS if settle and Actor.is_at_home() else 0)
    while True:
        start = max(0, pushed - 1)  # the last item already counted: it proves the dataset is this run's
        items = (await dataset.get_data(offset=start, limit=expected + 2)).items
        if not Actor.is_at_home():
            # Local storage: a push counts once the item count is written, after the item files; files past
            # the count are left over from a crash mid-push, and the next push writes over them.
            items = items[: max(0, (await dataset.get_metadata()).item_count - start)]
        if pushed and not items:
            raise StateError(
                f"The dataset holds fewer than the {pushed} items the state record {STATE_KEY} says were pushed: "
                "the record belongs to another dataset. Delete it, or restore the dataset."
            )
        after = items[1:] if pushed else items
        if len(after) > expected:
            raise StateError(
                f"The dataset holds more items than the state record {STATE_KEY} accounts for ({pushed} pushed, "
                f"{expected} pending): something else writes to it. Delete the record and empty the dataset."
            )
        if len(after) == expected or time.monotonic() >= deadline:
            return after
        await asyncio.sleep(0.5)
