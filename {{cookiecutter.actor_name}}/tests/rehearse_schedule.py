"""Rehearse a schedule (JSON kind): several runs of one incremental job, as on the platform (the stand-in in
platform_standin.py: each run with its own run ID and default storages, the job's named storages shared, the
platform telling how each run ended), against a local source that gets new items between runs (changing_source.py:
some at the highest `updated` value so far, boundary ties, some past it, and new versions of items delivered
before), with a disruption in any run. It reports each run's status and delivered count, then the checks of
incremental runs: the default datasets of the runs that succeeded, together, hold every item version exactly
once, and the job's dataset holds each once, in source order. Run through `python tests/rehearse.py --schedule N`.

Disruptions (one per run, drawn from --seed unless --disruptions says them):
  none            the run goes through;
  kill            kill -9 for good at a random instant once it works (FAILED: never resumed);
  migrate         `migrating` at a random instant once it works: it reboots and goes on in the same run;
  abort           aborted gracefully at a random instant once it works, as at its timeout (ABORTED);
  killed-at-done  killed after its status said Done and before it exits (FAILED: its delivery does not count);
  overlap         started while the run before still works (the schedule fired early): it waits for it.
If the last run did not succeed, one more run goes through and hands over (as the next scheduled run would).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from changing_source import SINCE_PARAM, ChangingSource
from harness import Patience, Storage, duplicates_and_missing, package_name
from platform_standin import TERMINAL, PlatformStandIn

DISRUPTIONS = ("none", "kill", "migrate", "abort", "killed-at-done", "overlap")
JOB = "rehearsal-job"  # datasetName of the rehearsal's job
ENTRY = "tests/linger_at_exit.py"  # the Actor at home, which can linger after its Done (LINGER_SECS)
LINGER_SECS = "60"  # how long a run to be killed at its Done lingers (it is killed long before)


@dataclass
class ScheduledRun:
    disruption: str
    run_id: str = ""
    status: str = ""
    delivered: list[Any] = field(default_factory=list)
    message: str = ""


@dataclass
class ScheduleRehearsal:
    """The runs of the rehearsal and every version the source has served."""

    args: argparse.Namespace
    platform: PlatformStandIn
    source: ChangingSource
    chance: random.Random
    runs: list[ScheduledRun] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)  # every version added, in turn

    async def play(self, disruptions: list[str]) -> None:
        actor_input = self.source.input_for(pageSize=self.args.page_size, incrementalParam=SINCE_PARAM, datasetName=JOB)
        started: str | None = None  # a run started early (overlap) by the run before it
        for number, disruption in enumerate(disruptions):
            if started is None:
                self._change_the_source(first=number == 0)
            run = ScheduledRun(disruption)
            self.runs.append(run)
            env = {"LINGER_SECS": LINGER_SECS} if disruption == "killed-at-done" else {}
            run.run_id = started or self.platform.start_scheduled_run(actor_input, entry=ENTRY, **env)
            started = None
            await self._working(run.run_id)
            if number + 1 < len(disruptions) and disruptions[number + 1] == "overlap":
                # New items only while a run reads: a changed item moves to the end of the list and shifts the
                # items after it under the reader's offset (offset paging of a source written to meanwhile: see
                # the README); items change between runs.
                self._change_the_source(first=False, changes=False)
                started = self.platform.start_scheduled_run(actor_input, entry=ENTRY)
            await self._disrupt(run)
        if self.runs[-1].status != "SUCCEEDED":
            run = ScheduledRun("none (hands over)")
            self.runs.append(run)
            run.run_id = self.platform.start_scheduled_run(actor_input, entry=ENTRY)
            await self._disrupt(run)

    def _change_the_source(self, *, first: bool, changes: bool = True) -> None:
        """New items (some tied with the highest value so far), and new versions of items the job has read."""
        highest = max((item["updated"] for item in self.source.items.values()), default=1)
        if not first and changes:
            read = {json.dumps(item, sort_keys=True) for item in self.platform.named_storage(JOB).items()}
            current = [item for item in self.source.items.values() if json.dumps(item, sort_keys=True) in read]
            for item in self.chance.sample(current, min(self.args.changes, len(current))):
                highest += 1
                self.versions.append(self.source.touch(item["id"], updated=highest))
        count = self.chance.randint(self.args.new_items // 2, self.args.new_items)
        tied = self.chance.randint(0, count)
        self.versions += self.source.add(updated=highest, count=tied)
        self.versions += self.source.add(updated=highest + 1, count=count - tied)

    async def _working(self, run_id: str, within: float = 60) -> None:
        """Wait until the run has pushed into the job's dataset (or set its status message, or ended)."""
        job, before = self.platform.named_storage(JOB), self.platform.named_storage(JOB).item_count()
        patience = Patience(within)
        while job.item_count() == before and not patience.spent():
            if self.platform.status_of(run_id) in TERMINAL or self.platform.others[run_id].status_message:
                return
            await asyncio.sleep(0.01)

    async def _disrupt(self, run: ScheduledRun) -> None:
        platform = self.platform
        if run.disruption in ("kill", "migrate", "abort"):
            deadline = time.monotonic() + self.chance.uniform(0, self.args.within)
            while time.monotonic() < deadline and platform.status_of(run.run_id) not in TERMINAL:
                await asyncio.sleep(0.01)
            if platform.status_of(run.run_id) not in TERMINAL:
                if run.disruption == "kill":
                    platform.kill_run(run.run_id)
                elif run.disruption == "abort":
                    platform.abort_run(run.run_id)
                else:
                    await platform.migrate_run(run.run_id)
            else:
                run.disruption += " (ended first)"
        elif run.disruption == "killed-at-done":
            while not (platform.others[run.run_id].status_message or "").startswith(("Done", "Stopped")):
                if platform.status_of(run.run_id) in TERMINAL:
                    break
                await asyncio.sleep(0.01)
            else:
                platform.kill_run(run.run_id)
        run.status = await platform.wait_for_run(run.run_id, within=self.args.timeout)
        run.delivered = platform.default_dataset_items(run.run_id)
        run.message = platform.others[run.run_id].status_message or ""

    def report(self) -> tuple[list[str], bool]:
        """The report's lines, and whether the schedule delivered exactly."""
        transform = importlib.import_module(f"{package_name()}.main").transform
        in_order = sorted(self.versions, key=lambda item: (item["updated"], item["id"]))
        expected = [out for item in in_order if (out := transform(item)) is not None]
        lines, exact = [], True
        for number, run in enumerate(self.runs, start=1):
            lines.append(
                f"run {number:<3}{run.run_id}  {run.disruption:<26}{run.status:<10}{len(run.delivered):>6} delivered"
                f"  {run.message}"
            )
            if run.disruption.startswith(("none", "migrate", "overlap")) or "ended first" in run.disruption:
                exact = exact and run.status == "SUCCEEDED"
        succeeded = [item for run in self.runs if run.status == "SUCCEEDED" for item in run.delivered]
        job = self.platform.named_storage(JOB).items()
        added, changed = len(self.versions) - self._changes(), self._changes()
        lines.append(f"item versions served     {len(expected)} ({added} added, {changed} changed)")
        surplus, missing = duplicates_and_missing(succeeded, expected)
        lines.append(f"succeeded runs together  {len(succeeded)} items: duplicates {surplus}, missing {missing}")
        job_surplus, job_missing = duplicates_and_missing(job, expected)
        order = "yes" if job == expected else "no"
        lines.append(
            f"job dataset {JOB!r}  {len(job)} items: duplicates {job_surplus}, missing {job_missing}, "
            f"in source order {order}"
        )
        exact = exact and surplus == missing == 0 and job == expected and self.runs[-1].status == "SUCCEEDED"
        return lines, exact

    def _changes(self) -> int:
        return sum(1 for item in self.versions if item["name"] != f"item-{item['id']}")


def draw_disruptions(count: int, chance: random.Random) -> list[str]:
    return [chance.choice(DISRUPTIONS[:-1] if number == 0 else DISRUPTIONS) for number in range(count)]


def rehearse_schedule(args: argparse.Namespace, storage: Storage) -> int:
    chance = random.Random(args.seed)
    disruptions = args.disruptions.split(",") if args.disruptions else draw_disruptions(args.schedule, chance)
    if unknown := set(disruptions) - set(DISRUPTIONS):
        print(f"--disruptions: {', '.join(sorted(unknown))} unknown; known: {', '.join(DISRUPTIONS)}")
        return 2
    if disruptions[0] == "overlap":
        print("--disruptions: the first run cannot overlap a run before it")
        return 2

    async def played() -> ScheduleRehearsal:
        with ChangingSource(latency_secs=args.latency) as source:
            async with PlatformStandIn(storage) as platform:
                rehearsal = ScheduleRehearsal(args, platform, source, chance)
                await rehearsal.play(disruptions)
                return rehearsal

    rehearsal = asyncio.run(played())
    lines, exact = rehearsal.report()
    print(f"Schedule rehearsal of {package_name()} ({len(rehearsal.runs)} runs of the job {JOB!r}, seed {args.seed}):")
    print("\n".join(f"  {line}" for line in lines))
    print(f"  storage and logs         {storage.root}, {storage.root.parent / 'runs'}")
    print(
        "RESULT: exact, every item version once across the runs that succeeded, and once in the job's dataset"
        if exact
        else "RESULT: NOT EXACT (see above and the runs' logs)"
    )
    return 0 if exact else 1
