"""Scale-out, the JSON kind's part (scale_out.py is the coordinator): a worker's stripe of the source, its items
tagged with their chunk, and the coordinator's merge of the chunks in source order.

The source (offset or page numbers) is cut into chunks of `chunkPages` pages; worker w of N reads the chunks w,
w+N, w+2N, ... (its stripe) and tags each item with its chunk. Chunks are merged in source order: chunk c is
complete once its worker has pushed an item of a later chunk, or has succeeded (its source ended). A worker that
succeeded says where it found the source's end (its state record's position, in chunk e): the merge never goes past
chunk e, and an item of a later chunk in any worker's dataset is a hole in the source (a page that answered 404 once
and was taken for the end): the job fails naming the chunk, with the items before the hole merged, never "Done".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .ledger import StateError
from .scale_out import DONE, ITEM_FIELD, READ_LIMIT, TAG_FIELD, JobPart, Merge, WorkerDataset, tag_of
from .state_record import Position

if TYPE_CHECKING:
    from .resumable import ResumableRun


@dataclass(frozen=True)
class Stripe:
    """The chunks of a positional source (offset or page numbers) one worker reads: w, w+N, w+2N, ..."""

    worker: int
    workers: int
    chunk_pages: int
    page_size: int
    first_page: int
    by_page_number: bool

    @classmethod
    def of(cls, part: JobPart, actor_input: Any) -> Stripe:
        return cls(
            part.worker,
            part.workers,
            part.chunk_pages,
            actor_input.page_size,
            actor_input.first_page,
            actor_input.pagination == "page",
        )

    def chunk_of(self, at: Position) -> int:
        if self.by_page_number:
            number = self.first_page if at.cursor is None else int(at.cursor)
            return (number - self.first_page) // self.chunk_pages
        return at.offset // (self.chunk_pages * self.page_size)

    def chunk_end(self, at: Position) -> int | None:
        """Offset paging: the offset where the chunk of `at` ends (a page is cut there); None for page numbers."""
        return None if self.by_page_number else (self.chunk_of(at) + 1) * self.chunk_pages * self.page_size

    def describe(self, chunk: int) -> str:
        """Chunk `chunk` for people: its items (offset paging) or its pages (page numbers)."""
        if self.by_page_number:
            first = self.first_page + chunk * self.chunk_pages
            return f"pages {first}-{first + self.chunk_pages - 1}"
        size = self.chunk_pages * self.page_size
        return f"items {chunk * size}-{(chunk + 1) * size - 1}"

    def onward(self, at: Position) -> Position:
        """`at` if it is in this worker's stripe, else the start of the worker's next chunk after it."""
        chunk = self.chunk_of(at)
        mine = chunk + (self.worker - chunk) % self.workers
        if mine == chunk:
            return at
        if self.by_page_number:
            return Position(offset=at.offset - at.skip, cursor=self.first_page + mine * self.chunk_pages)
        return Position(offset=mine * self.chunk_pages * self.page_size)


def tag_chunk(items: list[Any], chunk: int) -> list[Any]:
    """A JSON worker's items as it pushes them: each with the chunk of the source it comes from."""
    return [{TAG_FIELD: {"chunk": chunk}, ITEM_FIELD: item} for item in items]


class ChunkMerge(Merge):
    """JSON kind: chunk after chunk, in source order; chunk c is worker c % N's."""

    def __init__(self, run: ResumableRun, workers: int, *, first_page: int = 1, by_page_number: bool = False) -> None:
        super().__init__(run, workers)
        self.state.setdefault("chunk", 0)  # the next chunk to merge
        self._first_page, self._by_page_number = first_page, by_page_number

    @classmethod
    def for_job(cls, run: ResumableRun, actor_input: Any) -> ChunkMerge:
        by_page_number = actor_input.pagination == "page"
        return cls(run, actor_input.parallel_runs, first_page=actor_input.first_page, by_page_number=by_page_number)

    def _stripes(self) -> Stripe:
        """The job's chunks as its shape (fixed at its start in the state record's `job`) cuts them."""
        job = self._run.state["job"]
        return Stripe(0, self._workers, job["chunkPages"], job["pageSize"], self._first_page, self._by_page_number)

    async def _end(self, readers: list[WorkerDataset], statuses: list[str]) -> tuple[int, int] | None:
        """(the chunk where the source ends, the worker that found its end there), the first such chunk as the
        finished workers tell it; None while none has finished."""
        ends = []
        for worker, status in enumerate(statuses):
            state = await readers[worker].finished_state() if status == DONE else None
            if state is not None:
                at = Position(state["offset"], state["cursor"], state["skip"])
                ends.append((self._stripes().chunk_of(at), worker))
        return min(ends, default=None)

    def _hole(self, end: tuple[int, int], worker: int, found: int) -> StateError:
        chunk, ender = end
        described, later = self._stripes().describe(chunk), self._stripes().describe(found)
        return StateError(
            f"The source has a hole in chunk {chunk} ({described}): worker {ender} found the end of the source there "
            f"(a page that answered 404 or 416, or came empty), but worker {worker} read items past it (chunk {found}, "
            f"{later}). The {self._run.state['pushed']} items merged are the source's start, in order, each once; the "
            "rest cannot be merged in order. Run the job again once every page of the source answers."
        )

    async def batch(
        self, readers: list[WorkerDataset], statuses: list[str], at_most: int | None = None
    ) -> tuple[list[Any], dict[str, Any]]:
        """The items of the current chunk found so far, and of the chunks after it while each is complete: chunk c
        is complete once its worker has pushed an item of a later chunk, or is done. Its items before that are
        the next in source order whatever comes: they are merged at once. Cut at `at_most` items, within a chunk
        if need be (the marker's batch too: a limit may have been lowered since); the merge goes on there."""
        read, chunk, until = list(self.state["read"]), self.state["chunk"], self.state["batchTo"]
        self.held_back = False
        # Each worker's items from where the merge is, read when its chunk comes (a worker ahead of the others is
        # not read again and again), at most READ_LIMIT; after a restart: exactly those of the marker's batch.
        fresh: dict[int, list[Any]] = {}
        cut_short: set[int] = set()  # workers of which READ_LIMIT items were read: there may be more

        async def items_of(worker: int) -> list[Any]:
            if worker not in fresh:
                end = until["read"][worker] if until else None
                fresh[worker] = await readers[worker].read(read[worker], end, at_most=None if until else READ_LIMIT)
                if until is None and len(fresh[worker]) == READ_LIMIT:
                    cut_short.add(worker)
            return fresh[worker]

        end = await self._end(readers, statuses) if until is None else None
        batch: list[Any] = []
        while True:
            everything_read = until is None and all(status == DONE for status in statuses)
            if everything_read and not any([await items_of(w) for w in range(self._workers)]) and not cut_short:
                self.done = True
                break
            if end is not None and chunk > end[0]:  # the source ends before this chunk: nothing may be found here
                for other in range(self._workers if not batch else 0):  # (the items before the end merged first)
                    if items := await items_of(other):
                        raise self._hole(end, other, tag_of(items[0], other, "chunk", int))
                break  # the merge goes no further, and is done once every worker is
            worker = chunk % self._workers
            items = await items_of(worker)
            of_chunk = 0
            while of_chunk < len(items) and tag_of(items[of_chunk], worker, "chunk", int) == chunk:
                of_chunk += 1
            if of_chunk < len(items) and (found := tag_of(items[of_chunk], worker, "chunk", int)) < chunk:
                raise StateError(f"Worker {worker}'s dataset holds an item of chunk {found} after chunk {chunk}.")
            taken = of_chunk if at_most is None else min(of_chunk, at_most - len(batch))
            batch += [item[ITEM_FIELD] for item in items[:taken]]
            fresh[worker], read[worker] = items[taken:], read[worker] + taken
            if taken < of_chunk:
                self.held_back = True
                break  # the limit: the merge goes on within this chunk
            if until is not None and chunk >= until["chunk"]:
                break  # the marker's batch, again
            if until is None and taken == len(items) and (statuses[worker] != DONE or worker in cut_short):
                break  # the chunk may go on: its worker is still at it, or its items were not all read yet
            chunk += 1
            if until is None and (len(batch) >= READ_LIMIT or len(batch) == at_most):
                break
        return batch, {"read": read, "chunk": chunk}

    def moved_to(self, batch_to: dict[str, Any]) -> None:
        super().moved_to(batch_to)
        self.state["chunk"] = batch_to["chunk"]
