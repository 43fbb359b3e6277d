"""The coordinator's merge of its workers' datasets (scale_out.py, with each kind's merge: scale_out_chunks.py,
scale_out_pages.py) on its own, over real file-system datasets: the pages and chunks the workers pushed, tagged as
they tag them, merged poll after poll as the coordinator does. A project has its own kind's merge only: the other
kind's tests are skipped."""

from __future__ import annotations

import asyncio
import copy
import importlib
import importlib.util
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from crawlee.configuration import Configuration
from crawlee.storage_clients import FileSystemStorageClient
from crawlee.storages import Dataset, KeyValueStore
from harness import package_name

scale_out = importlib.import_module(f"{package_name()}.engine.scale_out")
state_record = importlib.import_module(f"{package_name()}.engine.state_record")


def kind_module(name: str) -> Any:
    """The package's module `name`, or None in a project of the other kind."""
    found = importlib.util.find_spec(f"{package_name()}.{name}")
    return importlib.import_module(found.name) if found else None


chunk_kind, page_kind = kind_module("engine.scale_out_chunks"), kind_module("engine.scale_out_pages")
needs_chunks = pytest.mark.skipif(chunk_kind is None, reason="the JSON kind's merge")
needs_pages = pytest.mark.skipif(page_kind is None, reason="the crawlers' merge")
DONE = scale_out.DONE
# Items whose fields are named as a worker's tags were once named: the merge must leave them as they are.
ODD = {"#chunk": "mine", "#page": 7, "#of": [1], "#job": None, "item": {"x": 1}}


class WorkerDatasetOnDisk(scale_out.WorkerDataset):
    """A worker's dataset in a local storage folder, read as the coordinator reads it."""

    def __init__(self, dataset: Dataset) -> None:
        super().__init__(dataset.id)
        self.dataset = dataset

    async def open(self) -> Dataset:
        return self.dataset

    async def push(self, items: list[Any]) -> None:
        await self.dataset.push_data(items)


async def worker_datasets(tmp_path: Path, *contents: list[Any]) -> list[WorkerDatasetOnDisk]:
    configuration, client = Configuration(storage_dir=str(tmp_path)), FileSystemStorageClient()
    readers = []
    for worker, items in enumerate(contents):
        dataset = await Dataset.open(name=f"worker-{worker}", configuration=configuration, storage_client=client)
        reader = WorkerDatasetOnDisk(dataset)
        if items:
            await reader.push(items)
        readers.append(reader)
    return readers


def coordinator() -> Any:
    """What a merge uses of the coordinator's ResumableRun: its state record."""
    return SimpleNamespace(state=copy.deepcopy(state_record.STATE_DEFAULTS))


async def merged(merge: Any, readers: list[Any], statuses: list[str], polls: int = 4, **limit: Any) -> list[Any]:
    """What `polls` merges push (the coordinator stops polling once the merge is done)."""
    pushed: list[Any] = []
    for _ in range(polls):
        batch, batch_to = await merge.batch(readers, statuses, **limit)
        pushed += batch
        merge.moved_to(batch_to)
        if merge.done:
            break
    return pushed


def page(key: str, *items: Any) -> list[Any]:
    return page_kind.tag_page(key, list(items))


@needs_pages
def test_a_page_that_pushed_nothing_is_merged_and_the_merge_ends(tmp_path: Path) -> None:
    """A start page that only enqueues links pushes the 'no items' marker (the two-label router's shape)."""

    async def play() -> tuple[list[Any], Any]:
        readers = await worker_datasets(tmp_path, page("start") + page("a", {"n": 1}, {"n": 2}), page("b", {"n": 3}))
        merge = page_kind.PageMerge(coordinator(), 2, None)
        return await merged(merge, readers, [DONE, DONE]), merge

    items, merge = asyncio.run(play())
    assert sorted(item["n"] for item in items) == [1, 2, 3]
    assert merge.done
    assert merge.state["read"] == [3, 1]


@needs_pages
def test_a_page_cut_in_one_worker_and_handled_whole_by_another_lands_once_and_the_merge_ends(tmp_path: Path) -> None:
    """Worker 0 was killed in the middle of its push of page p (2 of its 3 items landed), its lock expired,
    and worker 1 handled p whole; worker 0 went on with page q."""

    async def play() -> tuple[list[Any], Any]:
        p = page("p", {"n": 1}, {"n": 2}, {"n": 3})
        readers = await worker_datasets(tmp_path, p[:2] + page("q", {"n": 4}), p)
        merge = page_kind.PageMerge(coordinator(), 2, None)
        return await merged(merge, readers, [DONE, DONE]), merge

    items, merge = asyncio.run(play())
    assert sorted(item["n"] for item in items) == [1, 2, 3, 4]
    assert merge.done
    assert merge.state["read"] == [3, 3]


@needs_pages
def test_a_page_cut_and_then_failed_for_good_is_merged_as_it_landed_once_every_worker_is_done(tmp_path: Path) -> None:
    """Page p was cut in two killed workers' pushes, then failed for good at its retries: no worker will push it
    whole. What a single run keeps of such a page (the most that landed) is merged, once the job is done."""

    async def play() -> tuple[list[Any], list[Any], Any]:
        p = page("p", {"n": 1}, {"n": 2}, {"n": 3})
        readers = await worker_datasets(tmp_path, p[:1] + page("q", {"n": 4}), p[:2])
        merge = page_kind.PageMerge(coordinator(), 2, None)
        while_working = await merged(merge, readers, ["RUNNING", DONE])
        return while_working, await merged(merge, readers, [DONE, DONE]), merge

    while_working, once_done, merge = asyncio.run(play())
    assert while_working == [{"n": 4}]  # p may still come whole
    assert once_done == [{"n": 1}, {"n": 2}]
    assert merge.done


@needs_chunks
def test_items_with_fields_named_like_tags_are_merged_unchanged_from_chunks(tmp_path: Path) -> None:
    items = [{**ODD, "n": n} for n in range(6)]

    async def play() -> list[Any]:
        tag = chunk_kind.tag_chunk
        readers = await worker_datasets(tmp_path, tag(items[:2], 0) + tag(items[4:], 2), tag(items[2:4], 1))
        return await merged(chunk_kind.ChunkMerge(coordinator(), 2), readers, [DONE, DONE])

    assert asyncio.run(play()) == items


@needs_pages
def test_items_with_fields_named_like_tags_are_merged_unchanged_from_pages(tmp_path: Path) -> None:
    items = [{**ODD, "n": n} for n in range(6)]

    async def play() -> list[Any]:
        readers = await worker_datasets(tmp_path / "pages", page("a", *items[:3]), page("b", *items[3:]))
        return await merged(page_kind.PageMerge(coordinator(), 2, None), readers, [DONE, DONE])

    assert sorted(asyncio.run(play()), key=lambda item: item["n"]) == items


@needs_chunks
def test_a_merge_of_chunks_cut_by_a_limit_goes_on_where_it_was_cut_after_a_restart(tmp_path: Path) -> None:
    """A limit (maxItems, the charge limit) cuts a chunk in the middle: the batch after a restart with the marker
    saved is the same, and a run resumed with a higher limit merges exactly the rest."""
    items = [{"n": n} for n in range(12)]

    async def in_chunks() -> tuple[list[Any], list[Any], list[Any]]:
        chunks = [chunk_kind.tag_chunk(items[c * 3 : c * 3 + 3], c) for c in range(4)]
        readers = await worker_datasets(tmp_path, chunks[0] + chunks[2], chunks[1] + chunks[3])
        run = coordinator()
        first, batch_to = await chunk_kind.ChunkMerge(run, 2).batch(readers, [DONE, DONE], at_most=4)
        run.state["merge"]["batchTo"] = batch_to  # the marker saved, then a crash: the same batch again
        again, _ = await chunk_kind.ChunkMerge(run, 2).batch(readers, [DONE, DONE], at_most=10)
        merge = chunk_kind.ChunkMerge(run, 2)  # restarted with a lower limit: the first part of that batch
        lowered, batch_to = await merge.batch(readers, [DONE, DONE], at_most=2)
        merge.moved_to(batch_to)
        merge.state["batchTo"] = None
        return first + again + lowered, await merged(chunk_kind.ChunkMerge(run, 2), readers, [DONE, DONE])

    batches, rest = asyncio.run(in_chunks())
    assert batches == items[:4] + items[:4] + items[:2]
    assert rest == items[2:]


class FinishedWorkerOnDisk(WorkerDatasetOnDisk):
    """A worker's dataset, and where the worker found the end of the source (its finished state record's offset)."""

    def __init__(self, reader: WorkerDatasetOnDisk, ended_at: int) -> None:
        super().__init__(reader.dataset)
        self.ended_at = ended_at

    async def finished_state(self) -> dict[str, Any]:
        return {"offset": self.ended_at, "cursor": None, "skip": 0, "finished": True}


async def chunks_merged(tmp_path: Path, stripes: list[list[Any]], ended_at: list[int]) -> list[Any]:
    """Merge two finished workers' stripes (chunks of 3 items) as the coordinator does, until it is done."""
    readers = await worker_datasets(tmp_path, *stripes)
    run = coordinator()
    run.state["job"] = {"chunkPages": 1, "pageSize": 3}
    finished = [FinishedWorkerOnDisk(reader, at) for reader, at in zip(readers, ended_at, strict=True)]
    merge = chunk_kind.ChunkMerge(run, 2)
    pushed: list[Any] = []
    for _ in range(4):
        batch, batch_to = await merge.batch(finished, [DONE, DONE])
        pushed += batch
        run.state["pushed"] += len(batch)
        merge.moved_to(batch_to)
        if merge.done:
            return pushed
    raise AssertionError(f"the merge is not done after 4 polls: {pushed}")


@needs_chunks
def test_a_merge_of_chunks_ends_where_the_source_ends_after_a_full_chunk_of_the_other_worker(tmp_path: Path) -> None:
    """8 items in chunks of 3: worker 0 found the end in chunk 2 (its last, short), worker 1 at the start of chunk 3
    (after its chunk 1, full): no hole, every item once."""
    items = [{"n": n} for n in range(8)]
    tag = chunk_kind.tag_chunk
    stripes = [tag(items[:3], 0) + tag(items[6:], 2), tag(items[3:6], 1)]
    assert asyncio.run(chunks_merged(tmp_path, stripes, ended_at=[8, 9])) == items


@needs_chunks
def test_a_chunk_ended_early_while_a_later_chunk_has_items_fails_naming_it_and_merges_nothing_past_it(
    tmp_path: Path,
) -> None:
    """Worker 1 found the end of the source at item 4, inside its chunk 1 (items 3-5: a page answered 404 once),
    while worker 0 read chunk 2: a hole. The items before it are merged; then the merge fails naming the chunk."""
    items = [{"n": n} for n in range(9)]
    tag = chunk_kind.tag_chunk
    stripes = [tag(items[:3], 0) + tag(items[6:], 2), tag(items[3:4], 1)]

    async def play() -> list[Any]:
        return await chunks_merged(tmp_path, stripes, ended_at=[9, 4])

    with pytest.raises(scale_out.StateError, match=r"hole in chunk 1 \(items 3-5\): worker 1 found the end") as error:
        asyncio.run(play())
    assert "worker 0 read items past it (chunk 2, items 6-8). The 4 items merged" in str(error.value)


@needs_pages
def test_a_merge_of_pages_cut_by_a_limit_goes_on_where_it_was_cut_after_a_restart(tmp_path: Path) -> None:
    """maxRequestsPerCrawl and the charge limit leave pages out (a page whole or not at all): a run resumed with a
    higher limit merges exactly the rest."""
    items = [{"n": n} for n in range(12)]

    async def in_pages() -> tuple[list[Any], list[Any], list[Any]]:
        pages = [page(f"p{n}", *items[n * 2 : n * 2 + 2]) for n in range(6)]
        even, odd = [i for p in pages[0::2] for i in p], [i for p in pages[1::2] for i in p]
        readers = await worker_datasets(tmp_path / "pages", even, odd)
        run = coordinator()
        at_the_limit = await merged(page_kind.PageMerge(run, 2, 2), readers, [DONE, DONE])
        charged = await merged(page_kind.PageMerge(run, 2, None), readers, [DONE, DONE], polls=1, at_most=3)
        return at_the_limit, charged, await merged(page_kind.PageMerge(run, 2, None), readers, [DONE, DONE])

    at_the_limit, charged, rest = asyncio.run(in_pages())
    assert len(at_the_limit) == 4  # maxRequestsPerCrawl 2: two whole pages
    assert len(charged) == 2  # 3 items may be charged: one page, whole
    assert sorted(at_the_limit + charged + rest, key=lambda item: item["n"]) == items


@needs_chunks
@pytest.mark.parametrize("item", [{"n": 1}, {"#chunk": 0, "n": 1}])
def test_a_dataset_that_is_not_a_workers_is_refused_with_one_message(tmp_path: Path, item: dict) -> None:
    async def play() -> None:
        readers = await worker_datasets(tmp_path, [item], [])
        await chunk_kind.ChunkMerge(coordinator(), 2).batch(readers, [DONE, DONE])

    with pytest.raises(scale_out.StateError, match="Worker 0's dataset holds an item with no chunk in its '#job' tag"):
        asyncio.run(play())


class Stopping:
    """What the wait for a worker's registration uses of the coordinator's ResumableRun: its stop."""

    def __init__(self) -> None:
        self.stopping: str | None = None
        self._stop = asyncio.Event()

    def stop_soon(self, reason: str) -> None:
        self.stopping = reason
        self._stop.set()

    async def unless_stopping(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        await asyncio.wait({task, asyncio.ensure_future(self._stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
        task.cancel()


def test_an_abort_ends_the_wait_for_a_worker_that_may_have_been_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A coordinator restarted with `starting` saved waits for that worker to register; an abort (or a migration)
    must end that wait, or the run outlives its abort and then starts the worker."""
    monkeypatch.setattr(scale_out, "REGISTRATION_WAIT_SECS", 3600.0)

    async def wait_then_abort() -> str:
        configuration, client = Configuration(storage_dir=str(tmp_path)), FileSystemStorageClient()
        store = await KeyValueStore.open(name="coordinator", configuration=configuration, storage_client=client)
        run = Stopping()
        waiting = asyncio.ensure_future(scale_out._registered(run, store, 2, wait=True))
        await asyncio.sleep(scale_out.POLL_SECS * 2)
        assert not waiting.done()  # no registration yet: it waits
        run.stop_soon("aborting")
        return await asyncio.wait_for(waiting, timeout=30)  # a deadline: without the stop it waits an hour

    assert asyncio.run(wait_then_abort()) == ""
