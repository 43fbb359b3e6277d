"""Any source a Python function can page through, as the engine's walk reads it.

The user's source answers `read(position)` with `(items, next_position)`. `SourcePages` turns those answers into
the engine's `Pages` (paged_run.py), which the walk hands to the commits, and keeps the state record free of the
source's secrets:

- a position is any JSON value; the state record keeps it as JSON text in `cursor` (None: the start), with
  `offset` counting the source items read before it and `skip` the items of its page already used. The page after
  the last one is the last one again, with all its items skipped: where an incremental job's next pass goes on
  (a keyset or append-only source then gives only its new rows);
- a position that carries a secret of the input is saved with a placeholder naming the field, filled in again with
  the input's value (a rotated password too) when it is read back;
- a `read` that raises is retried with backoff, then the run stops with one line (SourceError); at the position an
  incremental job's pass goes on from, the line says that this position must stay readable (a page token that
  expires fails every later run there); a position given twice (in this process, or before a restart) stops the
  run too; a `read` that blocks the event loop is warned about once (the platform's `migrating` is not heard
  meanwhile).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import random
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from apify import Actor

from .credentials import HIDDEN, Secrets, body_secrets
from .ledger import SourceError, StateError, error_text
from .state_record import Position, position_key
from .stops import being_cancelled

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable

READ_BACKOFF_SECS = 0.5  # before the 2nd attempt (full jitter), doubled before each next one
READ_BACKOFF_MAX_SECS = 60.0
BLOCKED_LOOP_SECS = 2.0  # a read that keeps the event loop this long is warned about
SECRET_PLACEHOLDER = "\u2063secret:{}\u2063"  # in a saved position, for the value of the input field it names
PLACEHOLDER = re.compile("\u2063secret:([^\u2063]*)\u2063")
PLACEHOLDER_IN_JSON = re.compile(r"\\u2063secret:[^\\\"]*\\u2063")  # as json.dumps writes one
# What a read that failed for good at the position an incremental job's pass goes on from means, and what to do.
GOING_ON_FAILED = (
    "This was the incremental job's going-on read: each pass goes on by reading again the position where the last "
    "pass ended, so if read() refuses that position for good, every later run fails here too. A position an "
    "incremental job goes on from must stay readable (a keyset: the last id or a timestamp filter, not a page token "
    "that expires). Start a new job (another datasetName), or make read() accept the saved position."
)


@runtime_checkable
class Source(Protocol):
    """The contract of a source (source.py): opened with `async with`, read page by page from position None."""

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, *exc: object) -> Any: ...

    async def read(self, position: Any) -> tuple[list[Any], Any]:
        """The items at `position` (None: the start), and the position of the next page (None: these were the last).
        The same position must give the same items (exactly once re-reads a page after a restart)."""
        ...


@dataclass(frozen=True)
class Page:
    """The items of one page from `at` on (its `skip` left out), and where to go on (page_commits.SourcePage)."""

    items: list[Any]
    at: Position
    next: Position
    is_last: bool

    def after(self, used: int) -> Position:
        """Where to go on after using the first `used` of `items`: the next page once all are used."""
        if used >= len(self.items):
            return self.next
        return Position(self.at.offset + used, self.at.cursor, self.at.skip + used)


class SourcePages:
    """The pages of a `Source` as the walk reads them (paged_run.Pages), one after the other."""

    def __init__(
        self,
        source: Source,
        secrets: Secrets,
        named_secrets: dict[str, str],
        *,
        retries: int,
        seen: Iterable[str],
        going_on_from: str | None = None,
    ) -> None:
        """`named_secrets`: the input's secret values by field name (placeholders in saved positions); `retries`:
        attempts after a failed read; `seen`: keys of the positions read past before a restart; `going_on_from`: the
        saved position (`cursor`) where an incremental job's last pass ended, which this pass reads again first."""
        self._source, self._secrets, self._named = source, secrets, named_secrets
        # Each secret value names its field; matched in one pass, longest first (no value is found inside a
        # placeholder put in for another: "secret" or "api" in "\u2063secret:apiKey\u2063").
        self._names_by_value: dict[str, str] = {}
        for name, value in named_secrets.items():
            self._names_by_value.setdefault(value, name)
        by_length = sorted(self._names_by_value, key=lambda value: (-len(value), value))
        self._named_values = re.compile("|".join(map(re.escape, by_length))) if by_length else None
        self._retries = retries
        self._seen = set(seen)
        self._going_on_from = going_on_from
        self._name = type(source).__qualname__

    async def page_at(self, at: Position, ahead: int = 1) -> Page:
        """The page at `at` (paged_run.Pages); read one at a time, each position coming from the page before, so
        `ahead` is not used."""
        going_on = at.cursor is not None and at.cursor == self._going_on_from
        items, following = await self._read(self.decode(at.cursor), going_on=going_on)
        if at.cursor is not None:
            self._seen.add(position_key(at.cursor))
        if at.skip > len(items):
            Actor.log.warning(
                f"{self._name}.read({self.shown(at.cursor)}) gave {len(items)} items where {at.skip} had been read "
                "before: the source lost items at a position already read (a stable source gives the same page)."
            )
        served = items[at.skip :]
        if following is None:  # the last page: going on means reading it again, past what was used
            after = Position(at.offset + len(served), at.cursor, at.skip + len(served))
            return Page(served, at, after, True)
        cursor = self.encode(following)
        if cursor == at.cursor or position_key(cursor) in self._seen:
            raise SourceError(
                f"{self._name}.read gave the position {self.shown(cursor)} again, after {at.offset + len(served)} "
                "items: the source would be read forever. Make read() return the position of the next page."
            )
        return Page(served, at, Position(at.offset + len(served), cursor, 0), False)

    async def _read(self, position: Any, *, going_on: bool = False) -> tuple[list[Any], Any]:
        """The source's answer at `position`, checked; a failed read retried with backoff, then SourceError (`going_on`:
        the read an incremental job's pass goes on with, at the position where its last pass ended)."""
        shown = self.shown(self.encode(position) if position is not None else None)
        hide = self._hiding(position)
        for attempt in range(self._retries + 1):
            try:
                answer = await self._timed_read(position)
            except SourceError:
                raise
            except (Exception, asyncio.CancelledError) as error:  # whatever the driver raises: retried, then one line
                if isinstance(error, asyncio.CancelledError) and being_cancelled():
                    raise  # the run stops (migrating, aborting): the read is cancelled, it did not fail
                failure = hide(error_text(error))
                if attempt == self._retries:
                    then = (
                        GOING_ON_FAILED if going_on else "The state is saved: a new start goes on from this position."
                    )
                    raise SourceError(
                        f"{self._name}.read({shown}) failed {attempt + 1} times; last: {failure}. {then}"
                    ) from None
                delay = random.uniform(0, min(READ_BACKOFF_MAX_SECS, READ_BACKOFF_SECS * 2**attempt))
                Actor.log.warning(
                    f"{self._name}.read({shown}) failed: {failure}; retry {attempt + 1} of {self._retries} in "
                    f"{delay:.1f} s"
                )
                await asyncio.sleep(delay)
                continue
            return self._checked(answer, shown)
        raise AssertionError("unreachable")

    async def _timed_read(self, position: Any) -> Any:
        """The read, each of its steps on the event loop timed: a read that blocks the loop (a synchronous driver
        called in place of `asyncio.to_thread`) delays the platform's `migrating`, and is warned about once."""
        reading = self._source.read(position)
        if not inspect.isawaitable(reading):
            raise SourceError(
                f"{self._name}.read returned a {type(reading).__name__}, not a coroutine: make it `async def read` "
                "(call a synchronous driver through asyncio.to_thread, see source.py)."
            )
        steps = StepTimes(reading)
        try:
            return await steps
        finally:
            if steps.longest >= BLOCKED_LOOP_SECS and self._name not in _WARNED:
                _WARNED.add(self._name)
                Actor.log.warning(
                    f"{self._name}.read blocked the event loop for {steps.longest:.1f} s: the platform's migrating and "
                    "aborting are not heard meanwhile. Call a synchronous driver through asyncio.to_thread (see "
                    "source.py)."
                )

    def _checked(self, answer: Any, shown: str) -> tuple[list[Any], Any]:
        wrong = None
        if not isinstance(answer, tuple | list):
            wrong = f"returned a {type(answer).__name__}"
        elif len(answer) != 2:
            wrong = f"returned {len(answer)} values"
        elif not isinstance(answer[0], list | tuple):
            wrong = f"returned items that are a {type(answer[0]).__name__}"
        if wrong:
            raise SourceError(
                f"{self._name}.read({shown}) {wrong}, not (items, next_position): a list of items and the position "
                "of the next page (None after the last)."
            )
        items, following = answer
        try:
            json.dumps(following)
        except (TypeError, ValueError) as error:
            raise SourceError(
                f"{self._name}.read({shown}) returned a next position that is not JSON ({error}): a position is "
                "saved in the state record; use numbers, text, lists or dicts of them."
            ) from None
        return list(items), following

    def encode(self, position: Any) -> str | None:
        """The position as the state record keeps it: JSON text, with the input's secrets as placeholders."""
        if position is None:
            return None
        as_json = json.loads(json.dumps(position))  # as a restart reads it back: keys as text, tuples as lists
        return json.dumps(_replace_strings(as_json, self._hide_named), sort_keys=True)

    def decode(self, cursor: str | None) -> Any:
        """The position a saved `cursor` stands for, the placeholders filled with the input's values."""
        if cursor is None:
            return None
        return _replace_strings(json.loads(cursor), self._fill_named)

    @staticmethod
    def check_cursor(cursor: Any) -> None:
        """StateError unless a state record's `cursor` is one `encode` writes (None, or JSON text of a position): a
        record changed by hand is refused before anything is written."""
        if cursor is None:
            return
        try:
            position = json.loads(cursor) if isinstance(cursor, str) else None
        except ValueError:
            position = None
        if position is None:
            raise StateError(
                f"The state record's position (cursor) is not one this source saved: a {type(cursor).__name__} that "
                "is no JSON text of a position (a record changed by hand?). Resuming from it could lose or duplicate "
                "items: fix or delete the record to start over."
            )

    def shown(self, cursor: str | None) -> str:
        """A position for people: its JSON text with every secret hidden (the input's, and the values of the fields
        named for a credential: a server's signed page token), cut short."""
        if cursor is None:
            return "None"
        text = PLACEHOLDER_IN_JSON.sub(HIDDEN, self._hiding(json.loads(cursor))(cursor))
        return text if len(text) <= 200 else f"{text[:200]}..."

    def _hiding(self, position: Any) -> Any:
        """What hides secrets in a message about `position`: the input's, and those of the position's own fields
        named for a credential (`accessToken`, `signature`), which its read may repeat in an error."""
        own = body_secrets(position)
        if not own:
            return self._secrets.hide
        position_secrets = Secrets("", own)
        return lambda text: position_secrets.hide(self._secrets.hide(text))

    def _hide_named(self, text: str) -> str:
        if self._named_values is None:
            return text
        return self._named_values.sub(lambda match: SECRET_PLACEHOLDER.format(self._names_by_value[match[0]]), text)

    def _fill_named(self, text: str) -> str:
        return PLACEHOLDER.sub(lambda match: self._named.get(match[1], match[0]), text)


def _replace_strings(value: Any, change: Any) -> Any:
    """`value` with `change` applied to every string in it (keys of objects too)."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {change(key): _replace_strings(item, change) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_replace_strings(item, change) for item in value]
    return value


class StepTimes:
    """Awaits an awaitable (a coroutine), timing each step it runs on the event loop (between two of its awaits):
    `longest`, the longest step."""

    def __init__(self, awaitable: Any) -> None:
        self._steps = awaitable.__await__()
        self.longest = 0.0

    def __await__(self) -> Generator[Any, Any, Any]:
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            started = time.monotonic()
            try:
                waiting = self._steps.throw(thrown) if thrown else self._steps.send(sent)
            except StopIteration as done:
                return done.value
            finally:
                self.longest = max(self.longest, time.monotonic() - started)
            try:
                sent, thrown = (yield waiting), None
            except BaseException as error:  # a cancellation: passed on to the read
                sent, thrown = None, error


_WARNED: set[str] = set()  # the sources whose blocking read was warned about (once a process)
