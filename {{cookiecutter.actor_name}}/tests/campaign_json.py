"""The fault campaign's grounds for the JSON kind (campaign.py, campaign_grounds.py), each drawn from a seed:

- `api`: API shapes. A GraphQL Relay source whose endCursor is null once while hasNextPage is true (with
  acceptPartialData, and a partial answer, or not); then a REST source (cursor, Stripe's cursor item or next URLs)
  whose items sit in a top-level `errors` list, read with a bearer token and a secret apiUrl parameter
  that it echoes in its items (a `self` link, a `caller` field) and in its next links (`access_token`), that
  answers one page with a 401 naming the token, and whose run is cut by maxItems inside a page, then resumed with
  maxItems raised and another pageSize. Checks: every item once in source order, the runs end Done, a failure is
  one line and the next run recovers, and no secret in any dataset, record or log.
- `schedule`: incremental schedules, locally: three tasks whose inputs differ only in a header (shops of one
  API), each a job whose items the source serves in another order of `updated`: ascending, descending, or none
  (values written as numbers or as RFC 3339 timestamps with trimmed fractions); new items between runs, maxItems
  cutting passes; runs killed for good, overlapping, paused (SIGSTOP) between their release of the job and their
  exit, killed on another host. Checks: each task's succeeded runs together deliver every item version once.
- `scale-out`: parallelRuns on the stand-in: a worker that fails for good (a page answering 500, no retries) and
  is resurrected once the cause is gone, the coordinator killed four times, one stripe's source ending early (a
  404 inside it, once). Checks: never "Done" over holes; a failed job fails with one line naming it and its
  resurrection finishes it; every item once, in order.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from campaign_grounds import (
    Ended,
    Ground,
    leaks,
    log_of,
    one_line_failure,
    run_locally,
    wait_while_progressing,
)
from harness import (
    TRANSFORM_VARIABLE,
    PaginatedSource,
    Storage,
)
from platform_standin import PlatformStandIn

IDENTITY = {TRANSFORM_VARIABLE: "campaign:transform"}  # the campaign's transform: with no shape, items as served
BEARER = "campaign-bearer-5f1c2e9a7b"
API_KEY = "campaign-apikey-8d3e61"
WAITS = {"STATUS_INTERVAL_SECS": "0.2", "PUSH_SETTLE_SECS": "1", "COORDINATOR_CHECK_SECS": "0.5"}


# --- api: the shapes of APIs -------------------------------------------------------------------------------


@dataclass
class ErrorsListSource(PaginatedSource):
    """PaginatedSource whose cursor and next-URL pages hold their items in a top-level list named `items_key`
    (`errors`: an error-log endpoint, read with itemsPath `errors`)."""

    items_key: str = "data"

    def _page(self, *args: Any) -> tuple[Any, dict[str, str]]:
        body, headers = super()._page(*args)
        if isinstance(body, dict) and "data" in body:
            body = {self.items_key: body.pop("data"), **body}
        return body, headers


def api_ground(seed: int, root: Path) -> Ground:
    chance = random.Random(seed)
    relay = {"partial": chance.random() < 0.5, "pages": chance.randint(4, 8), "page_size": chance.choice([3, 5, 10])}
    style = chance.choice(["cursor", "cursorItem", "nextUrl"])
    page_size = chance.choice([6, 8, 10])
    total = page_size * chance.randint(4, 8) + chance.randint(0, page_size - 1)
    # maxItems ends inside a page (the first, with next URLs: they carry their own page size), past its second item;
    # the run after it reads pages smaller than what the cut page gave (or larger).
    cut = chance.randrange(0, 1 if style == "nextUrl" else total // page_size // 2) * page_size
    cut += chance.randint(2, page_size - 1)
    smaller = chance.random() < 0.8
    rest = {
        "style": style,
        "items_key": "errors",  # a top-level `errors` list of a plain GET (an error-log endpoint) is its items
        "total": total,
        "page_size": page_size,
        "max_items": cut,
        "then_page_size": chance.randint(1, cut % page_size - 1) if smaller else page_size + 3,
        "refused_page": chance.randrange(0, total // page_size) * page_size,
    }
    ground = Ground("api", {"relay": relay, "rest": rest})
    _relay_job(ground, root / "relay", relay, chance)
    _rest_job(ground, root / "rest", rest)
    return ground


def _relay_job(ground: Ground, root: Path, drawn: dict[str, Any], chance: random.Random) -> None:
    total = drawn["page_size"] * drawn["pages"]
    null_at = chance.randrange(0, drawn["pages"] - 1) * drawn["page_size"]  # not the last page: more comes
    # endCursor null once while hasNextPage is true: with acceptPartialData, as its resolver's error (partial data).
    null_cursor = "cursorFailed" if drawn["partial"] else "cursorNull"
    with PaginatedSource(total=total, style="graphqlRelay", graphql_errors={null_at: [null_cursor]}) as source:
        actor_input = source.input_for(pageSize=drawn["page_size"], acceptPartialData=drawn["partial"])
        _runs_to_done(ground, Storage(root / "storage"), [actor_input], "relay", limits=[total])


def _rest_job(ground: Ground, root: Path, drawn: dict[str, Any]) -> None:
    source = ErrorsListSource(
        total=drawn["total"],
        style=drawn["style"],
        items_key=drawn["items_key"],
        faults={drawn["refused_page"]: [401]},
        fault_description=f"the access token {BEARER} has expired",
        echo_request=True,
        next_query={"access_token": BEARER},  # as Facebook's Graph API paging links do
        required_headers={"Authorization": f"Bearer {BEARER}"},
        required_query={"api_key": API_KEY},
    )
    with source:
        actor_input = source.input_for(
            pageSize=drawn["page_size"], maxItems=drawn["max_items"], headers={"Authorization": f"Bearer {BEARER}"}
        )
        actor_input["apiUrl"] += f"?api_key={API_KEY}"
        actor_input["itemsPath"] = drawn["items_key"]
        raised = {**actor_input, "maxItems": 0, "pageSize": drawn["then_page_size"]}
        storage = Storage(root / "storage")
        _runs_to_done(ground, storage, [actor_input, raised], "rest", limits=[drawn["max_items"], drawn["total"]])
        ground.check("; ".join(leaks(root, [BEARER, API_KEY])[:4]), "a secret leaked")


def _runs_to_done(
    ground: Ground,
    storage: Storage,
    inputs: list[dict[str, Any]],
    name: str,
    *,
    limits: list[int],
) -> None:
    """Run the Actor locally with each input in turn until it says Done (a failed run: once more, after checking
    that it failed with one line); then the dataset must hold the source's first `limit` items once, in order."""
    for number, (actor_input, limit) in enumerate(zip(inputs, limits, strict=True)):
        storage.write_input(actor_input)
        for attempt in range(3):
            ended = run_locally(storage, ground, f"{name}-run{number + 1}.{attempt + 1}", **IDENTITY)
            if ended.code == 0:
                break
            ground.check(one_line_failure(ended), f"{name} run {number + 1} failed ({ended.said!r})")
        else:
            ground.problems.append(f"{name} run {number + 1} never ended Done: {ended.said!r}")
            return
        if not ended.said.startswith("Done"):
            ground.problems.append(f"{name} run {number + 1} exit 0 without Done: {ended.said!r}")
        ground.check(_first_items_once(storage.items(), limit), f"{name} after run {number + 1}")


def _first_items_once(items: list[Any], count: int) -> str:
    """What is wrong with a dataset that should hold the source's first `count` items once, in order, by id."""
    ids = [item.get("id") for item in items]
    wanted = list(range(count))
    if ids == wanted:
        return ""
    duplicated = len(ids) - len(set(ids))
    missing = sorted(set(wanted) - set(ids))
    return f"{len(ids)} items, ids {ids[:12]}...: {duplicated} duplicated, missing {missing[:8]}"


# --- schedule: incremental runs of two tasks, locally ------------------------------------------------------

SHOP_HEADER = "X-Shop"
ENTRY = "tests/linger_at_exit.py"  # the Actor, which can pause before its exit (PAUSE_BEFORE_EXIT) or take another host
# Waits a test entry point may shorten (harness.TUNABLE_WAITS): a lease of 10 s (a run that stalls for half of it,
# on a loaded machine, stops and another takes the job over: a draw of its own; a run killed on another host holds
# the job that long).
FAST = {"CLAIM_SETTLE_SECS": "0.2", "LEASE_SECS": "10"}
SCHEDULE_DISRUPTIONS = ("none", "kill", "overlap", "pause", "other-host")
BASE_TIME = datetime.datetime(2026, 1, 1, 10, 0, tzinfo=datetime.UTC)


def stamp(value: int, style: str) -> str:
    """RFC 3339 for `value` halves of a second past BASE_TIME, as Go's encoding/json writes it (fractions trimmed,
    none at all on a whole second, Z) or as Python's isoformat() does (no fraction when it is zero), with Z."""
    at = BASE_TIME + datetime.timedelta(milliseconds=500 * value)
    if style == "python":
        return at.isoformat().replace("+00:00", "Z")
    fraction = f"{at.microsecond:06d}".rstrip("0")
    return at.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def schedule_ground(seed: int, root: Path) -> Ground:
    from changing_source import ORDERS, ChangingSource  # noqa: PLC0415 - the JSON kind's own
    from schedule import Schedule  # noqa: PLC0415

    chance = random.Random(seed)
    # Each shop's order: ascending, none (values drawn in no order), descending; the values of the unordered one
    # numbers or timestamps.
    orders = dict(zip("abc", chance.sample(["field", "id", "newest"], 3), strict=True))
    stamps = chance.choice(["go", "python"])  # the unordered shop's values (the others' are numbers)
    # Three runs of each task (and one more to hand over). The first goes through, cut by maxItems: a pass left
    # half-done, then new items. Every disruption is in some later run of some task, the other later runs drawn.
    # The unordered shop's second run goes through and ends its pass: its next one starts in the same second (I7).
    unordered = next(shop for shop, order in orders.items() if order == "id")
    later = [*SCHEDULE_DISRUPTIONS[1:], chance.choice(SCHEDULE_DISRUPTIONS)]
    chance.shuffle(later)
    plan = {shop: ["none", "none" if shop == unordered else later.pop(), later.pop()] for shop in orders}
    drawn = {
        "orders": orders,
        "stamps": stamps,
        "page_size": chance.choice([2, 3, 5]),
        "waitForPreviousRunSecs": chance.choice([0, 60]),
        "runs": [
            {
                "disruptions": {shop: plan[shop][number] for shop in orders},
                "maxItems": [chance.randint(2, 3), 0, chance.choice([0, chance.randint(2, 5)])][number],
                "new": chance.randint(1 if number < 2 else 0, 6),
            }
            for number in range(3)
        ],
    }
    ground = Ground("schedule", drawn)
    added: dict[str, list[dict[str, Any]]] = {shop: [] for shop in orders}
    highest = dict.fromkeys(orders, 0)  # each shop's: its next items come right after its highest value

    class ShopsSource(ChangingSource):
        """ChangingSource serving each shop's items in the shop's own order."""

        def served(self, since: int | None, account: str | None = None) -> list[dict[str, Any]]:
            items = super().served(since, account)
            return sorted(items, key=ORDERS[orders[account]]) if account in orders else items

    with ShopsSource(order="id", account_header=SHOP_HEADER) as source:  # by id first: the values' types differ

        def add(shop: str, count: int, head: int = 0) -> None:
            """`count` new items of `shop`; in a shop in no order, the first `head` ascending up to the highest of the
            batch, the rest lower (10, 50, 20, 30, 40 read `head` = 2 at a time: the order looks ascending)."""
            timestamp = orders[shop] == "id"  # (the others are sorted by the value)
            # Timestamps: each batch ends on a whole second, so that the next starts half a second later, in the
            # same second ('10:00:05Z', then '10:00:05.5Z').
            count += (highest[shop] + count) % 2 if timestamp and count else 0
            values = [highest[shop] + 1 + n for n in range(count)]
            if orders[shop] == "id":
                chance.shuffle(values)  # new items in no order of their values
                if 1 < head < len(values):
                    rest = sorted(values)[:-1]
                    chance.shuffle(rest)
                    values = [*sorted(rest[: head - 1]), max(values), *rest[head - 1 :]]
            elif values and chance.random() < 0.5:
                values[0] = highest[shop]  # a tie with the highest value so far
            highest[shop] = max([highest[shop], *values])
            for value in values:
                added[shop] += source.add(stamp(value, stamps) if timestamp else value, account=shop)

        class TaskSchedule(Schedule):
            """The runs of one task; its job is the named store its first run that got that far made (the tasks
            share a storage folder)."""

            job = ""
            before: frozenset[str] = frozenset()  # the named stores before the run under way (its job not known yet)

            def job_name(self) -> str:
                if not self.job and len(made := stores() - self.before) == 1:
                    self.job = made.pop()
                return self.job or "(no job yet)"

        def stores() -> set[str]:
            folder = root / "storage" / "key_value_stores"
            return {p.name for p in folder.iterdir() if p.name != "default"} if folder.exists() else set()

        tasks = {}
        for shop in orders:
            add(shop, chance.randint(4, 8), head=drawn["runs"][0]["maxItems"])
            # Two tasks whose inputs differ only in a header: two jobs.
            task_input = source.input_for(pageSize=drawn["page_size"], headers={SHOP_HEADER: shop})
            task_input["waitForPreviousRunSecs"] = drawn["waitForPreviousRunSecs"]
            tasks[shop] = TaskSchedule(Storage(root / "storage"), task_input)
        for number, run in enumerate(drawn["runs"]):
            for shop, schedule in tasks.items():
                schedule.input["maxItems"] = run["maxItems"]
                schedule.before = frozenset(stores())
                _scheduled_run(
                    ground, schedule, run["disruptions"][shop], f"{shop}{number + 1}", root=root, chance=chance
                )
                schedule.job_name()  # found once a run of the task made it
                add(shop, run["new"])
        for shop, schedule in tasks.items():  # the next scheduled run hands over what is left
            schedule.input["maxItems"] = 0
            if _scheduled_run(ground, schedule, "none", f"{shop}-last", root=root, chance=chance) != "succeeded":
                ground.problems.append(f"task {shop}: the last run, undisturbed, did not succeed")
            ground.check(_versions_once(schedule.delivered_by_succeeded_runs(), added[shop]), f"task {shop}")
    return ground


def _scheduled_run(
    ground: Ground, schedule: Any, disruption: str, name: str, *, root: Path, chance: random.Random
) -> str:
    """One run of `schedule` with `disruption`; how it ended ("succeeded", "killed", "failed (N)")."""
    env = {"entry": ENTRY, **FAST, **IDENTITY}
    log_path = root / f"run-{name}.log"
    if disruption == "kill":
        schedule.killed_run(chance, 1.0, **env)
    elif disruption == "other-host":  # another container, another host name, the job's storages mounted
        other = schedule.in_another_container(root / f"host-{name}")
        other.killed_run(chance, 1.0, TEST_HOST_NAME=f"other-host-{name}", **env)
    elif disruption == "overlap":  # the next run starts, in another container, while this one works
        first = schedule.start(log_path=log_path, **env)
        _wait_for_work(schedule, first)
        other = schedule.in_another_container(root / f"overlap-{name}")
        second = other.start(log_path=root / f"run-{name}-overlapping.log", **env)
        _finish(ground, schedule, first, log_path, f"{name}")
        _finish(ground, other, second, root / f"run-{name}-overlapping.log", f"{name} (overlapping)")
    elif disruption == "pause":  # it pauses after it released the job; the next run works meanwhile
        paused = schedule.start(log_path=log_path, PAUSE_BEFORE_EXIT="1", **env)
        wait_while_progressing_until(paused, lambda: _stopped(paused) or paused.poll() is not None)
        if paused.poll() is None:
            other = schedule.in_another_container(root / f"next-{name}")
            next_log = root / f"run-{name}-next.log"
            _finish(ground, other, other.start(log_path=next_log, **env), next_log, f"{name} (while one is paused)")
            paused.send_signal(signal.SIGCONT)
        ending = _finish(ground, schedule, paused, log_path, f"{name} (paused)")
        if ending != "succeeded":
            ground.problems.append(f"run {name}, paused after its release, ended {ending}, not succeeded")
    else:
        process = schedule.start(log_path=log_path, **env)
        _finish(ground, schedule, process, log_path, name)
    ending = schedule.runs[-1][0]
    ground.log.append(f"run {name} ({disruption}): {ending}, {len(schedule.runs[-1][1])} delivered")
    return ending


def _finish(ground: Ground, schedule: Any, process: Any, log_path: Path, name: str) -> str:
    if hang := wait_while_progressing(process, log_path, schedule.storage.root):
        ground.problems.append(f"run {name} {hang}: a hang")
    schedule.ended(process)
    ended = Ended(process.returncode, log_of(log_path))
    if ended.code not in (0, -signal.SIGKILL):
        ground.check(one_line_failure(ended), f"run {name} failed ({ended.said!r})")
    return schedule.runs[-1][0]


def _wait_for_work(schedule: Any, process: Any) -> None:
    before = schedule.job_count()
    wait_while_progressing_until(process, lambda: schedule.job_count() != before or process.poll() is not None)


def wait_while_progressing_until(process: Any, condition: Any, within: float = 120) -> None:
    deadline = time.monotonic() + within  # a bound on a wait for a sign, not a judgement: the checks come after
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def _stopped(process: Any) -> bool:
    """Whether `process` is stopped (SIGSTOP): its state in /proc."""
    try:
        return Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
    except OSError:
        return False


def _versions_once(delivered: list[Any], added: list[dict[str, Any]]) -> str:
    """What is wrong with the items the succeeded runs of a task delivered, taken together ('' if each once)."""
    have = sorted(json.dumps(item, sort_keys=True) for item in delivered)
    want = sorted(json.dumps(item, sort_keys=True) for item in added)
    if have == want:
        return ""
    extra = [item for item in set(have) if have.count(item) > want.count(item)]
    missing = [item for item in set(want) if want.count(item) > have.count(item)]
    return f"{len(delivered)} delivered, {len(added)} added: duplicated or foreign {extra[:3]}, missing {missing[:3]}"


# --- scale-out: workers failing for good, coordinator deaths, a stripe ending early -----------------------


def scale_out_ground(seed: int, root: Path) -> Ground:
    chance = random.Random(seed)
    page_size, parallel = 20, chance.choice([2, 3])
    deaths = {"total": page_size * chance.randint(20, 30), "latency": round(chance.uniform(0.15, 0.3), 2)}
    failing = {"total": page_size * chance.randint(12, 20), "parallelRuns": parallel}
    pages = failing["total"] // page_size
    # A page of a later stripe answers 500 (no retries: the worker fails for good, four times in a row); one in the
    # middle of another worker's stripe answers 404 once (its source ends early).
    failing["failing_page"] = page_size * chance.randrange(4, pages)
    failing["ending_page"] = page_size * chance.choice([p for p in range(5, pages) if p % 4 and p != pages - 1])
    ground = Ground("scale-out", {"parallelRuns": parallel, "deaths": deaths, "failing": failing})
    asyncio.run(_coordinator_deaths(ground, root / "deaths", deaths, parallel, chance))
    asyncio.run(_failing_worker(ground, root / "failing", failing, chance))
    return ground


async def _coordinator_deaths(
    ground: Ground, root: Path, drawn: dict[str, Any], parallel: int, chance: random.Random
) -> None:
    """The coordinator killed -9 four times while its workers work, resurrected each time: no worker has failed,
    so the job must finish, every item once, in order."""
    storage = Storage(root / "storage")
    with PaginatedSource(total=drawn["total"], latency_secs=drawn["latency"]) as source:
        storage.write_input(source.input_for(pageSize=20, prefetchPages=1, parallelRuns=parallel))
        async with PlatformStandIn(storage, env={**WAITS, **IDENTITY}) as platform:
            await platform.start()
            for death in range(4):
                await _until_workers_push(platform)
                await asyncio.sleep(chance.uniform(0, 0.8))
                if platform.process.poll() is not None:
                    ground.log.append(f"deaths: the job ended before death {death + 1}")
                    break
                platform.kill()
                ground.log.append(f"deaths: coordinator killed ({death + 1})")
                await _resurrect(platform)
            code, said = await _job_end(ground, platform, storage, "deaths")
            if code != 0:
                ground.problems.append(f"deaths: the job failed although no worker failed (exit {code}): {said!r}")
            ground.check(_first_items_once(storage.items(), drawn["total"]), "deaths: at the end")


async def _failing_worker(ground: Ground, root: Path, drawn: dict[str, Any], chance: random.Random) -> None:
    """A worker fails for good: the job fails with one line naming it; resurrected once the page answers again, it
    finishes. A stripe whose source ended early (404 once) is never merged over: the job holds a contiguous start
    (Done, or a failure naming the hole); a job that fails the same way twice is run again from the start (a new
    run of the Actor), which must finish with every item."""
    faults = {drawn["failing_page"]: [500] * 4, drawn["ending_page"]: [404]}
    with PaginatedSource(total=drawn["total"], latency_secs=0.05, faults=faults) as source:
        job_input = {"pageSize": 20, "prefetchPages": 1, "parallelRuns": drawn["parallelRuns"]}
        for attempt in ("failing", "run again"):
            storage = Storage(root / attempt.replace(" ", "-") / "storage")
            storage.write_input(source.input_for(maxRequestRetries=0, **job_input))
            said = await _resurrected_until_done(ground, storage, attempt)
            items = storage.items()
            ground.check(
                _first_items_once(items, len(items)), f"{attempt}: {'Done' if said else 'a failure'} over holes"
            )
            if said is not None:
                if len(items) != drawn["total"] and not (attempt == "failing" and len(items) >= drawn["ending_page"]):
                    ground.problems.append(f"{attempt}: {said!r} with {len(items)} of {drawn['total']} items")
                return
        ground.problems.append("the job, run again once the source answered, failed too")


async def _resurrected_until_done(ground: Ground, storage: Storage, name: str) -> str | None:
    """Start the job and resurrect it after each failure (checked: one line) until it is Done; its final status
    message, or None once it failed the same way twice (failed for good: a problem if it said to resurrect it)."""
    async with PlatformStandIn(storage, env={**WAITS, **IDENTITY}) as platform:
        await platform.start()
        failures: list[str] = []
        while True:
            code, said = await _job_end(ground, platform, storage, name)
            if code == 0:
                if not said.startswith("Done"):
                    ground.problems.append(f"{name}: exit 0 without Done: {said!r}")
                return said
            ground.check(_one_line(platform, said), f"{name}: how the job failed ({said!r})")
            if said in failures or len(failures) == 4:
                if "esurrect" in said:  # the failure's own advice did not help: it is not recoverable as it says
                    ground.problems.append(f"{name}: resurrected as it says, the job failed again: {said!r}")
                return None
            failures.append(said)
            ground.log.append(f"{name}: resurrected ({len(failures)})")
            await _resurrect(platform)


async def _until_workers_push(platform: PlatformStandIn) -> None:
    def pushed() -> int:
        return sum(d.item_count() for run_id in platform.others for d in platform.created_datasets(run_id))

    before, deadline = pushed(), time.monotonic() + 120
    while pushed() == before and platform.process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def _resurrect(platform: PlatformStandIn) -> None:
    """The coordinator's run ended (FAILED: its workers see it ended, and stop); then someone resurrects it."""
    platform.main_status = "FAILED"
    deadline = time.monotonic() + 120
    while platform.running_runs() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    platform.main_status = "RUNNING"
    await platform.start()


async def _job_end(ground: Ground, platform: PlatformStandIn, storage: Storage, name: str) -> tuple[int, str]:
    """Wait (by progress) for the coordinator to end; its exit code and final status message."""
    if hang := await asyncio.to_thread(
        wait_while_progressing, platform.process, storage.root.parent / "actor.log", storage.root.parent
    ):
        ground.problems.append(f"{name}: the coordinator {hang}: a hang")
    platform.reap()
    statuses = [message for _at, message, terminal in platform.status_messages() if terminal]
    said = statuses[-1] if statuses else ""
    ground.log.append(f"{name}: exit {platform.exit_codes[-1]} {said[:120]!r}")
    return platform.exit_codes[-1], said


def _one_line(platform: PlatformStandIn, said: str) -> str:
    log = log_of(platform.storage.root.parent / "actor.log")
    if "Traceback (most recent call last)" in log.split("Run started", 1)[-1][-20000:]:
        return "a traceback in the log"
    return "" if said and "\n" not in said else "no one-line status message"
