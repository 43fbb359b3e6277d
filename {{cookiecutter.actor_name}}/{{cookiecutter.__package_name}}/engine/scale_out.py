"""Scale-out: one job split across parallel Actor runs on the platform, every item exactly once overall.

With `parallelRuns` N > 1 the run the user started is the coordinator. It starts N worker runs of the same Actor
and build, each with its part of the work in its input (`partOfJob`), keeps their run IDs in its state record,
and merges what they push into its own default dataset. This module is the kind-free part: a worker's
registration, and the coordinator (start, attach, resurrect, abort, report, and the merge's commit loop); the job's
input fields and parts are in mode_input.py. What a worker's part is and how its items merge is its kind's:

- JSON kind (offset and page numbers), scale_out_chunks.py: each worker reads its stripe of chunks of the source;
  the chunks are merged in source order.
- Crawlers, scale_out_pages.py: the workers crawl the coordinator's request queue, shared; each page is merged
  once, whole. maxRequestsPerCrawl counts the pages merged.

A worker pushes each item wrapped with its tag, `{"#job": {...}, "item": <the item>}` (a marker, with no
`item`, for a crawled page with no items): the merge pushes the item as it is, whatever its fields are named.
The job's shape (the chunk size, the page size: where each chunk starts) is fixed at its start in the
coordinator's state record (`job`), and every worker gets exactly it, whatever the input says at a later restart.

Workers are ordinary resumable runs on storages of their own: each is exactly once in its own dataset, whatever
happens to it. That dataset is not the worker's default one: under pay-per-event pricing the platform charges every
item written to a run's default dataset (the SDK cannot tell it not to), and the merge charges each item once, in
the coordinator's. A worker opens it by an alias (an unnamed dataset that its restarts find again) and registers its
ID before its first push; the coordinator reads it by that ID. The merge is the coordinator's commit path: the state
record saves the marker of each merge push (how many items, and what they were merged from) before the push, so
after a crash the same batch is merged again and the items that landed are read back and skipped. A batch is cut to
what maxItems and the run's maximum total charge allow before it is pushed (a crawled page whole or not at all; the
JSON kind's marker batch too, when a limit was lowered since), and the merge moves on only past what it pushed: a
run resumed with a higher limit merges the rest. The limits are the job's: workers get none (maxItems,
maxRequestsPerCrawl 0). A failed or aborted worker is resurrected (at most MAX_RESURRECTIONS times in one run of
the coordinator: its resurrection, also after a kill -9, gives each worker as many again; its migration does not);
a migrated worker reboots by itself.
A restarted coordinator re-attaches to its workers by the IDs in its state record: a worker registers itself in the
coordinator's key-value store (WORKER-<n>), so one started just before a crash is found, not started twice. An
aborted coordinator aborts its workers; at the end no worker is left running.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from apify import Actor

from . import ledger
from .ledger import StateError
from .mode_input import JobPart

if TYPE_CHECKING:
    from apify.storages import Dataset

    from .resumable import ResumableRun

# A worker's dataset item: {TAG_FIELD: its tag, ITEM_FIELD: the item} (the item kept whole, whatever its fields).
# The tag: {"chunk": c} (JSON kind: the chunk of the source it comes from), or {"page": key, "of": n} (crawlers: the
# page it comes from and that page's item count; a page with none pushes one marker, with no ITEM_FIELD).
TAG_FIELD, ITEM_FIELD = "#job", "item"
MAX_RESURRECTIONS = 3  # per worker and run of the coordinator: a worker failing more often fails the job
POLL_SECS = 0.5  # how often the coordinator looks at its workers and merges (a few API calls each time)
READ_LIMIT = 1000  # worker items read per call
REGISTRATION_WAIT_SECS = 60.0  # how long a restarted coordinator waits for a worker it may have started to register
WORKER_RECORD = "WORKER-{}"  # {"runId": the worker's run, "datasetId": the dataset it pushes into}
PART_DATASET_ALIAS = "part-of-job"  # a worker's dataset: unnamed, found again by the run's restarts
# Input fields that shape the job's parts besides its chunk size: fixed at the job's start, given to every worker.
SHAPING_FIELDS = {"page_size": "pageSize"}
# The job's limits, held by the merge (they may rise between restarts): a worker has none, and reads its part to the
# end (a worker stopped at its own limit would end the job short of a raised one).
JOB_LIMITS = {"max_items": "maxItems", "max_requests_per_crawl": "maxRequestsPerCrawl"}
ENDED = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED-OUT")
DONE = "DONE"  # a worker that succeeded with its part read to the end (its state record says `finished`)
# A worker that stopped because its coordinator had ended (its state record says COORDINATOR_ENDED): resurrected
# with its coordinator, without counting, as an aborted one is.
STOPPED_WITH_COORDINATOR = "STOPPED WITH ITS COORDINATOR"
COORDINATOR_ENDED = "coordinatorEnded"
COORDINATOR_CHECK_SECS = 5.0  # how often a worker looks whether its coordinator still runs


# --- the worker's side: its registration ---------------------------------------------------------------


def tag_of(item: Any, worker: int, field: str, kind: type) -> Any:
    """The `field` of a worker's item's tag; StateError if the item is not one a worker pushes."""
    tag = item.get(TAG_FIELD) if isinstance(item, dict) else None
    value = tag.get(field) if isinstance(tag, dict) else None
    if type(value) is not kind:
        raise StateError(
            f"Worker {worker}'s dataset holds an item with no {field} in its {TAG_FIELD!r} tag: not a worker's dataset."
        )
    return value


async def open_part_dataset(part: JobPart) -> Dataset | None:
    """The dataset this worker pushes its items into (None: its default one), to open before its state record is
    restored: the one its registration names once it has registered (a worker registered before workers had
    datasets of their own: its default one), else the run's dataset aliased PART_DATASET_ALIAS, new at its first
    start."""
    store = await Actor.open_key_value_store(id=part.coordinator_store_id)
    registered = await store.get_value(WORKER_RECORD.format(part.worker))
    if isinstance(registered, dict) and registered.get("runId") == Actor.configuration.actor_run_id:
        dataset_id = registered.get("datasetId")
        return None if dataset_id is None else await Actor.open_dataset(id=dataset_id)
    return await Actor.open_dataset(alias=PART_DATASET_ALIAS)


async def take_part(run: ResumableRun, part: JobPart) -> bool:
    """Register this worker run and the dataset it pushes into (`run.dataset`, see open_part_dataset) in the
    coordinator's key-value store, and watch the coordinator from now on. False if another run has this part (this
    one was started twice, around a crash of the coordinator): then it must end without working."""
    if not await _register(part, run.dataset):
        return False
    run.state.pop(COORDINATOR_ENDED, None)  # a stop with the coordinator, before this start, is over
    watcher = asyncio.create_task(watch_coordinator(run, part))
    _background.add(watcher)
    watcher.add_done_callback(_background.discard)
    return True


_background: set[asyncio.Task[None]] = set()  # tasks kept referenced until they end


async def _register(part: JobPart, dataset: Dataset | None) -> bool:
    store = await Actor.open_key_value_store(id=part.coordinator_store_id)
    key, me = WORKER_RECORD.format(part.worker), Actor.configuration.actor_run_id
    registered = await store.get_value(key)
    if registered is None:
        await store.set_value(key, {"runId": me} | ({"datasetId": dataset.id} if dataset is not None else {}))
        return True
    if registered.get("runId") != me:
        Actor.log.warning(f"Run {registered.get('runId')} already reads part {part.worker}: this run ends.")
        return False
    return True


async def watch_coordinator(run: ResumableRun, part: JobPart) -> None:
    """Stop this worker once its coordinator has ended (aborted, failed, or killed for good): a resurrected
    coordinator resurrects it, and it resumes."""
    while not run.stopping:
        await run.unless_stopping(asyncio.sleep(COORDINATOR_CHECK_SECS))
        if not run.stopping and await _status_of(part.coordinator_run_id) in ENDED:
            Actor.log.warning(f"The coordinator {part.coordinator_run_id} has ended: this worker stops.")
            run.state[COORDINATOR_ENDED] = True  # saved by the stop: the coordinator, resurrected, does not count it
            run.stop_soon("the coordinator ended")


# --- the coordinator's side ----------------------------------------------------------------------------------


class Merge:
    """What the coordinator does with the workers' datasets: which items to merge next, in which order."""

    def __init__(self, run: ResumableRun, workers: int) -> None:
        self._run, self._workers = run, workers
        state = run.state.setdefault("merge", {})
        state.setdefault("read", [0] * workers)  # items of each worker's dataset merged (or skipped) so far
        state.setdefault("batchTo", None)  # the marker: where the batch being pushed was read to
        self.state = state
        self.done = False  # every worker succeeded and everything is merged
        self.held_back = False  # the last batch left items out to keep within `at_most`

    async def batch(
        self, readers: list[WorkerDataset], statuses: list[str], at_most: int | None = None
    ) -> tuple[list[Any], dict[str, Any]]:
        """The next items to merge, at most `at_most` (then `held_back` says whether some were left out), and where
        they were read to (the batch's marker: the merge moves on past those items only); after a restart with a
        marker saved, exactly the batch of that marker."""
        raise NotImplementedError

    def moved_to(self, batch_to: dict[str, Any]) -> None:
        """The batch is merged: move on to where it was read to."""
        self.state["read"] = batch_to["read"]

    def limit_reached(self) -> bool:
        return False

    @classmethod
    def for_job(cls, run: ResumableRun, actor_input: Any) -> Merge:
        """The merge of the job `actor_input` describes, over its state in `run`'s state record."""
        raise NotImplementedError


class WorkerDataset:
    """A worker's dataset, read from a given index on."""

    def __init__(self, dataset_id: str | None) -> None:
        self._dataset_id = dataset_id

    async def located(self) -> str | None:
        """The dataset's ID; None while the worker has not said which it is (it has pushed nothing yet)."""
        return self._dataset_id

    async def open(self) -> Any:
        return await Actor.open_dataset(id=await self.located())

    async def finished_state(self) -> dict[str, Any] | None:
        """The worker's state record once it has read its part to the end (where it found the source's end); None
        before that, or when it is not known here."""
        return None

    async def read(self, start: int, end: int | None = None, *, at_most: int | None = None) -> list[Any]:
        """The items from `start` to `end` (all of them: fewer fails), or to the dataset's end (at most `at_most`)."""
        if await self.located() is None:
            if end is not None and end > start:
                raise StateError("The merge read items of a worker that has not registered its dataset.")
            return []
        dataset = await self.open()
        items: list[Any] = []
        while (end is None or start + len(items) < end) and (at_most is None or len(items) < at_most):
            limit = READ_LIMIT if end is None else min(READ_LIMIT, end - start - len(items))
            page = await dataset.get_data(offset=start + len(items), limit=limit)
            items += page.items
            if len(page.items) < limit:
                if end is not None and start + len(items) < end:
                    raise StateError(f"The dataset {self._dataset_id} of a worker holds fewer items than merged.")
                break
        return items


class RegisteredDataset(WorkerDataset):
    """The dataset worker `worker` registered in the coordinator's key-value store `store` (once it has; a worker
    registered before workers had datasets of their own pushes into its default dataset, that of `info`)."""

    def __init__(self, store: Any, worker: int, info: dict[str, Any]) -> None:
        super().__init__(None)
        self._store, self._worker, self._info = store, worker, info
        self._finished: dict[str, Any] | None = None  # kept once read: a finished worker is never resumed

    async def finished_state(self) -> dict[str, Any] | None:
        if self._finished is None:
            store = await Actor.open_key_value_store(id=self._info["defaultKeyValueStoreId"])
            state = await store.get_value(ledger.STATE_KEY)
            self._finished = state if isinstance(state, dict) and state.get("finished") else None
        return self._finished

    async def located(self) -> str | None:
        if self._dataset_id is None:
            registered = await self._store.get_value(WORKER_RECORD.format(self._worker))
            if isinstance(registered, dict):
                self._dataset_id = registered.get("datasetId") or self._info["defaultDatasetId"]
        return self._dataset_id


async def coordinate(run: ResumableRun, actor_input: Any, merge_class: type[Merge]) -> None:
    """Run the job over `actor_input.parallel_runs` worker runs and merge their items (with the kind's
    `merge_class`: scale_out_chunks.ChunkMerge, scale_out_pages.PageMerge), until all is merged (then
    the run is finished), or the run must stop (migrating: the workers go on; aborting: they are aborted too).
    Raises StateError when a worker keeps failing or a merge cannot be trusted."""
    if not Actor.is_at_home():
        raise StateError(
            f"parallelRuns {actor_input.parallel_runs} starts runs of this Actor on the Apify platform: run it there "
            "(rehearse it here with tests/rehearse.py --parallel-runs N), or set parallelRuns to 1 to run locally."
        )
    max_items = getattr(actor_input, "max_items", 0)
    merge = merge_class.for_job(run, actor_input)
    if run.finished or merge.limit_reached() or (max_items and run.pushed >= max_items and not run.landed):
        # All merged; or a limit holds (a resume with a higher one goes on from where the merge is): no worker works.
        await _abort_all([run_id for run_id in run.state["workers"] if run_id], gracefully=False)
        run.tell_if_over(max_items)
        return
    workers = await _start_or_attach(run, actor_input)
    if workers is None:  # the run must stop before every worker is known: the ones started stop with it
        if run.stopping != "migrating":
            started = [run_id for run_id in run.state["workers"] if run_id]
            await _abort_all(started, gracefully=run.stopping == "aborting")
        return
    store = await Actor.open_key_value_store()
    readers: list[WorkerDataset] = [RegisteredDataset(store, worker, info) for worker, info in enumerate(workers)]
    ids = [info["id"] for info in workers]
    # The budget is one run's: a start that does not follow a migration (one saved by stops.py counts a reboot) is
    # a resurrection, also after a kill -9 that left no end to reset it at: every worker gets its tries again.
    if not run.state["resurrections"] or run.state["budgetReboots"] == run.state["reboots"]:
        run.state["resurrections"] = [0] * len(ids)
    run.state["budgetReboots"] = run.state["reboots"]
    try:
        while not run.stopping:
            statuses = [await _worker_status(info) for info in workers]
            await _resurrect_ended(run, ids, statuses)
            merged = await _merge_once(run, merge, readers, statuses, max_items)
            await _report(run, merge, statuses)
            if merge.done:
                run.state["failed"] = await _pages_failed(workers)
                await run.finish()
                break
            if merge.limit_reached() or (max_items and run.pushed >= max_items):
                break
            if not merged:
                await run.unless_stopping(asyncio.sleep(POLL_SECS))
    finally:
        if run.stopping != "migrating":  # done, aborted or failed: no worker is left running
            # Aborted: gracefully, so that the workers save their state for a resurrection; done: at once.
            await _abort_all(ids, gracefully=run.stopping == "aborting")
            # The budget is one run's: resurrected (once the cause of a failure is gone), this run gives every
            # worker MAX_RESURRECTIONS more tries, or it could never finish the job.
            run.state["resurrections"] = [0] * len(ids)
            await run.save()
    run.tell_if_over(max_items)


async def _merge_once(
    run: ResumableRun, merge: Merge, readers: list[WorkerDataset], statuses: list[str], max_items: int
) -> int:
    """One merge commit: the marker saved, one push, then the merge moves on. Returns the items merged.
    The batch is cut to what maxItems and the run's maximum total charge allow before it is pushed."""
    async with run.commit_lock:
        if run.stopping and merge.state["batchTo"] is None:
            return 0
        # Items the dataset may still take; at least those that landed before a restart with a lower maxItems: they
        # stay (an item is never taken back), and the merge moves past them.
        room = max(len(run.landed), max_items - run.pushed) if max_items else None
        chargeable = ledger.chargeable_items()  # items that may still be charged, besides those that landed
        charge_room = None if chargeable is None else chargeable + len(run.landed)
        charge_bound = charge_room is not None and (room is None or charge_room < room)
        batch, batch_to = await merge.batch(readers, statuses, at_most=charge_room if charge_bound else room)
        landed = run.landed.skip(batch, "merge of the workers' items")
        rest = batch[landed:]
        pushed = 0
        if rest:
            merge.state["batchTo"] = batch_to
            run.state["pending"] = landed + len(rest)
            await run.persist()
            pushed = await ledger.push(rest, at=run.pushed + landed)
            if pushed < len(rest):  # the SDK cut the push at the charge limit after all: the marker stays, and
                run.stop_soon("charge limit")  # the resumed run reads back what landed and pushes the rest
                return 0
        merge.moved_to(batch_to)
        merge.state["batchTo"] = None
        run.state.update(pushed=run.pushed + landed + pushed, pending=len(run.landed))
        if merge.held_back and charge_bound:
            run.stop_soon("charge limit")
        return landed + pushed


async def _start_or_attach(run: ResumableRun, actor_input: Any) -> list[dict[str, Any]] | None:
    """The workers' run objects: those in the state record, those that registered, and new ones for the rest;
    None if the run must stop first (no worker is started then)."""
    count = actor_input.parallel_runs
    if not run.state["workers"]:
        run.state["workers"] = [""] * count
    ids: list[str] = run.state["workers"]
    job = _job_shape(run, actor_input)
    store = await Actor.open_key_value_store()
    # The input record as stored, secret fields still encrypted: the workers (the same Actor) decrypt them
    # themselves, and nothing secret is written in clear into their inputs.
    raw_input = await store.get_value(Actor.configuration.input_key) or {}
    for worker in range(count):
        if not ids[worker]:
            ids[worker] = await _registered(run, store, worker, wait=run.state["starting"] == worker)
        if run.stopping:
            return None
        if not ids[worker]:
            run.state["starting"] = worker  # saved before the start: a crash now is found out after the restart
            await run.persist()
            part = JobPart(
                coordinator_run_id=Actor.configuration.actor_run_id or "",
                coordinator_store_id=Actor.configuration.default_key_value_store_id or "",
                worker=worker,
                workers=count,
                chunk_pages=job["chunkPages"],
                request_queue_id=Actor.configuration.default_request_queue_id,
            )
            shape = {name: value for name, value in job.items() if name != "chunkPages"}
            worker_input = {**raw_input, **shape, "parallelRuns": 1, "partOfJob": part.model_dump(by_alias=True)}
            worker_input |= {name: 0 for field, name in JOB_LIMITS.items() if hasattr(actor_input, field)}
            started = await Actor.start(
                Actor.configuration.actor_id or "", worker_input, build=Actor.configuration.actor_build_number
            )
            ids[worker] = started.id
            run.state["starting"] = None
            await run.persist()
            Actor.log.info(f"Started worker {worker} of {count}: run {started.id}")
    return [await _run_info(run_id) for run_id in ids]


def _job_shape(run: ResumableRun, actor_input: Any) -> dict[str, Any]:
    """The job's shape, as its state record fixed it at its start (saved with the first worker's start): the
    chunk size (`chunkPages`) and the input fields that say where a chunk starts. A later input's are ignored."""
    now = {"chunkPages": actor_input.chunk_pages}
    now |= {name: getattr(actor_input, field) for field, name in SHAPING_FIELDS.items() if hasattr(actor_input, field)}
    if not run.state["job"]:
        run.state["job"] = now
    job: dict[str, Any] = run.state["job"]
    if changed := sorted(name for name in now if job.get(name) != now[name]):
        kept = [f"{name} {job.get(name)}" for name in changed]
        Actor.log.warning(
            f"The job keeps the shape it started with ({', '.join(kept)}; chunkPages is set by prefetchPages): "
            "the input's new values wait for the next job."
        )
    return job


async def _registered(run: ResumableRun, store: Any, worker: int, *, wait: bool) -> str:
    """The run ID a worker registered under (waiting for it if it may have been started just before a crash,
    unless the run must stop: an abort or a migration does not wait for it)."""
    deadline = time.monotonic() + (REGISTRATION_WAIT_SECS if wait else 0)
    while True:
        record = await store.get_value(WORKER_RECORD.format(worker))
        if record is not None or time.monotonic() >= deadline or run.stopping:
            return (record or {}).get("runId", "")
        await run.unless_stopping(asyncio.sleep(POLL_SECS))


async def _run_info(run_id: str) -> dict[str, Any]:
    info = await Actor.apify_client.run(run_id).get()
    if info is None:
        raise StateError(f"The worker run {run_id} does not exist: the job cannot be merged.")
    return info.model_dump(by_alias=True)


async def _status_of(run_id: str) -> str:
    info = await Actor.apify_client.run(run_id).get()
    status = info.status if info is not None else "FAILED"
    return str(getattr(status, "value", status))


async def _worker_status(info: dict[str, Any]) -> str:
    """The worker's run status, DONE when it succeeded with its part done (exit 0 alone does not say so: a run
    that stopped early, at its charge limit or because its coordinator ended, exits 0 too), STOPPED_WITH_COORDINATOR
    when it stopped because its coordinator had ended."""
    status = await _status_of(info["id"])
    if status != "SUCCEEDED":
        return status
    store = await Actor.open_key_value_store(id=info["defaultKeyValueStoreId"])
    state = await store.get_value(ledger.STATE_KEY)
    if not isinstance(state, dict):
        return "STOPPED"
    return DONE if state.get("finished") else STOPPED_WITH_COORDINATOR if state.get(COORDINATOR_ENDED) else "STOPPED"


async def _pages_failed(workers: list[dict[str, Any]]) -> int:
    """The pages the workers gave up on after all retries (crawls), as their state records count them."""
    failed = 0
    for info in workers:
        store = await Actor.open_key_value_store(id=info["defaultKeyValueStoreId"])
        state = await store.get_value(ledger.STATE_KEY)
        failed += state.get("failed", 0) if isinstance(state, dict) else 0
    return failed


async def _resurrect_ended(run: ResumableRun, ids: list[str], statuses: list[str]) -> None:
    """Resurrect the workers that ended without their part done; a worker failing too often fails the job."""
    for worker, (run_id, status) in enumerate(zip(ids, statuses, strict=True)):
        if status not in (*ENDED, "STOPPED", STOPPED_WITH_COORDINATOR):
            continue
        if status not in ("ABORTED", STOPPED_WITH_COORDINATOR):  # neither is the worker's fault
            if run.state["resurrections"][worker] >= MAX_RESURRECTIONS:
                raise StateError(
                    f"Worker {worker} (run {run_id}) ended {status} {MAX_RESURRECTIONS + 1} times: see its log. "
                    "Resurrect this run to go on from where the job is."
                )
            run.state["resurrections"][worker] += 1
        Actor.log.warning(f"Worker {worker} (run {run_id}) ended ({status}) with its part not done: resurrecting it.")
        await Actor.resurrect(run_id)
        statuses[worker] = "RUNNING"


async def _abort_all(ids: list[str], *, gracefully: bool) -> None:
    for run_id in ids:
        if await _status_of(run_id) not in ENDED:
            await Actor.abort(run_id, gracefully=gracefully)


async def _report(run: ResumableRun, merge: Merge, statuses: list[str]) -> None:
    """The status message: each worker's state and the items merged from it, and the items merged in all."""
    reads = zip(statuses, merge.state["read"], strict=True)
    workers = "; ".join(f"worker {n}: {status.lower()}, {read} items" for n, (status, read) in enumerate(reads))
    await run.report_progress(f"{run.pushed} items merged from {len(statuses)} parallel runs ({workers}).")
