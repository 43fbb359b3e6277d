"""The JSON kind's commit path: pages of a source read in order, committed in groups, exactly once.

Pages are handed over in source order as they are fetched; one commit at a time takes every page waiting, from
the checkpointed position on, as one group: one save of the state record (the position the group starts at,
`pushed`, and the marker: how many items the push adds), then one push of the group's items. Under load the
groups grow by themselves (on the platform a save and a push are HTTP round trips); with one page at a time it
is one save and one push a page. The position after a group is saved with the next group's marker, or by the
stop: a crash in between means the group's pages are fetched again, and the items that landed are read back
from the dataset, compared and skipped (ResumableRun.landed).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Protocol

from . import ledger
from .ledger import StateError
from .resumable import GroupCommits

if TYPE_CHECKING:
    from collections.abc import Callable

    from .resumable import ResumableRun
    from .state_record import Position, Transform


class SourcePage(Protocol):
    """A page as it is committed: its items (from the position's `skip` on), where it starts, where to go on."""

    items: list[Any]
    at: Position
    next: Position  # where the page after it starts
    is_last: bool
    # A worker of parallel runs: the chunk of the source the page is in (its items are tagged). Optional: a page of a
    # single run's source need not have it (a single run's path imports no scale-out code).
    chunk: int | None

    def after(self, used: int) -> Position: ...


Waiting = tuple["SourcePage", ledger.Outputs]  # a page, and the dataset items made of it
WAITING_PER_FETCHED_AHEAD = 4


class PageCommits(GroupCommits):
    """Commits the pages added to it, in groups, in the background; `async with` waits for the last group."""

    def __init__(
        self,
        run: ResumableRun,
        transform: Transform,
        max_items: int,
        *,
        fetched_ahead: int,
        read_past: Callable[[list[Any]], None] | None = None,
        marking: Callable[[list[Any]], None] | None = None,
    ) -> None:
        """`max_items`: the dataset's limit (0: none); `fetched_ahead`: how many pages are fetched at once;
        `read_past`: told the source items each commit moves the position past, before the move; `marking`: told
        the source items of the marker (what the push about to be saved adds), before the save."""
        super().__init__(run)
        self._transform, self._max_items, self._read_past = transform, max_items, read_past
        self._marking = marking
        # Pages fetched and not committed yet, at most: enough that fetching goes on at full depth while a group
        # is being committed (a save and a push: round trips on the platform), few enough to bound the memory.
        self._room = asyncio.Semaphore(WAITING_PER_FETCHED_AHEAD * max(1, fetched_ahead))
        self._added_outputs = 0  # dataset items of the pages added and not committed yet
        self.read_to_the_end = False  # the source's last page is committed whole

    async def __aenter__(self) -> PageCommits:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.committed()
        self._raise_if_failed()
        self._run.tell_if_over(self._max_items)

    @property
    def wants_more(self) -> bool:
        """Whether pages after those added are wanted: maxItems is not reached by what the added ones hold."""
        return not self._max_items or self._run.pushed + self._added_outputs < self._limit()

    def items_wanted(self) -> int | None:
        """How many more dataset items the pages still to be added may bring (None: no limit)."""
        return max(0, self._limit() - self._run.pushed - self._added_outputs) if self._max_items else None

    def _limit(self) -> int:
        """maxItems, or the items the dataset holds if more: the items of a push that landed before a restart with
        a lower maxItems stay (an item is never taken back), and the pages they came from are committed past."""
        return max(self._max_items, self._run.pushed + len(self._run.landed))

    async def add(self, page: SourcePage) -> None:
        """Hand over the next page in source order; waits while as many pages as allowed wait for their commit."""
        self._raise_if_failed()
        offset = page.at.offset
        outputs = ledger.outputs(page.items, self._transform, lambda index: f"item at source offset {offset + index}")
        if (chunk := getattr(page, "chunk", None)) is not None:
            from .scale_out_chunks import tag_chunk  # noqa: PLC0415 - scale-out only: a single run never imports it

            outputs = [(index, tag_chunk([item], chunk)[0]) for index, item in outputs]
        await self._room.acquire()
        self._added_outputs += len(outputs)
        self.hand_over((page, outputs))

    def _raise_if_failed(self) -> None:
        if (error := self.failure()) is not None:
            raise error

    def settle(self, group: list[Waiting]) -> None:
        self._added_outputs -= sum(len(outputs) for _page, outputs in group)
        for _ in group:
            self._room.release()

    async def commit_group(self, group: list[Waiting]) -> None:
        run = self._run
        if run.stopping:
            self.drop_waiting()  # pushed after the restart
            return
        if group[0][0].at != run.position:
            raise StateError(f"A page at {group[0][0].at} came for the position {run.position}: pages out of order.")
        left = max(0, self._limit() - run.pushed) if self._max_items else None  # items the dataset may still take
        skipped, batch, used = 0, [], 0  # landed before a restart; to push now; outputs used from the group's start
        marked: list[Any] = []  # the source items of the marker's items (those skipped, then the batch)
        for page, outputs in group:
            items = [item for _index, item in outputs]
            landed = run.landed.skip(items, f"page at offset {page.at.offset}")  # still `pending` in the state
            take = items[landed:] if left is None else items[landed : max(landed, left - used)]
            skipped, used = skipped + landed, used + landed + len(take)
            batch += take
            marked += [page.items[index] for index, _item in outputs[: landed + len(take)]]
            if len(take) < len(items) - landed:
                break  # maxItems reached within this page
        if (chargeable := ledger.chargeable_items(run.dataset)) is not None and chargeable < len(batch):
            batch, used = batch[:chargeable], used - (len(batch) - chargeable)
            run.stop_soon("charge limit")
        pushed = 0
        if batch:
            # The group's one save: the position it starts at, with the marker of its push.
            run.state["pending"] = skipped + len(batch)
            if self._marking is not None:
                self._marking(marked[: skipped + len(batch)])
            await run.persist()
            pushed = await ledger.push(batch, at=run.pushed + skipped, dataset=run.dataset)
            if pushed < len(batch):  # the SDK stopped at the run's maximum charge
                used -= len(batch) - pushed
                run.stop_soon("charge limit")
        # Position, count and marker move together, with no await between them. Landed items left over (the
        # pages are now smaller than when they were pushed) belong to the next pages: still pending.
        at, pages, last_whole, read = _position_after(group, used)
        if self._read_past is not None:
            self._read_past(read)
        # Cursors and next URLs of the pages read past (not page numbers, which only go forward; not the page the
        # run goes on in, which it reads again).
        read_past = [page.at.cursor for page, _outputs in group[:pages] if page.at.cursor != at.cursor]
        run.remember_cursors([cursor for cursor in read_past if isinstance(cursor, str)])
        run.state.update(asdict(at), pushed=run.pushed + skipped + pushed, pending=len(run.landed))
        run.state["pages"] += pages
        self.read_to_the_end = self.read_to_the_end or last_whole
        await run.report_progress()


def _position_after(group: list[Waiting], used: int) -> tuple[Position, int, bool, list[Any]]:
    """Where to go on after the first `used` dataset items of the group; how many pages that reached into;
    whether the source's last page was used whole; the source items read past."""
    at, pages, read = group[0][0].at, 0, []
    for page, outputs in group:
        if used < len(outputs):  # cut short: go on just after the last source item used
            end = outputs[used - 1][0] + 1 if used else 0
            return page.after(end), pages + (1 if used else 0), False, read + page.items[:end]
        used -= len(outputs)
        at, pages, read = page.after(len(page.items)), pages + 1, read + page.items
        if page.is_last:
            return at, pages, True, read
    return at, pages, False, read
