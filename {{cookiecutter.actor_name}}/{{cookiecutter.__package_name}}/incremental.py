"""Incremental runs on a schedule: each run delivers only what is new, and every item exactly once across runs.

An incremental job is one exactly-once read of the source (resumable.py, ledger.py) whose storages are named
and outlive runs: its state record, its dataset (the job's log of every item, in order) and, for a crawl, its
request queue, all named after the job (`datasetName`, or `incremental-` and a hash of the Actor and the source).
A run goes on where the job is: in the pass over the source a run that failed left half-done, or in a new pass
once the last one ended (a JSON API: only items past the highest `incrementalField` value of the last pass; a
crawl: start URLs and `revisitLabels` pages loaded again, other pages never twice). Before it ends, a run
delivers into its own default dataset the job's items since the last delivery of a run that succeeded: its own
new items, and those of runs that failed since. So the default datasets of the runs that succeed hold every
item once, taken together, and a run that fails delivers nothing the next successful one does not.

Whether a run succeeded is asked of the platform; locally, where nobody keeps a run's exit status, a run has
succeeded once its delivery has ended (its last write before it exits). Two runs of one job never work at once:
a run waits `waitForPreviousRunSecs` for the one still running, then stops with one message, writing nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apify import Actor
from crawlee import RequestState
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from . import ledger
from .ledger import StateError

if TYPE_CHECKING:
    from crawlee import Request

    from .resumable import ResumableRun, Transform

REVISIT_PREFIX = "revisit-"  # and the pass's number, then "|": the key of a request loaded again in each pass
REVISIT_KEY = re.compile(rf"{REVISIT_PREFIX}\d+\|")
OWNER_KEY = "OWNER"  # in the job's key-value store: the run working on the job
RUN_ID_KEY = "INCREMENTAL_RUN_ID"  # locally, in the run's default store: its ID, kept when it is resumed
# A run that read the owner record at the same moment has written its own by then (an API call at home, a file here).
CLAIM_SETTLE_SECS = 2.0
LOCAL_CLAIM_SETTLE_SECS = 0.2
POLL_SECS = 1.0
DELIVERY_BATCH = 1000  # items copied from the job's dataset to the run's in one push
ENDED = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED-OUT")
# The job's part of the state record (its key `incremental`).
JOB_DEFAULTS: dict[str, Any] = {
    "run": None,  # the run that works on the job now, or last did
    "pass": 0,  # passes over the source started
    "from": None,  # JSON: this pass delivers the items past this incrementalField value,
    "ties": [],  # and those at it whose primary key is not one of these
    "max": None,  # the highest incrementalField value of the items this pass read past,
    "atMax": [],  # and the primary keys of those items at it
    "ascending": True,  # the new items this pass read came in the order of their values (none came lower)
    "last": None,  # the value of the last new item this pass read
    "marked": [],  # [value, key] of each item of the push under way (the marker's), for a new run to fold in
    "param": "",  # the incrementalParam this pass started with
    "startPushed": 0,  # the job's items when this run started (maxItems counts from there)
    "startPages": 0,  # crawls: the pass's pages saved when this run started (maxRequestsPerCrawl counts from there)
    "failedPages": [],  # crawls: the unique keys of this pass's pages that failed for good (after their retries),
    "failedBefore": [],  # and of the last pass's, loaded again in this pass: a page is loaded until it is saved
    "versions": {},  # crawls: each page loaded in every pass (its key without the pass's prefix) -> the hash of its
    "pendingVersions": {},  # items when last saved (it delivers them again when they change); and of the push under
    # way (the marker's: its request key -> hash), kept for the pages a restart finds landed whole (crawling.py)
    "delivered": 0,  # the job's items delivered by runs known to have succeeded
    "delivery": None,  # the run's delivery: {run, from, to, copied, pending, done}
}


class IncrementalError(StateError):
    """The job cannot be worked on by this run (another run works on it, or its records do not fit)."""


class IncrementalInput(BaseModel):
    """The input fields of incremental runs that every kind's input has (each kind says when it is incremental:
    its `incremental`)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, strict=True, extra="ignore")

    dataset_name: str = Field("", pattern=r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)?$")
    wait_for_previous_run_secs: int = Field(60, ge=0, le=3600)

    def check_incremental(self, incremental: bool, parallel_runs: int) -> None:
        if self.dataset_name and not incremental:
            raise ValueError("datasetName accumulates the items of incremental runs: it needs incremental input")
        if incremental and parallel_runs > 1:
            raise ValueError(
                "an incremental job cannot use parallelRuns > 1: its position lives in named storages that one run "
                "at a time goes on from, while parallel workers each keep their own"
            )


def job_name(actor_input: Any) -> str:
    """The name of the job's storages: datasetName, or one made of the Actor and the source (two tasks with
    different sources never share a job; the same input in another Actor neither)."""
    if actor_input.dataset_name:
        return actor_input.dataset_name
    actor = Actor.configuration.actor_id or "local"
    identity = json.dumps({"actor": actor, "source": actor_input.source()}, sort_keys=True)
    return f"incremental-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


class IncrementalJob:
    """The job as one run sees it: its name, whose run works on it, its passes and the run's delivery."""

    def __init__(self, name: str, run_id: str, wait_secs: float) -> None:
        self.name, self.run_id, self._wait_secs = name, run_id, wait_secs
        self.new_run = True  # this run did not work on the job before (it is not a resumed one)
        self.code_may_change = False

    @classmethod
    async def claim(cls, actor_input: Any) -> IncrementalJob:
        """The job of `actor_input`, claimed for this run once no other run works on it (waiting for one that
        does at most waitForPreviousRunSecs). Raises IncrementalError, having written nothing else, if another
        run still works on it."""
        job = cls(job_name(actor_input), await _this_run_id(), actor_input.wait_for_previous_run_secs)
        await job._claim()
        Actor.log.info(f"Incremental job {job.name!r}: its state, items (and queue) are kept in storages so named.")
        return job

    async def _claim(self) -> None:
        store = await Actor.open_key_value_store(name=self.name)
        deadline = time.monotonic() + self._wait_secs
        while (owner := await self._owner(store)) and owner.get("runId") != self.run_id:
            if not await _still_running(owner):
                break
            if time.monotonic() >= deadline:
                raise self._busy(owner)
            await asyncio.sleep(POLL_SECS)
        saved = await store.get_value(ledger.STATE_KEY)
        saved = saved if isinstance(saved, dict) else {}
        job = saved.get("incremental") if isinstance(saved.get("incremental"), dict) else {}
        own_store = await Actor.open_key_value_store()
        # Taken over: this run had claimed the job and another run claimed it since. (Restarted before it recorded
        # itself as the job's run, with the job's owner still this run, it goes on as a new run.)
        taken_over = job.get("run") != self.run_id and (owner is None or owner.get("runId") != self.run_id)
        if await own_store.get_value(RUN_ID_KEY) is not None and taken_over:
            raise IncrementalError(
                f"This run worked on the incremental job {self.name!r} before, and was resumed after another run "
                f"({job.get('run')}) took the job over: it stops, and what its dataset holds is delivered by the runs "
                "that succeed (do not count this run's dataset)."
            )
        # (A resumed run writes its record again: locally it is another process now.)
        await store.set_value(OWNER_KEY, _owner_record(self.run_id))
        await asyncio.sleep(CLAIM_SETTLE_SECS if Actor.is_at_home() else LOCAL_CLAIM_SETTLE_SECS)
        owner = await self._owner(store)
        if not owner or owner.get("runId") != self.run_id:
            raise self._busy(owner or {})
        await own_store.set_value(RUN_ID_KEY, self.run_id)  # this run has worked on the job
        await Actor.open_dataset()  # the run's own: locally opening it purges what an earlier run left, as on Apify
        self.new_run = job.get("run") != self.run_id
        # A new run may bring new code (a transform or handlers changed between scheduled runs) when nothing of the
        # last push is left to be compared with what it makes.
        self.code_may_change = self.new_run and not saved.get("pending") and not saved.get("pendingRequests")

    async def _owner(self, store: Any) -> dict[str, Any] | None:
        owner = await store.get_value(OWNER_KEY)
        unreadable = owner is None and await store.record_exists(OWNER_KEY)
        if unreadable or (owner is not None and not isinstance(owner, dict)):
            raise IncrementalError(
                f"The record {OWNER_KEY} of the incremental job {self.name!r} (its key-value store) is not a JSON "
                "object: delete it (no run of the job may be running then)."
            )
        return owner

    async def _check_still_the_owner(self) -> None:
        """Raise IncrementalError if another run has claimed the job since this one did (a key-value store has no
        compare-and-set: a run stalled between reading the owner and writing its own could have): checked again
        before the delivery, the step whose result counts."""
        owner = await self._owner(await Actor.open_key_value_store(name=self.name))
        if not owner or owner.get("runId") != self.run_id:
            raise IncrementalError(
                f"Another run ({(owner or {}).get('runId')}) claimed the incremental job {self.name!r} while this run "
                "worked on it: this run stops without delivering (its dataset does not count)."
            )

    def _busy(self, owner: dict[str, Any]) -> IncrementalError:
        return IncrementalError(
            f"Another run ({owner.get('runId')}) is working on the incremental job {self.name!r} "
            f"(waited {self._wait_secs} s, waitForPreviousRunSecs): this run stops without writing anything. "
            "Schedule the runs further apart, or raise waitForPreviousRunSecs."
        )

    async def begin(self, run: ResumableRun) -> None:
        """After the state record is restored: settle the last run's delivery, and start a new pass if the last
        one ended. A resumed run (migrated, resurrected) goes on as it was."""
        job = run.state["incremental"] = _checked_job({**JOB_DEFAULTS, **run.state["incremental"]}, self.name, run)
        run.fence = self._check_still_the_owner  # before every save of the job's record, so before every push
        run.status_message.going_on = "The next run of the incremental job goes on from there, and delivers it."
        run.status_message.counted_from = job["startPushed"]
        if not self.new_run:
            await self._reconcile_delivery(run)
            return
        delivery = job["delivery"]
        if delivery is not None:
            succeeded = await _succeeded(delivery)
            job["delivered"] = delivery["from"] + (delivery["copied"] if succeeded else 0)
            job["delivery"] = None
        went_on = "starts" if run.finished or job["pass"] == 0 else "goes on in"
        if not run.finished and job["pass"] and not run.crawl and job["ascending"]:
            # A pass an earlier run left half-done, in a source served in the order of the values: start a new one
            # from the highest value read, not from an offset into a list that has changed since.
            self._fold_in_the_landed(run)
            went_on = "starts"
            self._next_pass(run)
        elif run.finished:
            self._next_pass(run)
        elif job["pass"] == 0:
            job["pass"] = 1
        elif not run.crawl:
            Actor.log.warning(
                "The source does not serve its items in the order of their incrementalField values: this run goes "
                "on at the offset the last one reached, and items that moved in the list since may be missed. Sort "
                "the source by that field, ascending, if the API can."
            )
        job.update(run=self.run_id, startPushed=run.pushed, startPages=run.state["pages"])
        run.status_message.counted_from = run.pushed
        run.state["reboots"] = 0
        since = f", items past {job['from']!r}" if job["from"] is not None else ""
        Actor.log.info(f"Incremental job {self.name!r}: this run {went_on} pass {job['pass']}{since}.")
        if handed := run.pushed - job["delivered"]:
            Actor.log.info(f"{handed} items of earlier runs (failed, or cut short) are delivered by this run too.")
        await run.persist()

    def _next_pass(self, run: ResumableRun) -> None:
        job = run.state["incremental"]
        if job["max"] is not None:
            ties = job["atMax"] if job["max"] != job["from"] else [*job["ties"], *job["atMax"]]
            job.update({"from": job["max"], "ties": sorted(set(ties))})
        job.update(max=None, atMax=[], failedBefore=job["failedPages"], failedPages=[], ascending=True, last=None)
        job.update(marked=[], param="")
        job["pass"] += 1
        run.state.update(offset=0, cursor=None, skip=0, finished=False, cursorsSeen="", pages=0, failed=0)

    def _fold_in_the_landed(self, run: ResumableRun) -> None:
        """The items of the last push that landed (found by the restore) count as read: their values go into the
        pass's highest, and the marker is done with."""
        job, landed = run.state["incremental"], len(run.landed)
        for value, key in job["marked"][:landed]:
            order = 1 if job["max"] is None else _order(value, job["max"], "incrementalField")
            if order > 0:
                job.update(max=value, atMax=[key])
            elif order == 0 and key not in job["atMax"]:
                job["atMax"].append(key)
        run.state.update(pushed=run.pushed + landed, pending=0)
        run.landed = ledger.Landed([])

    def revisits(self, run: ResumableRun, labels: list[str]) -> Revisits:
        """A crawl's pass: which requests it loads again."""
        job = run.state["incremental"]
        return Revisits(job["pass"], frozenset(labels), job["startPages"], tuple(job["failedBefore"]))

    async def deliver(self, run: ResumableRun) -> None:
        """Push the job's items since the last successful run's delivery into this run's default dataset, exactly
        once (a migration during the copy goes on after the restart); the run's maximum charge may cut it short,
        the next run then delivers the rest."""
        await self._check_still_the_owner()
        job = run.state["incremental"]
        delivery = job["delivery"]
        if delivery is None:
            delivery = job["delivery"] = {
                "run": self.run_id,
                "from": job["delivered"],
                "to": run.pushed,
                "copied": 0,
                "pending": 0,
                "done": False,
            }
            await run.persist()
        source = await Actor.open_dataset(name=self.name)
        while not run.stopping and (start := delivery["from"] + delivery["copied"]) < delivery["to"]:
            batch = (await source.get_data(offset=start, limit=min(DELIVERY_BATCH, delivery["to"] - start))).items
            if not batch:
                raise IncrementalError(
                    f"The dataset {self.name!r} holds fewer items than its job's state record says: it was emptied "
                    "or replaced. Delete the key-value store of that name too, to start the job over."
                )
            async with run.commit_lock:
                delivery["pending"] = len(batch)
                await run.persist()
                pushed = await ledger.push(batch, at=delivery["copied"])
                delivery.update(copied=delivery["copied"] + pushed, pending=0)
            if pushed < len(batch):
                run.stop_soon("charge limit")
        if not run.stopping or run.stopping == "charge limit":
            delivery["done"] = True
        await run.persist()
        if delivery["done"]:  # the job is free for the next run, wherever it runs (its last write but the exit's)
            store = await Actor.open_key_value_store(name=self.name)
            await store.set_value(OWNER_KEY, {**_owner_record(self.run_id), "released": True})
        new = delivery["to"] - job["startPushed"]
        handed = delivery["to"] - delivery["from"] - new
        run.status_message.done = self._done_message(delivery["copied"], new, handed, run.stopping == "charge limit")
        if run.crawl and (failed := run.state["failed"]):
            pages = f"{failed} page{'s' if failed > 1 else ''}"
            run.status_message.add_note(
                f"{pages} of this pass failed after all retries (see the log): the next pass loads them again."
            )

    def _done_message(self, copied: int, new: int, handed: int, charge_limit: bool) -> str:
        job = f"incremental job {self.name!r}"
        if charge_limit:
            return (
                f"Stopped at the run's maximum total charge: {copied} of {new + handed} items delivered; the next run "
                f"delivers the rest ({job})."
            )
        if not copied and not new and not handed:
            return f"Done: nothing new since the last run ({job}); the dataset is empty."
        parts = f"{new} new" + (f", {handed} left by earlier runs (failed, or cut short)" if handed else "")
        return f"Done: {copied} items delivered ({parts}); {job}."

    async def _reconcile_delivery(self, run: ResumableRun) -> None:
        """A resumed run that was copying: the items of its last push that landed count as copied."""
        delivery = run.state["incremental"]["delivery"]
        if delivery is None or not delivery["pending"]:
            return
        start = delivery["from"] + delivery["copied"]
        source = await Actor.open_dataset(name=self.name)
        expected = (await source.get_data(offset=start, limit=delivery["pending"])).items
        landed = await ledger.items_after(delivery["copied"], delivery["pending"], settle=True)
        if not all(ledger.same_item(a, b) for a, b in zip(expected, landed, strict=False)):
            raise IncrementalError(
                "The run's dataset holds items the delivery did not push: something else writes to it."
            )
        delivery.update(copied=delivery["copied"] + len(landed), pending=0)


@dataclass(frozen=True)
class Revisits:
    """The pages an incremental crawl loads again in each pass: its start URLs, and the requests with one of
    `labels` (listings, where new links appear). Their unique keys get the pass's prefix (REVISIT), so the job's
    request queue takes them again in each pass; every other page is saved once in the job's life (one that failed
    for good is loaded again in the next pass)."""

    pass_number: int
    labels: frozenset[str]
    start_pages: int  # the pass's pages saved when this run started
    failed_before: tuple[str, ...] = ()  # the unique keys of the last pass's pages that failed for good

    def key(self, key: str) -> str:
        return f"{REVISIT_PREFIX}{self.pass_number}|{key}"

    async def failed_before_again(self, queue: Any) -> list[Request]:
        """The last pass's pages that failed for good (after their retries), as requests of this pass: the queue
        holds them as handled, and a page that was never saved is loaded again, once a pass."""
        again = []
        for key in self.failed_before:
            if (request := await queue.get_request(key)) is None:
                continue
            own_key = key[revisit.end() :] if (revisit := REVISIT_KEY.match(key)) else key
            update = {"unique_key": self.key(own_key), "handled_at": None, "retry_count": 0}
            request = request.model_copy(deep=True, update=update)
            request.state = RequestState.UNPROCESSED
            if request.session_rotation_count:
                request.session_rotation_count = 0
            again.append(request)
        return again

    def of(self, request: Request) -> Request:
        """`request`, with the pass's key if it has one of the labels and not yet a pass's key."""
        if request.label not in self.labels or REVISIT_KEY.match(request.unique_key):
            return request
        return request.model_copy(update={"unique_key": self.key(request.unique_key)})

    def max_pages(self, max_pages: int | None) -> int | None:
        """The limit on the pass's pages that is maxRequestsPerCrawl (None: none) for this run."""
        return None if max_pages is None else self.start_pages + max_pages


class NewItems:
    """Which source items of a JSON API are new for this pass (past its `from` value, or at it and not among its
    `ties`), and the highest value read past, kept in the job's state for the next pass."""

    def __init__(self, run: ResumableRun, actor_input: Any) -> None:
        self._job = run.state["incremental"]
        self._field, self._primary_key = actor_input.incremental_field, actor_input.primary_key
        self._param, start = actor_input.incremental_param, actor_input.incremental_start
        since = self._job["from"]
        self.since = since if since is not None or not start else start  # the first pass starts at incrementalStart
        self._ties = set(self._job["ties"] if since is not None else [])
        self._start_pushed = self._job["startPushed"]
        self._at_max = set(self._job["atMax"])
        if run.offset or run.state["cursor"] is not None:  # going on in a pass: the same list must be read
            if self._job["param"] != self._param:
                raise ledger.StateError(
                    f"incrementalParam changed ({self._job['param']!r} to {self._param!r}) while a pass over the "
                    "source was under way: the saved position would point into another list. Restore it until "
                    "the pass has ended."
                )
        else:
            self._job["param"] = self._param

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
            return transform(item) if self.is_new(item) else None

        return new_items_only

    def marking(self, items: list[Any]) -> None:
        """Note the value and key of each item of the push about to be saved (its marker's): a new run that finds
        them landed counts them as read (IncrementalJob._fold_in_the_landed)."""
        self._job["marked"] = [[self._value(item), self._key(item)] for item in items]

    def read_past(self, items: list[Any]) -> None:
        """Note the items the run has read past (committed, or cut by a limit): the highest value among them, and
        whether they came in the order of their values."""
        job = self._job
        for item in items:
            if not self.is_new(item):
                continue
            value, key = self._value(item), self._key(item)
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
        return value

    def _key(self, item: Any) -> str:
        key = _at(item, self._primary_key)
        if key is None:
            raise ledger.StateError(f"A source item has no primaryKey {self._primary_key!r}: {_preview(item)}")
        return json.dumps(key, sort_keys=True)

    def _compare(self, a: Any, b: Any) -> int:
        return _order(a, b, self._field)


def _order(a: Any, b: Any, field: str) -> int:
    """-1, 0 or 1 as `a` is below, at or above `b`: as numbers when either is one or both are numbers written
    as text (ids "9" and "10"; incrementalStart is text), else as text (ISO 8601 timestamps in one format)."""
    if isinstance(a, str) and isinstance(b, str) and not (_number(a) is not None and _number(b) is not None):
        return (a > b) - (a < b)
    x, y = _number(a), _number(b)
    if x is None or y is None:
        text = a if x is None else b
        raise ledger.StateError(
            f"incrementalField {field!r} holds numbers and the text {text!r}: values must be all numbers or all "
            "text (ISO 8601 timestamps in one format compare as text)"
        )
    return (x > y) - (x < y)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value) if isinstance(value, str) and value.strip() else None
    except ValueError:
        return None


def _checked_job(job: dict[str, Any], name: str, run: ResumableRun) -> dict[str, Any]:
    """The job's part of the state record, or IncrementalError naming what is wrong in it (its types, and counts
    that must fit the job's items)."""
    value = (str, int, float, type(None))
    counts = ("pass", "startPushed", "startPages", "delivered")
    wrong = [key for key in counts if type(job[key]) is not int or job[key] < 0]
    wrong += [key for key in ("from", "max", "last") if isinstance(job[key], bool) or not isinstance(job[key], value)]
    wrong += [
        key
        for key in ("ties", "atMax", "failedPages", "failedBefore")
        if not isinstance(job[key], list) or not all(isinstance(entry, str) for entry in job[key])
    ]
    wrong += [
        key
        for key, kind in (("run", (str, type(None))), ("ascending", bool), ("param", str))
        if not isinstance(job[key], kind)
    ]
    if not isinstance(job["marked"], list) or not all(isinstance(m, list) and len(m) == 2 for m in job["marked"]):
        wrong.append("marked")
    wrong += [
        key
        for key in ("versions", "pendingVersions")
        if not isinstance(job[key], dict) or not all(isinstance(v, str) for v in job[key].values())
    ]
    delivery = job["delivery"]
    if delivery is not None and not (
        isinstance(delivery, dict)
        and isinstance(delivery.get("run"), str)
        and all(type(delivery.get(key)) is int and delivery[key] >= 0 for key in ("from", "to", "copied", "pending"))
        and isinstance(delivery.get("done"), bool)
    ):
        wrong.append("delivery")
    if not wrong and not job["delivered"] <= run.pushed:
        wrong.append("delivered")
    if not wrong and delivery is not None:
        start, end = delivery["from"], delivery["to"]
        if not start <= end <= run.pushed or delivery["copied"] > end - start:
            wrong.append("delivery")
    if wrong:
        raise IncrementalError(
            f"The state record {ledger.STATE_KEY} of the incremental job {name!r} (its key-value store) has invalid "
            f"values in 'incremental' ({', '.join(wrong)}): fix them, or delete the job's storages named {name!r} "
            "to start it over."
        )
    return job


def _at(item: Any, path: str) -> Any:
    for key in path.split("."):
        item = item.get(key) if isinstance(item, dict) else None
    return item


def _preview(item: Any) -> str:
    text = json.dumps(item, default=str)
    return text if len(text) <= 200 else f"{text[:200]}..."


async def _this_run_id() -> str:
    """The platform's run ID; locally an ID of this run kept in its default store (a resumed run keeps it)."""
    if Actor.configuration.actor_run_id:
        return Actor.configuration.actor_run_id
    saved = await (await Actor.open_key_value_store()).get_value(RUN_ID_KEY)
    return saved if isinstance(saved, str) else f"local-{uuid.uuid4().hex[:12]}"


def _owner_record(run_id: str) -> dict[str, Any]:
    return {"runId": run_id, "host": socket.gethostname(), "pid": os.getpid(), "started": _started(os.getpid())}


async def _still_running(owner: dict[str, Any]) -> bool:
    """Whether the run in the owner record may still write to the job: on the platform its status says (a run that
    released the job after its delivery has not succeeded until it exits 0: the next run waits to know whether to
    deliver its items again); locally its process (on this machine, the same process: its start time, where the
    system tells it), unless it released the job (locally a run has succeeded once its delivery ended)."""
    if Actor.is_at_home():
        return await _status_of(str(owner.get("runId"))) not in ENDED
    if owner.get("released"):
        return False
    pid = owner.get("pid")
    if owner.get("host") != socket.gethostname() or not isinstance(pid, int):
        return True  # another machine's run on this storage: cannot tell, so it may
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _started(pid) == owner.get("started")


def _started(pid: int) -> int | None:
    """When the process started (Linux: clock ticks since boot), to tell it from a later one with its PID."""
    with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[19])
    return None


async def _succeeded(delivery: dict[str, Any]) -> bool:
    """Whether the run of a delivery succeeded: the platform says so; locally, its delivery ended."""
    if Actor.is_at_home():
        return await _status_of(str(delivery["run"])) == "SUCCEEDED"
    return bool(delivery["done"])


async def _status_of(run_id: str) -> str:
    info = await Actor.apify_client.run(run_id).get()
    status = info.status if info is not None else "FAILED"
    return str(getattr(status, "value", status))
