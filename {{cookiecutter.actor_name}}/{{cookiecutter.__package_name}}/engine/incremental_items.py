"""Incremental JSON jobs (incremental.py): which source items are new for a pass, the highest value read, and what a
new run does with a pass an earlier run left half-done.

A pass left half-done (a limit, a kill) is read again from its start by the next run, which skips the items the job
already has from it: going on past the highest value read would lose the items not read yet that are below it
(a source not served in the order of the field: 10, 50, 20, ...), and going on at an offset would lose or repeat
those that moved in the list since (new items at the top of a newest-first source). Which items the job has is
told by what the transform makes of them (deterministic, as the ledger requires), counted: the job's dataset holds
the pass's items, not the source's keys.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime
import email.utils
import json
import re
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from apify import Actor

from . import ledger
from .incremental import to_the_pass_start

if TYPE_CHECKING:
    from .resumable import ResumableRun, Transform

HELD_BATCH = 1000  # items of the job's dataset read at once (a pass read again: what the job has of it)
# An RFC 3339 / ISO 8601 date or timestamp: a fraction of any length (Go trims its zeros), any offset, or none.
TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)


# A date written day or month first ("12/31/2023", "01.05.2024 10:00"): its text sorts neither by year nor one way.
UNSORTED_DATE = re.compile(r"\d{1,2}([/.])\d{1,2}\1\d{2,4}(?:[T ,]+\d{1,2}:\d{2}.*)?")


class NewItems:
    """Which source items of a JSON API are new for this pass (past its `from` value, or at it and not among its
    `ties`), and the highest value read past, kept in the job's state for the next pass."""

    def __init__(self, run: ResumableRun, actor_input: Any) -> None:
        self._job = run.state["incremental"]
        self._field, self._primary_key = actor_input.incremental_field, actor_input.primary_key
        self._param, start = actor_input.incremental_param, actor_input.incremental_start
        since = self._job["from"]
        self.since = since if since is not None or not start else start  # the first pass starts at incrementalStart
        self._ties = {_same_key(key) for key in self._job["ties"]} if since is not None else set()
        self._start_pushed = self._job["startPushed"]
        self._at_max = {_same_key(key) for key in self._job["atMax"]}
        self._held: Counter[bytes] = Counter()  # a pass read again: what the job has of it (fingerprints), to skip
        if run.offset or run.state["cursor"] is not None:  # going on in a pass: the same list must be read
            if self._job["param"] != self._param:
                raise ledger.StateError(
                    f"incrementalParam changed ({self._job['param']!r} to {self._param!r}) while a pass over the "
                    "source was under way: the saved position would point into another list. Restore it until "
                    "the pass has ended."
                )
        else:
            self._job["param"] = self._param

    @classmethod
    async def of(cls, run: ResumableRun, actor_input: Any) -> NewItems:
        """The new items of the pass `run` goes on in (read again from its start: the items the job has of it)."""
        new = cls(run, actor_input)
        if new._job["reread"]:
            dataset = run.dataset or await Actor.open_dataset()
            start = new._job["passStart"]
            while start < run.pushed:
                batch = (await dataset.get_data(offset=start, limit=min(HELD_BATCH, run.pushed - start))).items
                if not batch:
                    raise ledger.StateError(
                        "The job's dataset holds fewer items than its state record says: it was emptied or replaced."
                    )
                new._held.update(ledger.fingerprint(item) for item in batch)
                start += len(batch)
        return new

    def query(self) -> dict[str, str]:
        """The query parameter that asks the API for items at or after the pass's value (none in the first pass
        without incrementalStart)."""
        if not self._param or self.since is None:
            return {}
        return {self._param: self.since if isinstance(self.since, str) else json.dumps(self.since)}

    def max_items(self, max_items: int) -> int:
        """The limit on the job's items that is maxItems (0: none) for this run."""
        return self._start_pushed + max_items if max_items else 0

    def is_new(self, item: Any) -> bool:
        """Whether `item` is new for this pass (an item without a usable value or key stops the run at once,
        before anything of its page is pushed)."""
        value, key = self._value(item), self._key(item)
        if self.since is None:
            return True
        order = self._compare(value, self.since)
        return order > 0 or (order == 0 and key not in self._ties)

    def only_new(self, transform: Transform) -> Transform:
        """`transform` for the items that are new, None (dropped) for the others."""

        def new_items_only(item: Any) -> Any:
            output = transform(item) if self.is_new(item) else None
            if output is not None and self._held:
                fingerprint = ledger.fingerprint(output)
                if self._held[fingerprint] > 0:  # the job has it from this pass (read before it was left half-done)
                    self._held[fingerprint] -= 1
                    return None
            return output

        return new_items_only

    def marking(self, items: list[Any]) -> None:
        """Note the value and key of each item of the push about to be saved (its marker's): a new run that finds
        them landed counts them as read (restart_a_half_done_pass)."""
        self._job["marked"] = [[self._value(item), self._key(item)] for item in items]

    def read_past(self, items: list[Any]) -> None:
        """Note the items the run has read past (committed, or cut by a limit): the highest value among them, and
        whether they came in the order of their values."""
        job = self._job
        for item in items:
            if not self.is_new(item):
                continue
            value, key = self._as_since(self._value(item)), self._key(item)
            if job["last"] is not None and self._compare(value, job["last"]) < 0:
                job["ascending"] = False
            job["last"] = value
            order = 1 if job["max"] is None else self._compare(value, job["max"])
            if order > 0:
                job.update(max=value, atMax=[key])
                self._at_max = {key}
            elif order == 0 and key not in self._at_max:
                job["atMax"].append(key)
                self._at_max.add(key)
        job["marked"] = []

    def _value(self, item: Any) -> Any:
        value = _at(item, self._field)
        if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ledger.StateError(
                f"A source item's incrementalField {self._field!r} is {json.dumps(value)}, not a number or a string: "
                f"{_preview(item)}"
            )
        if isinstance(value, str) and UNSORTED_DATE.fullmatch(value.strip()):
            raise ledger.StateError(
                f"A source item's incrementalField {self._field!r} is the date {value!r}, written day or month first: "
                "such dates do not sort as text (nor is it known which comes first). Use a field with RFC 3339 "
                f"timestamps, RFC 2822 dates or numbers: {_preview(item)}"
            )
        return value

    def _key(self, item: Any) -> str:
        key = _at(item, self._primary_key)
        if key is None:
            raise ledger.StateError(f"A source item has no primaryKey {self._primary_key!r}: {_preview(item)}")
        return _same_key(json.dumps(key, sort_keys=True))

    def _compare(self, a: Any, b: Any) -> int:
        return _order(a, b, self._field)

    def _as_since(self, value: Any) -> Any:
        """`value`, or the pass's value as written when it is the same (an instant written otherwise): a pass
        whose highest value is its `from` keeps that value's ties."""
        return self.since if self.since is not None and self._compare(value, self.since) == 0 else value


def _order(a: Any, b: Any, field: str) -> int:
    """-1, 0 or 1 as `a` is below, at or above `b`: as numbers when either is one or both are numbers written
    as text (ids "9" and "10"; incrementalStart is text), as instants when both are RFC 3339 / ISO 8601 dates or
    timestamps ('10:00:00.1Z' before '10:00:00.15Z', as Go writes them), else as text."""
    if isinstance(a, str) and isinstance(b, str) and not (_number(a) is not None and _number(b) is not None):
        x, y = _instant(a), _instant(b)
        if x is not None and y is not None:
            return (x > y) - (x < y)
        return (a > b) - (a < b)
    x, y = _number(a), _number(b)
    if x is None or y is None:
        text = a if x is None else b
        raise ledger.StateError(
            f"incrementalField {field!r} holds numbers and the text {text!r}: values must be all numbers or all "
            "text (RFC 3339 timestamps compare as instants)"
        )
    return (x > y) - (x < y)


def _instant(text: str) -> tuple[int, Decimal] | None:
    """The instant a date or timestamp stands for (whole seconds since the epoch, and the fraction), or None;
    without an offset it is taken as UTC (a source writes all its values one way). RFC 3339 / ISO 8601, or RFC 2822
    (HTTP dates, Twitter's created_at: 'Wed May 01 10:00:00 +0000 2024')."""
    match = TIMESTAMP.fullmatch(text.strip())
    if match is None:
        parsed = email.utils.parsedate_tz(text)  # (needs a month's name: ids and other text are not dates)
        return None if parsed is None else (calendar.timegm(parsed[:6]) - (parsed[9] or 0), Decimal(0))
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=datetime.UTC
        )
    except ValueError:  # not a date (a leap second 60 is not one Python knows either)
        return None
    shift = 0
    if offset and offset not in "Zz":
        digits = offset[1:].replace(":", "")
        shift = (int(digits[:2]) * 60 + int(digits[2:] or 0)) * 60 * (1 if offset[0] == "+" else -1)
    return int(moment.timestamp()) - shift, Decimal(f"0.{fraction or 0}")


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value) if isinstance(value, str) and value.strip() else None
    except ValueError:
        return None


def restart_a_half_done_pass(run: ResumableRun) -> bool:
    """A pass an earlier run left half-done (or this run, before its restart, while reading it again): read it
    again from its start, the landed items of the last push counted in; NewItems skips the items the job has of
    it. Never a new pass: the items not read yet may be anywhere in the order of the values."""
    job = run.state["incremental"]
    if run.code_changed and run.pushed > job["passStart"]:  # (code_may_change: nothing of the last push pending)
        raise ledger.StateError(
            f"The transform changed (a new build) while pass {job['pass']} of the incremental job was half-done: the "
            f"job has {run.pushed - job['passStart']} items of it as the previous transform made them, and the pass is "
            "read again from its start skipping those, told by what the transform makes. Run the previous build once "
            "without maxItems to end the pass, then the new one."
        )
    _fold_in_the_landed(run)
    to_the_pass_start(run)
    job.update(reread=True, ascending=True, last=None, param="")
    Actor.log.info(
        f"Pass {job['pass']} was left half-done: this run reads it again from its start and skips the "
        f"{run.pushed - job['passStart']} items the job has of it (compared as transform makes them)."
    )
    return False


def _fold_in_the_landed(run: ResumableRun) -> None:
    """The items of the last push that landed (found by the restore) count as read: their values go into the
    pass's highest, and the marker is done with."""
    job, landed = run.state["incremental"], len(run.landed)
    for marked_value, key in job["marked"][:landed]:
        tied = job["from"] is not None and _order(marked_value, job["from"], "incrementalField") == 0
        value = job["from"] if tied else marked_value  # (as NewItems._as_since)
        order = 1 if job["max"] is None else _order(value, job["max"], "incrementalField")
        if order > 0:
            job.update(max=value, atMax=[key])
        elif order == 0 and key not in job["atMax"]:
            job["atMax"].append(key)
    run.state.update(pushed=run.pushed + landed, pending=0)
    run.landed = ledger.Landed([])


def _same_key(key: str) -> str:
    """A primary key as kept in the job (JSON), an integer id written as text the same as the number ("7" and 7:
    a source that turns to text for large ids serves the same items); keys the job kept before read alike."""
    with contextlib.suppress(ValueError):
        text = json.loads(key)
        if isinstance(text, str) and text.isascii() and text.lstrip("-").isdigit() and str(int(text)) == text:
            return text
    return key


def _at(item: Any, path: str) -> Any:
    for key in path.split("."):
        item = item.get(key) if isinstance(item, dict) else None
    return item


def _preview(item: Any) -> str:
    text = json.dumps(item, default=str)
    return text if len(text) <= 200 else f"{text[:200]}..."
