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

The claim. A run claims the job in its OWNER record (its run, host and process), and a later run waits while that
run may still write into the job: on the platform until the run has ended (its status); locally, where nobody keeps
a run's status, until it released the job at the end of its delivery, its process on this host ended, or its
lease lapsed. The lease: a run renews OWNER RENEWALS_PER_LEASE times a LEASE_SECS while it lives, so a later run
takes the job once the record has stayed the same for LEASE_SECS on its own clock (or its renewal time, another
host's clock, lies more than LEASE_SECS and CLOCK_SKEW_SECS back): a run that died where its process cannot be
seen (another container on the same storage) frees the job one lease after its death. In turn a run writes into
the job only while its own last renewal is less than half a lease old, and finds OWNER still naming it before every
save of the job's record, so before every push (the fence, `_check_still_the_owner`): a run paused past its lease
stops at its next write, without delivering. A key-value store has no compare-and-set: a pause of more than half a
lease falling exactly between that check and the write after it is the case left open. The request queue's unique
keys, deduplicated atomically on the platform, would not serve better: a key once added stays (a claimant that
died would hold the job for good), locally the file-system queue does not deduplicate across processes, and
nothing would stop a run that lost the claim from writing.
The job's state record is written by hand only, past the fence (not by the SDK's autosave, which writes at every
PERSIST_STATE and at exit past any check: state_record.py), and not at all once the run released the job: a run
paused between its release and its exit goes on to exit 0 (its delivery counted) without touching the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apify import Actor

from . import ledger
from .ledger import StateError

if TYPE_CHECKING:
    from collections.abc import Callable

    from .resumable import ResumableRun

OWNER_KEY = "OWNER"  # in the job's key-value store: the run working on the job
RUN_ID_KEY = "INCREMENTAL_RUN_ID"  # in the run's default store: its ID (locally made), once it has claimed the job
# A run that read the owner record at the same moment has written its own by then (an API call at home, a file here).
CLAIM_SETTLE_SECS = 2.0
LOCAL_CLAIM_SETTLE_SECS = 0.2
POLL_SECS = 1.0
# Locally a run's claim lapses LEASE_SECS after its last renewal; it renews RENEWALS_PER_LEASE times a lease. Two
# hosts' clocks may differ by CLOCK_SKEW_SECS when a waiting run reads the renewal time in the record.
LEASE_SECS = 30.0
RENEWALS_PER_LEASE = 6
CLOCK_SKEW_SECS = 10.0
DELIVERY_BATCH = 1000  # items copied from the job's dataset to the run's in one push
ACCOUNT_SALT, ACCOUNT_HASH_ROUNDS = b"incremental-job-account", 200_000  # the account's part of a job's name
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
    "passStart": 0,  # the job's items when this pass started (those after it are the pass's)
    "reread": False,  # JSON: this pass is read again from its start, its items the job has skipped (left half-done)
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


def job_name(actor_input: Any) -> str:
    """The name of the job's storages: datasetName, or one made of the Actor, the source and the account it is read
    as (two tasks with different sources, or whose headers or credentials differ, never share a job; the same input
    in another Actor neither). The account goes in through a slow salted hash, so that the name, which is shown,
    does not let a short credential be guessed quickly; a credential changed between runs names another job."""
    if actor_input.dataset_name:
        return actor_input.dataset_name
    actor = Actor.configuration.actor_id or "local"
    fields: dict[str, Any] = {"actor": actor, "source": actor_input.source()}
    if account := actor_input.account():  # (none: the name jobs had before accounts counted)
        secret = json.dumps(account, sort_keys=True).encode()
        fields["account"] = hashlib.pbkdf2_hmac("sha256", secret, ACCOUNT_SALT, ACCOUNT_HASH_ROUNDS).hex()
    name = f"incremental-{hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]}"
    if account:
        Actor.log.info(
            f"The name of the incremental job {name!r} covers the request headers and credentials (hashed): with "
            "another key or token the job is another one. To keep this job when a credential changes, set "
            f"datasetName to {name!r}."
        )
    return name


class IncrementalJob:
    """The job as one run sees it: its name, whose run works on it, its passes and the run's delivery."""

    def __init__(
        self, name: str, run_id: str, wait_secs: float, half_done: Callable[[ResumableRun], bool] | None = None
    ) -> None:
        """`half_done`: the kind's say on a pass an earlier run left half-done (it may move the run's position):
        True to start a new one instead."""
        self.name, self.run_id, self._wait_secs, self._half_done = name, run_id, wait_secs, half_done
        self.new_run = True  # this run did not work on the job before (it is not a resumed one)
        self.code_may_change = False
        self._lease: _Lease | None = None  # locally, once claimed: the claim this run renews while it lives

    @classmethod
    async def claim(
        cls, actor_input: Any, *, half_done: Callable[[ResumableRun], bool] | None = None
    ) -> IncrementalJob:
        """The job of `actor_input`, claimed for this run once no other run works on it (waiting for one that
        does at most waitForPreviousRunSecs). Raises IncrementalError, having written nothing else, if another
        run still works on it. `half_done`: see __init__."""
        job = cls(job_name(actor_input), await _this_run_id(), actor_input.wait_for_previous_run_secs, half_done)
        await job._claim()
        Actor.log.info(f"Incremental job {job.name!r}: its state, items (and queue) are kept in storages so named.")
        return job

    async def _claim(self) -> None:
        store = await Actor.open_key_value_store(name=self.name)
        deadline = time.monotonic() + self._wait_secs
        watch = _LeaseWatch()
        while (owner := await self._owner(store)) and owner.get("runId") != self.run_id:
            if not await _may_still_write(owner, watch):
                break
            if time.monotonic() >= deadline:
                raise self._busy(owner, watch)
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
        claimed_at = time.monotonic()
        await store.set_value(OWNER_KEY, _owner_record(self.run_id))
        await asyncio.sleep(CLAIM_SETTLE_SECS if Actor.is_at_home() else LOCAL_CLAIM_SETTLE_SECS)
        owner = await self._owner(store)
        if not owner or owner.get("runId") != self.run_id:
            raise self._busy(owner or {})
        if not Actor.is_at_home():  # (on the platform the run's status tells whether it still runs)
            self._lease = _Lease(self, claimed_at)
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
        compare-and-set: a run stalled between reading the owner and writing its own could have), or this run's
        lease lapsed (it was paused, or its storage stalled: a later run may be taking the job over). Checked before
        every save of the job's record, and again before the delivery, the step whose result counts."""
        if self._lease is not None and not self._lease.held():
            raise IncrementalError(
                f"This run's claim on the incremental job {self.name!r} lapsed (not renewed for "
                f"{LEASE_SECS / 2:g} s: the run was paused, or its storage stalled), so another run may take the job "
                "over: this run stops without delivering (its dataset does not count)."
            )
        owner = await self._owner(await Actor.open_key_value_store(name=self.name))
        if not owner or owner.get("runId") != self.run_id:
            raise IncrementalError(
                f"Another run ({(owner or {}).get('runId')}) claimed the incremental job {self.name!r} while this run "
                "worked on it: this run stops without delivering (its dataset does not count)."
            )

    def _busy(self, owner: dict[str, Any], watch: _LeaseWatch | None = None) -> IncrementalError:
        where = lapse = ""
        if watch is not None and not Actor.is_at_home():  # (on the platform it ends as its status says)
            where = f" on {owner['host']}" if isinstance(owner.get("host"), str) else ""
            lapses_at = datetime.fromtimestamp(time.time() + max(0.0, watch.lapses_in(owner)), UTC)
            lapse = (
                " It renews its claim while it lives: if it has died, a later run takes the job over once its claim "
                f"has lapsed, at {lapses_at:%Y-%m-%d %H:%M:%S} UTC."
            )
        return IncrementalError(
            f"Another run ({owner.get('runId')}){where} is working on the incremental job {self.name!r} "
            f"(waited {self._wait_secs} s, waitForPreviousRunSecs): this run stops without writing anything.{lapse} "
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
            if job["reread"] and job["delivery"] is None and not run.finished and self._half_done is not None:
                self._half_done(run)  # read again from its start: what was matched before the restart is not known
            return
        delivery = job["delivery"]
        if delivery is not None:
            succeeded = await _succeeded(delivery)
            job["delivered"] = delivery["from"] + (delivery["copied"] if succeeded else 0)
            job["delivery"] = None
        went_on = "starts" if run.finished or job["pass"] == 0 else "goes on in"
        if not run.finished and job["pass"] and self._half_done is not None and self._half_done(run):
            went_on = "starts"  # the kind starts a new pass rather than going on in a list that has changed since
            self._next_pass(run)
        elif run.finished:
            self._next_pass(run)
        elif job["pass"] == 0:
            job["pass"] = 1
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
        job.update(marked=[], param="", passStart=run.pushed, reread=False)
        job["pass"] += 1
        to_the_pass_start(run)
        run.state.update(finished=False, failed=0)

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
        if delivery["done"]:  # the job is free for the next run, wherever it runs
            await self._release(run)
        new = delivery["to"] - job["startPushed"]
        handed = delivery["to"] - delivery["from"] - new
        run.status_message.done = self._done_message(delivery["copied"], new, handed, run.stopping == "charge limit")
        if run.crawl and (failed := run.state["failed"]):
            pages = f"{failed} page{'s' if failed > 1 else ''}"
            run.status_message.add_note(
                f"{pages} of this pass failed after all retries (see the log): the next pass loads them again."
            )

    async def _release(self, run: ResumableRun) -> None:
        """Once the delivery's end is saved (the run's last write into the job): the run writes the job's record no
        more, and frees the job for the next run if it still holds it. Never raises: the delivery has counted, so
        the run must not fail now (a claim not released lapses with its lease)."""
        run.stop_writing()
        if self._lease is not None:
            self._lease.end()  # (a renewal would take the release back)
            if not self._lease.held():
                return  # lapsed: another run may be claiming the job, whose OWNER must stay
        try:
            store = await Actor.open_key_value_store(name=self.name)
            owner = await store.get_value(OWNER_KEY)
            if isinstance(owner, dict) and owner.get("runId") == self.run_id:
                await store.set_value(OWNER_KEY, {**_owner_record(self.run_id), "released": True})
        except Exception as error:
            Actor.log.warning(f"Could not release the incremental job {self.name!r} (its claim lapses): {error}")

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


def to_the_pass_start(run: ResumableRun) -> None:
    """Move the run's position to the start of the pass (the source read from its first page)."""
    run.state.update(offset=0, cursor=None, skip=0, cursorsSeen="", pages=0)


def _checked_job(job: dict[str, Any], name: str, run: ResumableRun) -> dict[str, Any]:
    """The job's part of the state record, or IncrementalError naming what is wrong in it (its types, and counts
    that must fit the job's items)."""
    value = (str, int, float, type(None))
    counts = ("pass", "startPushed", "startPages", "delivered", "passStart")
    wrong = [key for key in counts if type(job[key]) is not int or job[key] < 0]
    wrong += [key for key in ("from", "max", "last") if isinstance(job[key], bool) or not isinstance(job[key], value)]
    wrong += [
        key
        for key in ("ties", "atMax", "failedPages", "failedBefore")
        if not isinstance(job[key], list) or not all(isinstance(entry, str) for entry in job[key])
    ]
    wrong += [
        key
        for key, kind in (("run", (str, type(None))), ("ascending", bool), ("reread", bool), ("param", str))
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
    wrong += [key for key in ("delivered", "passStart") if key not in wrong and not job[key] <= run.pushed]
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


async def _this_run_id() -> str:
    """The platform's run ID; locally an ID of this run kept in its default store (a resumed run keeps it)."""
    if Actor.configuration.actor_run_id:
        return Actor.configuration.actor_run_id
    saved = await (await Actor.open_key_value_store()).get_value(RUN_ID_KEY)
    return saved if isinstance(saved, str) else f"local-{uuid.uuid4().hex[:12]}"


def _owner_record(run_id: str) -> dict[str, Any]:
    """OWNER as this run writes it when it claims the job and renews its claim (`renewedAt`: this host's clock)."""
    pid = os.getpid()
    host = socket.gethostname()
    return {"runId": run_id, "host": host, "pid": pid, "started": _started(pid)} | {
        "renewedAt": time.time(),
        "leaseSecs": LEASE_SECS,
    }


class _Lease:
    """This run's claim on the job, locally: renewed in OWNER while the run lives, until the run releases the job or
    finds it lost (another run's record there)."""

    def __init__(self, job: IncrementalJob, claimed_at: float) -> None:
        self._job = job
        self._renewed_at = claimed_at  # when the claim's last renewal was written (just before), on this run's clock
        self._renewing = asyncio.create_task(self._renew_while_held())

    def held(self) -> bool:
        """Whether this run may still write into the job: its last renewal is less than half a lease old (a later
        run takes the job over only a whole lease after it)."""
        return time.monotonic() - self._renewed_at < LEASE_SECS / 2

    def end(self) -> None:
        self._renewing.cancel()

    async def _renew_while_held(self) -> None:
        store = await Actor.open_key_value_store(name=self._job.name)
        while True:
            await asyncio.sleep(LEASE_SECS / RENEWALS_PER_LEASE)
            try:
                owner = await store.get_value(OWNER_KEY)
                if not isinstance(owner, dict) or owner.get("runId") != self._job.run_id or not self.held():
                    return  # lost, or lapsed meanwhile: the fence stops the run at its next write
                renewing_at = time.monotonic()
                await store.set_value(OWNER_KEY, _owner_record(self._job.run_id))
                self._renewed_at = renewing_at
            except Exception as error:  # tried again at the next renewal (the fence stops the run if it lapses)
                Actor.log.warning(f"Could not renew the claim on the incremental job {self._job.name!r}: {error}")


class _LeaseWatch:
    """A waiting run's view of the lease of the run in OWNER: it lapses once the record has stayed the same for its
    lease on this run's clock, or once its renewal time (the other host's clock) lies more than the lease and
    CLOCK_SKEW_SECS back."""

    def __init__(self) -> None:
        self._seen: str | None = None
        self._since = 0.0

    def lapses_in(self, owner: dict[str, Any]) -> float:
        """Seconds until the lease of the run in `owner` lapses (none left: it has)."""
        seen = json.dumps(owner, sort_keys=True)
        if seen != self._seen:
            self._seen, self._since = seen, time.monotonic()
        lease = owner.get("leaseSecs")
        if isinstance(lease, bool) or not isinstance(lease, int | float) or not 0 < lease <= 86400:
            lease = LEASE_SECS  # a record of an older version, or a bad one
        left = lease - (time.monotonic() - self._since)
        renewed_at = owner.get("renewedAt")
        if isinstance(renewed_at, int | float) and not isinstance(renewed_at, bool):
            left = min(left, renewed_at + lease + CLOCK_SKEW_SECS - time.time())
        return left


async def _may_still_write(owner: dict[str, Any], watch: _LeaseWatch) -> bool:
    """Whether the run in the owner record may still write into the job. On the platform its status says (a run that
    released the job after its delivery has not succeeded until it exits 0: the next run waits to know whether to
    deliver its items again). Locally not if it released the job (locally a run has succeeded once its delivery
    ended), nor if its process on this host ended (the same process: its start time, where the system tells it),
    nor once its lease lapsed (it died where its process cannot be seen, or was paused: it then stops itself)."""
    if Actor.is_at_home():
        return await _status_of(str(owner.get("runId"))) not in ENDED
    if owner.get("released"):
        return False
    pid = owner.get("pid")
    if owner.get("host") == socket.gethostname() and isinstance(pid, int) and not _lives(pid, owner.get("started")):
        return False
    return watch.lapses_in(owner) > 0


def _lives(pid: int, started: Any) -> bool:
    """Whether the process `pid` of this host that started at `started` still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _started(pid) == started


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
