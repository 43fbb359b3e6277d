"""A seeded, randomized fault campaign: scenarios drawn from a seed, each run on the platform stand-in under a
schedule of faults, and checked against what the Actor promises.

A scenario (`draw`) is this project's kind with: one run or parallelRuns 2-4; a source of odd shape (the JSON
kind: page sizes from 1 to thousands, pages the transform empties, fields named `#chunk`/`#page`/`#of`, values
JSON cannot encode natively; the crawlers: campaign_routes.py's pages that push nothing, hundreds of items,
redirect, add `always_enqueue` requests, rewrite their URL, add their requests in an order drawn for each process);
the limits (maxItems, maxRequestsPerCrawl) and the
charge limit of each start, raised or lowered, with the settings the README says may change between restarts;
and a fault schedule: kill -9 at random instants and in the middle of a push (of a merge, with parallelRuns),
migrations, aborts and resurrections of the run and of its workers, storage calls refused or answered late,
pushes whose answer is lost, queue locks that expire early.

Besides, a seed may draw a scenario of one ground (GROUNDS, campaign_grounds.py): incremental schedules (runs killed
for good, overlapping, paused between their release of the job and their exit, on another host; sources in
ascending, descending or no order, RFC 3339 timestamps), API shapes (null cursors, `errors` lists, secrets echoed,
settings changed between restarts), redirects of every kind, incremental crawls, scale-out's failures.

The checks: the run ends (a hang is judged by progress, not by the clock: see Progress); every item is in the
dataset exactly once (and in source order, the JSON kind), as the source gave it (modulo the transform); a run that
says "Done" (or exits 0 at the end) has done the work; no worker is left running. A failure names its seed and the
command that replays it:

    python tests/rehearse.py --campaign 1 --seed 1234

The instants of a replay fall a little differently (the machine's timing is part of it), the rest is the same.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import json
import os
import random
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import ROUTES_VARIABLE, STATE_KEY, TRANSFORM_VARIABLE, PaginatedSource, Storage, package_name
from platform_standin import PlatformStandIn, PlatformWays
from rehearse import is_browser, is_crawler

KIND = "browser" if is_browser() else "website" if is_crawler() else "json"
SCENARIO_VARIABLE = "CAMPAIGN_SOURCE"  # the JSON kind: what the campaign's transform drops and adds (JSON)
WAITS = {"STATUS_INTERVAL_SECS": "0.2", "PUSH_SETTLE_SECS": "1", "COORDINATOR_CHECK_SECS": "0.5"}
ODD_NAMES = ("#chunk", "#page", "#of", "", "a.b", "$x", "ü")
# A hang is no progress at all for STALL_SECS (see Progress); a scenario still going after CAP_SECS (small ones; three
# times that for the others) is stopped too. Both far above a normal scenario (10-60 s), even on a loaded machine.
STALL_SECS = 150.0
UNREADABLE = (OSError, ValueError)  # a record being replaced as it is read
CAP_SECS = 900.0
ACTIONS = ("kill", "migrate", "abort", "kill worker", "migrate worker", "abort worker")
# What a campaign may leave out (--campaign-spare), for an Actor that does not meet it, or to look past a known break.
SPARABLE = {
    "odd-names": "fields named #chunk, #page, #of and the like",
    "odd-values": "JSON kind: values JSON cannot encode natively (a date, a Decimal, a UUID)",
    "empty": "crawlers: pages that push nothing",
    "redirects": "crawlers: requests with headers that redirect",
    "always": "crawlers: requests added with always_enqueue",
    "replace": "crawlers: pages whose script rewrites their URL",
    "parallel": "parallelRuns > 1",
}


# --- the JSON kind's source and transform ------------------------------------------------------------------


def source_item(index: int, odd_every: int) -> dict[str, Any]:
    """Item `index` of the campaign's source: fields with odd names on every `odd_every`th."""
    item: dict[str, Any] = {"id": index, "name": f"item-{index}"}
    if odd_every and index % odd_every == 0:
        item |= {name: f"{name or 'empty'}-{index}" for name in ODD_NAMES}
    return item


class CampaignSource(PaginatedSource):
    odd_every: int = 0

    def page_items(self, start: int, limit: int, echo: dict[str, Any] | None = None) -> list[Any]:
        return [source_item(i, self.odd_every) | (echo or {}) for i in range(start, min(start + limit, self.total))]


_SHAPE = json.loads(os.environ.get(SCENARIO_VARIABLE, '{"dropped": [], "odd_values": false}'))


def transform(item: Any) -> Any | None:
    """The campaign's transform, run by the Actor in place of its own: the scenario's (CAMPAIGN_SOURCE)."""
    return transformed(item, _SHAPE)


def transformed(item: Any, shape: dict[str, Any]) -> Any | None:
    """Drop the items of whole runs of pages (pages that give nothing) and, if the shape says so, add values JSON
    cannot encode natively (a date, a Decimal, a UUID: stored as their str())."""
    number = item["id"]
    if any(start <= number < end for start, end in shape["dropped"]):
        return None
    if not shape["odd_values"]:
        return item
    day = datetime.date(2026, 1, 1) + datetime.timedelta(days=number % 1000)
    return {**item, "day": day, "price": decimal.Decimal(number) / 4, "key": uuid.UUID(int=number)}


def stored(item: Any) -> Any:
    """An item as the dataset holds it: the SDK encodes items with `json.dumps(..., default=str)`."""
    return json.loads(json.dumps(item, default=str))


# --- scenarios ---------------------------------------------------------------------------------------------


@dataclass
class Start:
    """What one (re)start of the run gets: its limit (maxItems or maxRequestsPerCrawl, 0: none), at least what
    is saved already; a charge limit of this many more items (None: none); other settings that may change."""

    limit: int = 0
    charge_items: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    seed: int
    small: bool
    parallel_runs: int
    size: int  # items of the JSON source, or pages of the site
    page_size: int = 0
    style: str = "offset"
    latency: float = 0.0
    shape: dict[str, Any] = field(default_factory=dict)  # JSON: CAMPAIGN_SOURCE; crawlers: the page sorts
    odd_every: int = 0
    starts: list[Start] = field(default_factory=list)
    faults: list[tuple[float, str]] = field(default_factory=list)  # (seconds after the last event, action)
    ways: dict[str, Any] = field(default_factory=dict)  # PlatformWays fields
    spare: list[str] = field(default_factory=list)  # what the campaign leaves out (SPARABLE)
    ground: str = "faults"  # the ground of the scenario (GROUNDS); "faults": the scenario above

    def describe(self) -> str:
        return json.dumps({key: value for key, value in asdict(self).items() if key != "seed"}, default=str)


def draw(seed: int, *, small: bool = False, spare: frozenset[str] = frozenset()) -> Scenario:
    """The scenario of `seed`, for this project's kind, without what `spare` names (SPARABLE)."""
    chance = random.Random(seed)
    parallel = chance.choice([1, 1, 2, 3, 4]) if KIND != "browser" or not small else 1
    if KIND == "json":
        page_size = chance.choice([1, 3, 20, 50, 200, 1500] if not small else [3, 20, 50, 400])
        pages = chance.randint(4, 25 if small else 60)
        size = min(page_size * pages, 4000 if small else 12000)
        style = chance.choice(["offset", "page"] if parallel > 1 else ["offset", "page", "cursor", "nextUrl"])
        dropped = []
        for _ in range(chance.randint(0, 3)):
            start = chance.randrange(size) // page_size * page_size
            dropped.append((start, start + page_size * chance.randint(1, 3)))
        # Pages slow enough that the job outlasts most of the schedule: a few seconds in all.
        latency = round(chance.uniform(1.5, 5 if small else 10) / -(-size // page_size), 3)
        scenario = Scenario(seed, small, parallel, size, page_size, style, latency)
        scenario.shape = {"dropped": dropped, "odd_values": chance.random() < 0.5 and "odd-values" not in spare}
        scenario.odd_every = chance.choice([0, 7, 50]) * ("odd-names" not in spare)
    else:
        size = (
            chance.randint(8, 16 if small else 40) if KIND == "browser" else chance.randint(30, 120 if small else 400)
        )
        sorts = ["plain"] * 6 + ["empty", "empty", "many", "always", "guarded", "replace", "replace"]
        shape = {n: chance.choice(sorts) for n in range(1, size)}
        shape[0] = chance.choice(["empty", "plain"])  # the start page: often a listing that pushes nothing
        spared = {"empty", "always", "replace"} & spare | ({"guarded"} if "redirects" in spare else set())
        shape = {n: sort for n, sort in shape.items() if sort != "plain" and sort not in spared}
        latency = round(chance.uniform(1.5, 5 if small else 10) / size * 4, 3)  # a few seconds at concurrency 4
        scenario = Scenario(seed, small, parallel, size, latency=latency, shape=shape)
        scenario.odd_every = 0 if "odd-names" in spare else 3
    restarts = chance.randint(1, 4)
    for number in range(restarts):
        limit = chance.choice([0, 0, chance.randint(1, max(1, size))])
        charge = chance.choice([None, None, chance.randint(1, 300)]) if number < restarts - 1 else None
        settings = {}
        if KIND == "json":
            settings["prefetchPages"] = chance.choice([1, 2, 4, 8])
            if scenario.style == "offset" and chance.random() < 0.5:
                # Not much smaller: the source's latency is drawn for the job's page count.
                settings["pageSize"] = chance.choice([max(1, scenario.page_size // 3), 2 * scenario.page_size])
        else:
            settings["maxConcurrency"] = chance.choice([1, 2, 4, 8])
        scenario.starts.append(Start(limit, charge, settings))
    for _ in range(chance.randint(1, 3 if small else 6)):
        actions = ACTIONS if parallel > 1 else ACTIONS[:3]
        scenario.faults.append((round(chance.uniform(0.2, 2.5), 2), chance.choice(actions)))
    ways: dict[str, Any] = {}
    if chance.random() < 0.5:
        ways["cut_push_after"] = chance.randint(1, 40)  # the run (the coordinator: a merge) killed mid-push
    if parallel > 1 and chance.random() < 0.3:
        ways["kill_after_run_start"] = chance.randint(1, parallel)  # the coordinator killed as it starts a worker
    if parallel > 1 and chance.random() < 0.5:
        ways["cut_worker_push_after"] = (chance.randrange(parallel), chance.randint(1, 40))
    if chance.random() < 0.3:
        ways["lost_push_responses"] = sorted(chance.sample(range(1, 12), 2))
    if chance.random() < 0.3:
        ways["refused_share"] = 0.03
    if chance.random() < 0.3:
        ways |= {"slow_share": 0.05, "slow_secs": 0.5}
    if chance.random() < 0.3:
        ways["item_count_lag_secs"] = 1.0
    if parallel > 1 and KIND != "json" and chance.random() < 0.5:
        ways["max_lock_secs"] = chance.choice([1, 3])  # locks expire while a page is handled, or a worker is away
    scenario.ways = ways
    if "parallel" in spare and parallel > 1:
        scenario.parallel_runs = 1
        scenario.faults = [(delay, action.replace(" worker", "")) for delay, action in scenario.faults]
        for name in ("kill_after_run_start", "cut_worker_push_after", "max_lock_secs"):
            ways.pop(name, None)
    scenario.spare = sorted(spare)
    return scenario


# The grounds a seed chooses from, in turn (seed % their number: any run of as many seeds as there are grounds covers
# each once): "faults" draws the scenario above, the others one of campaign_grounds.py's.
GROUNDS = {
    "json": ("faults", "api", "schedule", "scale-out"),
    "website": ("faults", "redirects", "incremental", "scale-out"),
    "browser": ("faults", "redirects"),
}[KIND]


def ground_of(seed: int) -> str:
    return GROUNDS[seed % len(GROUNDS)]


def play_ground(name: str, seed: int, root: Path) -> Any:
    """Play the scenario of ground `name` drawn from `seed` (a campaign_grounds.Ground)."""
    if KIND == "json":
        import campaign_json  # noqa: PLC0415 - the JSON kind's own

        return {
            "api": campaign_json.api_ground,
            "schedule": campaign_json.schedule_ground,
            "scale-out": campaign_json.scale_out_ground,
        }[name](seed, root)
    import campaign_crawl  # noqa: PLC0415 - the crawlers' own

    return {
        "redirects": campaign_crawl.redirects_ground,
        "incremental": campaign_crawl.incremental_ground,
        "scale-out": campaign_crawl.scale_out_ground,
    }[name](seed, root)


# --- playing a scenario ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    scenario: Scenario
    problems: list[str]
    log: list[str]
    secs: float
    storage: Path

    @property
    def command(self) -> str:
        command = f"python tests/rehearse.py --campaign 1 --seed {self.scenario.seed}"
        command += " --campaign-small" if self.scenario.small else ""
        return command + (f" --campaign-spare {','.join(self.scenario.spare)}" if self.scenario.spare else "")

    def report(self) -> str:
        head = f"scenario {self.scenario.seed}: " + ("ok" if not self.problems else "FAILED")
        ground = self.scenario.ground
        what = f"parallelRuns {self.scenario.parallel_runs}" if ground == "faults" else f"ground {ground}"
        lines = [f"{head} ({self.secs:.0f} s, {KIND}, {what})"]
        if self.problems:
            lines += [f"  problem: {problem}" for problem in self.problems]
            lines += [f"  scenario: {self.scenario.describe()}", f"  events: {'; '.join(self.log)}"]
            lines += [f"  storage and logs: {self.storage.parent}", f"  replay: {self.command}"]
        return "\n".join(lines)


class Play:
    """One scenario on the stand-in: the schedule of faults, the restarts, and what each exit said."""

    def __init__(self, scenario: Scenario, storage: Storage, base: dict[str, Any], env: dict[str, str]) -> None:
        self.scenario, self.storage, self.base, self.env = scenario, storage, base, env
        self.problems: list[str] = []
        self.log: list[str] = []
        self.starts_left = list(scenario.starts)
        self.limit = 0  # the limit of the current start
        self.charge_max: int | None = None  # the items the current start may charge in all (None: no limit)
        self.done_with: int | None = None  # the limit of the start that said Done
        self.stops = 0  # exits 0 without Done
        self.messages_before = 0  # status messages set before the current start
        self.worker_kills: Counter[str] = Counter()  # at most 2 a worker: a worker failing 4 times fails the job
        self.progress: Progress  # set once the stand-in is up

    async def start(self, platform: PlatformStandIn, *, resurrect: bool) -> None:
        """Start the run again: after a kill or a migration as it was; resurrected, with the next Start's
        limit, charge limit and settings."""
        if resurrect:
            start = self.starts_left.pop(0) if len(self.starts_left) > 1 else self.starts_left[0]
            self.limit = max(start.limit, self.saved()) if start.limit else 0
            count = self.storage.item_count()
            self.charge_max = None if start.charge_items is None else count + start.charge_items
            name = "maxItems" if KIND == "json" else "maxRequestsPerCrawl"
            self.storage.write_input({**self.base, **start.settings, name: self.limit})
            self.log.append(f"start: limit {self.limit}, charge {self.charge_max}, {start.settings}")
        main_env = {} if self.charge_max is None else charged(self.storage.item_count(), self.charge_max)
        self.messages_before = len(platform.status_messages())
        await platform.start(main_env=main_env, **self.env)

    def saved(self) -> int:
        """What counts against the limit so far: items (JSON) or pages saved (crawlers)."""
        if KIND == "json":
            return self.storage.item_count()
        return (self.storage.state() or {}).get("pages", 0)

    async def next_after_exit(self, platform: PlatformStandIn, *, migrating: bool = False) -> bool:
        """The run ended: look at how; start it again unless the scenario is over (returned)."""
        code = platform.exit_codes[-1]
        messages = platform.status_messages()[self.messages_before :]
        statuses = [message for _at, message, terminal in messages if terminal]
        said = statuses[-1] if statuses else ""
        self.log.append(f"exit {code}: {said[:100]!r}")
        if code not in (0, -9):
            self.problems.append(f"the run failed (exit {code}): {said!r}")
            return True
        # Exit 0 ends the run SUCCEEDED: while migrating, only if it was over anyway (done, or at its charge limit).
        if migrating and code == 0 and not (said.startswith("Done") or "maximum total charge" in said):
            self.problems.append(f"the run exited 0 while migrating (the platform ends it SUCCEEDED): {said!r}")
            return True
        if code == 0 and said.startswith("Done"):
            self.done_with = self.limit
            if wrong := check_items(self.scenario, self.storage, self.limit):
                self.problems.append(f"the run said {said!r} before the work was done: {wrong}")
                return True
            if len(self.starts_left) <= 1:
                return True  # else a later start may raise the limit: the run goes on
        elif code == 0:
            self.stops += 1
            if self.stops > len(self.scenario.starts) + len(self.scenario.faults) + 2:
                self.problems.append(f"the run keeps ending with exit 0 without being done: {said!r}")
                return True
        # After a kill the platform restarts the run as it was; one that died for good (a third of them) is
        # resurrected, maybe with other settings.
        died_for_good = random.Random(f"{self.scenario.seed} {len(self.log)}").random() < 1 / 3
        await self.start(platform, resurrect=code == 0 or died_for_good)
        return False

    async def disrupt(self, platform: PlatformStandIn, action: str) -> bool:
        """Do `action` to the run or one of its workers; whether the scenario is over."""
        if action.endswith("worker"):
            running = [run_id for run_id in platform.running_runs() if self.worker_kills[run_id] < 2]
            if not running:
                return False
            target = random.Random(f"{self.scenario.seed} {len(self.log)}").choice(running)
            self.log.append(f"{action} {target[-2:]}")
            if action == "kill worker":
                self.worker_kills[target] += 1
                platform.kill_run(target)
            elif action == "migrate worker":
                await platform.migrate_run(target)
            else:
                platform.abort_run(target)
            return False
        self.log.append(action)
        if action == "kill":
            platform.kill()
        elif action == "migrate":
            await platform.migrate(restart=False)
        else:
            await platform.send("aborting")
            if hang := await self.progress.until(lambda: platform.process.poll() is not None):
                self.problems.append(f"an aborted run did not end: it {hang}")
                return True
        platform.reap()
        return await self.next_after_exit(platform, migrating=action == "migrate")


def charged(charged_items: int, max_items: int) -> dict[str, str]:
    """A pay-per-event run that has charged `charged_items` items and may charge `max_items` in all."""
    prices = {"apify-default-dataset-item": {"eventPriceUsd": 0.01, "eventTitle": "Dataset item"}}
    return {
        "APIFY_ACTOR_PRICING_INFO": json.dumps(
            {"pricingModel": "PAY_PER_EVENT", "pricingPerEvent": {"actorChargeEvents": prices}}
        ),
        "APIFY_CHARGED_ACTOR_EVENT_COUNTS": json.dumps({"apify-default-dataset-item": charged_items}),
        "ACTOR_MAX_TOTAL_CHARGE_USD": f"{max_items * 0.01:.2f}",
    }


async def play(game: Play, cap_secs: float) -> None:
    """Run the scenario on the stand-in: the schedule, then restarts until the run is done. A run that makes no
    progress for STALL_SECS hangs; one still going after `cap_secs` in all (far above a normal run) too."""
    scenario = game.scenario
    ways = PlatformWays(**scenario.ways, chance=random.Random(scenario.seed))
    ways.lost_push_responses = set(ways.lost_push_responses)
    async with PlatformStandIn(game.storage, env=WAITS, ways=ways, abort_grace_secs=5) as platform:
        progress = Progress(game.storage.root.parent, platform, cap_secs)
        game.progress = progress
        await game.start(platform, resurrect=True)
        over = False
        for delay, action in scenario.faults:
            if over:
                break
            if await _until(lambda: platform.process.poll() is not None, delay):  # it ended, or a push was cut
                platform.reap()
                over = await game.next_after_exit(platform)
            else:
                over = await game.disrupt(platform, action)
        while not over:
            if hang := await progress.until(lambda: platform.process.poll() is not None):
                game.problems.append(f"the run {hang}: a hang")
                game.log.append(f"status: {(platform.status_messages() or [(0, '', 0)])[-1][1][:200]!r}")
                break
            platform.reap()
            over = await game.next_after_exit(platform)
        if await progress.until(lambda: not platform.running_runs()):
            game.problems.append(f"workers left running at the end: {platform.running_runs()}")
        game.log.append(f"workers' exits: {[other.exit_codes for other in platform.others.values()]}")


class Progress:
    """Whether the runs of a scenario still get on: new items in any dataset, requests handled, a state record
    rewritten, a new status message, or a log line of a new shape (digits aside: a crawler's periodic statistics
    are not progress). A slow run on a loaded machine is not a hang; a run with none of these for STALL_SECS is."""

    def __init__(
        self, root: Path, platform: PlatformStandIn | None, cap_secs: float, stall_secs: float = STALL_SECS
    ) -> None:
        self.root, self.platform, self.stall_secs = root, platform, stall_secs
        self.ends_by = time.monotonic() + cap_secs
        self.cap_secs = cap_secs
        self._log_offsets: dict[Path, int] = {}
        self._shapes: set[str] = set()
        self._marks: Any = None
        self.last_moved = time.monotonic()

    def moved(self) -> bool:
        """Whether anything moved since the last look (and remember when it last did)."""
        marks = self._marks_now()
        new_lines = self._new_log_shapes()
        if marks != self._marks or new_lines:
            self._marks, self.last_moved = marks, time.monotonic()
            return True
        return False

    def _marks_now(self) -> tuple[Any, ...]:
        marks: list[Any] = []
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                if name in {"__metadata__.json", STATE_KEY}:
                    path = Path(folder) / name
                    try:
                        text = path.read_text()
                        record = json.loads(text) if name != STATE_KEY else hash(text)
                    except UNREADABLE:
                        continue  # being replaced right now: the next look reads it
                    if isinstance(record, dict):  # counts only: access times change on every open
                        record = [record.get(key) for key in ("item_count", "handled_request_count")]
                    marks.append((folder, name, str(record)))
        if self.platform:
            marks.append(len({message for _at, message, _terminal in self.platform.status_messages()}))
        return tuple(sorted(marks, key=str))

    def _new_log_shapes(self) -> bool:
        new = False
        for path in self.root.rglob("*.log"):
            offset = self._log_offsets.get(path, 0)
            with path.open("rb") as log:
                log.seek(offset)
                chunk = log.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._log_offsets[path] = offset + len(complete)
            for line in complete.decode(errors="replace").splitlines():
                shape = "".join(char for char in line if not char.isdigit())
                if shape not in self._shapes:
                    self._shapes.add(shape)
                    new = True
        return new

    async def until(self, condition: Any) -> str:
        """Wait until `condition()`; '' then, else why it is judged a hang (no progress, or past the cap)."""
        while not condition():
            now = time.monotonic()
            if now >= self.ends_by:
                return f"was still going after {self.cap_secs:.0f} s in all"
            self.moved()
            if now - self.last_moved >= self.stall_secs:
                return (
                    f"made no progress for {self.stall_secs:.0f} s (no item, request, state record, status or log line)"
                )
            await asyncio.sleep(0.5)
        self.moved()
        return ""


async def _until(condition: Any, within: float) -> bool:
    deadline = time.monotonic() + max(0.0, within)
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


# --- the checks --------------------------------------------------------------------------------------------


def expected_json_items(scenario: Scenario) -> list[Any]:
    items = [transformed(source_item(i, scenario.odd_every), scenario.shape) for i in range(scenario.size)]
    return [stored(item) for item in items if item is not None]


def check_items(scenario: Scenario, storage: Storage, limit: int) -> str:
    """What is wrong with the dataset of a run done with `limit` ('' if nothing)."""
    items = storage.items()
    if KIND == "json":
        expected = expected_json_items(scenario)
        expected = expected[:limit] if limit else expected
        if items == expected:
            return ""
        seen = Counter(json.dumps(item, sort_keys=True) for item in items)
        want = Counter(json.dumps(item, sort_keys=True) for item in expected)
        first = next((n for n, (a, b) in enumerate(zip(items, expected, strict=False)) if a != b), None)
        return (
            f"{len(items)} items, {len(expected)} expected: {sum((seen - want).values())} extra or duplicated, "
            f"{sum((want - seen).values())} missing, first difference at index {first}"
            + (f" ({items[first]!r} for {expected[first]!r})" if first is not None else "")
        )
    from campaign_routes import expected_requests  # noqa: PLC0415 - the crawlers' own

    sorts = {int(n): sort for n, sort in scenario.shape.items()}
    expected = expected_requests(scenario.size, sorts, scenario.odd_every)
    by_url: dict[str, list[Any]] = {}
    for item in items:
        by_url.setdefault(item.get("url", "?"), []).append(item)
    problems = []
    requests_of: dict[str, list[list[Any]]] = {}  # URL -> the items of each of its requests (a leaf page has two)
    for items_ in expected.values():
        if items_:
            requests_of.setdefault(items_[0]["url"], []).append(items_)
    whole = not limit or limit >= len(expected)
    for url, got in by_url.items():
        made = requests_of.get(url, [])
        # Each request saved whole, once: all of them, or (maxRequestsPerCrawl short of the site) some of them.
        wants = [made] if whole else [made[:saved] for saved in range(1, len(made) + 1)]
        if sorted(map(json.dumps, got)) not in [sorted(json.dumps(item) for r in want for item in r) for want in wants]:
            expected_count = sum(map(len, made))
            problems.append(f"{url}: {len(got)} items, expected {expected_count}" + (f" ({got[0]!r})" if got else ""))
    pages = (storage.state() or {}).get("pages", 0)
    if whole:
        missing = [url for url in requests_of if url not in by_url]
        if missing:
            problems.append(f"{len(missing)} pages missing: {missing[:8]}")
    elif pages != limit:
        problems.append(f"{pages} pages saved, maxRequestsPerCrawl {limit}")
    if limit and len(by_url) > limit:
        problems.append(f"{len(by_url)} pages with items, more than maxRequestsPerCrawl {limit}")
    return "; ".join(problems[:6])


# --- the campaign ------------------------------------------------------------------------------------------


def run_scenario(
    seed: int, *, small: bool = False, spare: frozenset[str] = frozenset(), root: Path | None = None
) -> Outcome:
    root = root or Path(os.environ.get("TMPDIR", "/tmp")) / f"campaign-{package_name()}-{seed}"
    storage = Storage(root / f"{time.monotonic_ns()}" / "storage")
    storage.root.mkdir(parents=True)
    began = time.monotonic()
    if (ground_name := ground_of(seed)) != "faults":
        ground = play_ground(ground_name, seed, storage.root.parent)
        scenario = Scenario(seed, small, 1, 0, shape=ground.drawn, ground=ground_name)
        return Outcome(scenario, ground.problems, ground.log, time.monotonic() - began, storage.root)
    scenario = draw(seed, small=small, spare=spare)
    with ExitStack() as stack:
        if KIND == "json":
            source = stack.enter_context(
                CampaignSource(total=scenario.size, style=scenario.style, latency_secs=scenario.latency)
            )
            source.odd_every = scenario.odd_every
            base = source.input_for(pageSize=scenario.page_size, **_parallel(scenario))
            env = {TRANSFORM_VARIABLE: "campaign:transform", SCENARIO_VARIABLE: json.dumps(scenario.shape)}
        else:
            from campaign_routes import SCENARIO_VARIABLE as SITE_VARIABLE  # noqa: PLC0415 - the crawlers' own
            from campaign_routes import CampaignSite  # noqa: PLC0415

            sorts = {int(n): sort for n, sort in scenario.shape.items()}
            site = stack.enter_context(CampaignSite(pages=scenario.size, latency_secs=scenario.latency, sorts=sorts))
            base = {"startUrls": [{"url": site.url(0)}], "maxCrawlDepth": 1000, **_parallel(scenario)}
            site_shape = {"pages": scenario.size, "sorts": sorts, "odd_every": scenario.odd_every, "seed": seed}
            site_shape = json.dumps(site_shape)
            env = {ROUTES_VARIABLE: "campaign_routes", SITE_VARIABLE: site_shape}
        game = Play(scenario, storage, base, env)
        asyncio.run(play(game, CAP_SECS if small else 3 * CAP_SECS))
    problems = list(game.problems)
    if not problems:
        if game.done_with is None:
            problems.append("the run never said Done")
        elif wrong := check_items(scenario, storage, game.done_with):
            problems.append(f"at the end: {wrong}")
    return Outcome(scenario, problems, game.log, time.monotonic() - began, storage.root)


def _parallel(scenario: Scenario) -> dict[str, Any]:
    return {"parallelRuns": scenario.parallel_runs} if scenario.parallel_runs > 1 else {}


def campaign(
    count: int, seed: int, *, small: bool = False, spare: frozenset[str] = frozenset(), root: Path | None = None
) -> list[Outcome]:
    """Run `count` scenarios, seeds `seed`, `seed + 1`, ...; print each outcome as it comes."""
    outcomes = []
    for number in range(count):
        outcome = run_scenario(seed + number, small=small, spare=spare, root=root)
        print(outcome.report(), flush=True)
        outcomes.append(outcome)
    return outcomes
