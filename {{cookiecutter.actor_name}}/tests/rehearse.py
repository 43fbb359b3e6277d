"""Rehearse migrations and crashes on your own Actor, locally, before production.

Runs the Actor as on the platform (the stand-in in platform_standin.py), migrates it and/or kills it with
SIGKILL as often as asked, lets it finish, and reports what the dataset holds: duplicates, and (with the
built-in source, whose items are known) missing items. Exit 1 when an item is duplicated or missing. For a
crawler the built-in source is a local site, and what your routes.py should make of it is what one run of your
Actor makes of it with nothing in its way. For your own source (source.py), what your source gives, read plainly
from its start to its end, with --input too (rehearse_custom.py).

    python tests/rehearse.py --migrate-after 3 --kill-after 2 --times 5
    python tests/rehearse.py --crash-after-push 2 --times 0   # the instant between a push and its checkpoint
    python tests/rehearse.py --input my-input.json --migrate-after 10 --times 2   # your real API
    python tests/rehearse.py --parallel-runs 3 --input my-input.json --migrate-after 2 --kill-after 2 --times 4 \
        --output items.json   # a job scaled out over 3 worker runs: disruptions hit any of the 4 runs
    python tests/rehearse.py --campaign 50 --seed 1   # 50 scenarios of the fault campaign (campaign.py, its grounds)
    python tests/rehearse.py --schedule 5 --seed 3   # 5 runs of an incremental job (rehearse_schedule.py)

Parallel runs and the fault campaign are the JSON and crawler kinds', the schedule the JSON kind's: --help lists
the options this project has (its kind's files), and one it lacks is refused with one line.

With both --migrate-after and --kill-after, migrations and kills alternate; each counts from the last disruption.
With --parallel-runs, each disruption hits the coordinator or a worker run, at random (--seed): a migrated run
reboots, a killed coordinator is restarted (as after a crash the platform restarts it), a killed worker ends
FAILED and its coordinator must resurrect it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness import (
    PROJECT_ROOT,
    STYLE_INPUTS,
    PaginatedSource,
    Patience,
    Storage,
    duplicates_and_missing,
    expected_items,
    package_name,
    run_actor,
)
from platform_standin import PlatformStandIn


class ThisProjectsOptions(argparse.ArgumentParser):
    """The options, those this project lacks (`lacking`: by their names in the parsed arguments) left out of --help."""

    def __init__(self, lacking: dict[str, str], **settings: Any) -> None:
        self.lacking = lacking  # (before the parser adds its own --help)
        super().__init__(**settings)

    def add_argument(self, *names: str, **settings: Any) -> argparse.Action:
        if names[0].removeprefix("--").replace("-", "_") in self.lacking:
            settings["help"] = argparse.SUPPRESS
        return super().add_argument(*names, **settings)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    lacking = lacking_options()
    parser = ThisProjectsOptions(lacking, description=__doc__.split("\n\n")[0])
    parser.add_argument("--migrate-after", type=float, metavar="SECS", help="send `migrating` SECS after each start")
    parser.add_argument("--kill-after", type=float, metavar="SECS", help="kill -9 the Actor SECS after each start")
    parser.add_argument("--times", type=int, default=3, help="how many migrations and kills in all (default 3)")
    parser.add_argument(
        "--crash-after-push",
        type=int,
        metavar="N",
        help="first, kill -9 the Actor right after its Nth push, before that page's checkpoint (the crash window)",
    )
    parser.add_argument("--input", type=Path, help=f"your own input JSON (default: {built_in()})")
    parser.add_argument("--total", type=int, default=2000, help=f"{built_in('total')} (default 2000)")
    parser.add_argument(
        "--pagination", choices=STYLE_INPUTS, default="offset", help="the built-in JSON API's pagination style"
    )
    parser.add_argument("--page-size", type=int, default=50, help=f"{built_in('page_size')} (default 50)")
    parser.add_argument("--latency", type=float, default=0.4, help=f"{built_in('latency')} (default 0.4)")
    parser.add_argument(
        "--parallel-runs", type=int, default=1, metavar="N", help="scale the job out over N worker runs (parallelRuns)"
    )
    parser.add_argument("--seed", type=int, default=1, help="which runs the disruptions hit, with --parallel-runs")
    parser.add_argument("--output", type=Path, help="write the dataset's items (merged) here, as a JSON array")
    parser.add_argument("--storage", type=Path, help="storage folder to use (default: a new temporary one)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds the whole rehearsal may take")
    parser.add_argument(
        "--campaign",
        type=int,
        metavar="N",
        help="run N scenarios of the fault campaign (campaign.py: faults, and its grounds by turns) from --seed on",
    )
    parser.add_argument("--campaign-small", action="store_true", help="the campaign's small scenarios (as pytest's)")
    parser.add_argument(
        "--campaign-spare",
        default="",
        metavar="WHAT,...",
        help="leave these out of the campaign's scenarios (see SPARABLE in campaign.py)",
    )
    parser.add_argument(
        "--schedule",
        type=int,
        metavar="N",
        help="JSON kind: N scheduled runs of an incremental job, new items between them (rehearse_schedule.py)",
    )
    parser.add_argument(
        "--disruptions",
        metavar="WHAT,...",
        help="with --schedule, one per run: none, kill, migrate, abort, killed-at-done, overlap (default: from --seed)",
    )
    parser.add_argument("--new-items", type=int, default=300, help="with --schedule, at most N new items a run")
    parser.add_argument("--changes", type=int, default=1, help="with --schedule, items changed between runs")
    parser.add_argument(
        "--within", type=float, default=1.0, metavar="SECS", help="with --schedule, kill or migrate within SECS"
    )
    args = parser.parse_args(argv)
    for name, why in lacking.items():
        if getattr(args, name) != parser.get_default(name):
            parser.exit(2, f"rehearse.py: --{name.replace('_', '-')} is not in this project: {why}\n")
    if args.campaign is not None:
        return args  # a campaign draws its own disruptions
    if args.schedule is not None:
        if args.schedule < 1 or (args.disruptions and len(args.disruptions.split(",")) != args.schedule):
            parser.error("--schedule needs 1 run or more, and --disruptions one disruption for each")
        return args  # a schedule has its own disruptions
    if args.times < 0 or (args.times and args.migrate_after is None and args.kill_after is None):
        parser.error("--times needs --migrate-after and/or --kill-after")
    if args.parallel_runs < 1 or (args.parallel_runs > 1 and args.crash_after_push):
        parser.error("--parallel-runs must be 1 or more, and --crash-after-push is for one run")
    return args


async def rehearse(args: argparse.Namespace, storage: Storage) -> tuple[PlatformStandIn, int]:
    """Run the Actor at home with the disruptions asked for; return the stand-in and how many kills it took."""
    kills = 0
    disruptions = [d for d in ("migrate", "kill") if getattr(args, f"{d}_after") is not None]
    async with PlatformStandIn(storage) as platform:
        if args.crash_after_push:
            await platform.start(entry="tests/crash_after_push.py", CRASH_AFTER_PUSH=str(args.crash_after_push))
            if await platform.wait_for_exit(within=args.timeout) == -signal.SIGKILL:
                kills += 1
        await platform.start()
        chance = random.Random(args.seed)
        for number in range(args.times):
            kind = disruptions[number % len(disruptions)]
            deadline = time.monotonic() + getattr(args, f"{kind}_after")
            while time.monotonic() < deadline and platform.process.poll() is None:
                await asyncio.sleep(0.01)
            if platform.process.poll() is not None:
                break  # the Actor finished first
            target = chance.choice([None, *platform.running_runs()])  # None: the run the user started
            platform.disruptions.append(f"{kind} {target or 'main run'}")
            if kind == "migrate" and target:
                await platform.migrate_run(target)
            elif kind == "migrate":
                await platform.migrate()
            elif target:
                platform.kill_run(target)
                kills += 1
            else:
                platform.kill()
                kills += 1
                await platform.start()
        await platform.wait_for_exit(within=args.timeout)
        await _wait_for_the_workers(platform)
        return platform, kills


async def _wait_for_the_workers(platform: PlatformStandIn, within: float = 40) -> None:
    """Give runs the coordinator aborted gracefully their time to end (as the platform does) before counting."""
    patience = Patience(within)
    while platform.running_runs() and not patience.spent():
        await asyncio.sleep(0.05)


def report(
    platform: PlatformStandIn,
    kills: int,
    items: list[Any],
    expected: list[Any] | None,
    *,
    pages: int = 0,
    max_pages: int | None = None,
) -> tuple[list[str], bool]:
    """The report's lines, and whether the dataset is exact (and a crawl's `pages` within `max_pages`)."""
    seen = Counter(json.dumps(item, sort_keys=True) for item in items)
    duplicates = sum(count - 1 for count in seen.values())
    lines = [
        f"migrations sent        {len(platform.migrations)}",
        f"reboots asked          {len(platform.reboot_calls())}",
        f"kills (SIGKILL)        {kills}",
        f"starts                 {platform.starts}",
        f"exit codes             {' '.join(map(str, platform.exit_codes))}",
        f"items in dataset       {len(items)}" + (f" (expected {len(expected)})" if expected is not None else ""),
        f"duplicates             {duplicates}",
    ]
    exact = duplicates == 0 and platform.exit_codes[-1:] == [0]
    if platform.others:
        resurrected = sum(other.resurrections for other in platform.others.values())
        restarted = sum(max(0, other.starts - 1 - other.resurrections) for other in platform.others.values())
        left = platform.running_runs()
        lines += [
            f"worker runs            {len(platform.others)}",
            f"disruptions            {', '.join(platform.disruptions) or 'none'}",
            f"workers restarted      {restarted} after a reboot, {resurrected} resurrected",
            f"workers left running   {len(left)}",
        ]
        exact = exact and not left
    if expected is not None:
        _surplus, missing = duplicates_and_missing(items, expected)
        lines.append(f"missing                {missing}")
        exact = exact and missing == 0 and items == expected
    if max_pages is not None:
        lines.append(f"pages saved            {pages} (maxRequestsPerCrawl {max_pages or 'none'})")
        exact = exact and (not max_pages or pages <= max_pages)
    if statuses := platform.status_messages():
        lines.append(f"last status message    {statuses[-1][1]}")
    delays = [m.reboot_after_secs for m in platform.migrations if m.reboot_after_secs is not None]
    if delays:
        lines.append(f"migrating -> reboot    {min(delays) * 1000:.0f} ms min, {max(delays) * 1000:.0f} ms max")
    return lines, exact


def is_crawler() -> bool:
    """Whether this project is a crawler (the website or browser kind) rather than the JSON API kind."""
    return (PROJECT_ROOT / package_name() / "engine" / "crawling.py").exists()


def is_custom() -> bool:
    """Whether this project reads your own source (source.py)."""
    return (PROJECT_ROOT / package_name() / "source.py").exists()


def is_browser() -> bool:
    """Whether this project crawls in a browser."""
    return (PROJECT_ROOT / package_name() / "browser_input.py").exists()


# What the built-in source is, for the help of the options that shape it: by kind.
BUILT_IN = {
    "json_api": {
        None: "the built-in local API",
        "total": "items in the built-in API",
        "page_size": "pageSize for the built-in API",
        "latency": "seconds per page of the built-in API",
    },
    "crawler": {
        None: "the built-in local site",
        "total": "pages of the built-in site",
        "latency": "ten times the built-in site's seconds per page",
    },
    "custom": {
        None: "TEST_INPUT of tests/custom_source.py",
        "total": "without --input: exampleRows, if your input has that field",
        "page_size": "without --input: pageSize, if your input has that field",
        "latency": "without --input: seconds added to each read of your source",
    },
}


def built_in(option: str | None = None) -> str:
    """What the built-in source is (`option`: what that option sets of it; "": nothing, this project lacks it)."""
    return BUILT_IN["crawler" if is_crawler() else "custom" if is_custom() else "json_api"].get(option, "")


def lacking_options() -> dict[str, str]:
    """The options this project lacks (by their names in the parsed arguments), each with why, from the files of its
    kind: the campaign's, the schedule's, the JSON kind's built-in API, parallel runs (engine/scale_out.py)."""
    tests, engine = PROJECT_ROOT / "tests", PROJECT_ROOT / package_name() / "engine"
    lacking: dict[str, str] = {}
    if not (tests / "campaign.py").exists():
        why = "the fault campaign (tests/campaign.py) is the JSON and crawler kinds'"
        if is_custom():
            why += (
                "; your own source's rehearsal is `python tests/rehearse.py --migrate-after 3 --kill-after 2 --times 5`"
                " (tests/rehearse_custom.py: it reads source.py plainly for what the dataset must hold)"
            )
        lacking.update(dict.fromkeys(("campaign", "campaign_small", "campaign_spare"), why))
    if not (tests / "rehearse_schedule.py").exists():
        why = "it rehearses the JSON kind's incremental runs (tests/rehearse_schedule.py)"
        lacking.update(dict.fromkeys(("schedule", "disruptions", "new_items", "changes", "within"), why))
    if not (engine / "json_api.py").exists():
        lacking["pagination"] = "it chooses the pagination of the JSON kind's built-in API"
    if is_crawler():
        lacking["page_size"] = "it sets the pageSize of the JSON kind's built-in API (a crawl has no page size)"
    if not (engine / "scale_out.py").exists():
        lacking["parallel_runs"] = "your own source is read by one run at a time (parallelRuns is refused above 1)"
        if "campaign" in lacking and "schedule" in lacking:
            lacking["seed"] = "it draws which runs disruptions hit, campaign scenarios and a schedule's disruptions"
    return lacking


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.campaign:
        from campaign import SPARABLE, campaign  # noqa: PLC0415 - only for a campaign

        spare = frozenset(filter(None, args.campaign_spare.split(",")))
        if unknown := spare - set(SPARABLE):
            print(f"--campaign-spare: {', '.join(sorted(unknown))} unknown; known: {', '.join(SPARABLE)}")
            return 2
        began = time.monotonic()
        outcomes = campaign(args.campaign, args.seed, small=args.campaign_small, spare=spare, root=args.storage)
        failed = [outcome for outcome in outcomes if outcome.problems]
        print(f"CAMPAIGN: {len(outcomes)} scenarios from seed {args.seed}, {time.monotonic() - began:.0f} s, ", end="")
        print(f"{len(failed)} failed" + (f": seeds {' '.join(str(o.scenario.seed) for o in failed)}" if failed else ""))
        return 1 if failed else 0
    storage = Storage(args.storage or Path(tempfile.mkdtemp(prefix="rehearsal-")) / "storage")
    if args.schedule:
        from rehearse_schedule import rehearse_schedule  # noqa: PLC0415 - the JSON kind's own

        return rehearse_schedule(args, storage)
    parallel = {"parallelRuns": args.parallel_runs} if args.parallel_runs > 1 else {}
    if is_custom():  # your own source (source.py), read plainly for what the dataset must hold
        from rehearse_custom import custom_input, expected_of  # noqa: PLC0415 - the custom kind's own

        actor_input = {**custom_input(args), **parallel}
        expected, unstable = expected_of(actor_input)
        if expected is None:
            print(f"RESULT: NOT EXACT: {unstable}")
            return 1
        storage.write_input(actor_input)
        platform, kills = asyncio.run(rehearse(args, storage))
        items = storage.items()
    elif args.input:
        user_input = {**json.loads(args.input.read_text()), **parallel}
        storage.write_input(user_input)
        platform, kills = asyncio.run(rehearse(args, storage))
        items, expected = storage.items(), None
    elif is_crawler():
        from local_site import LocalSite, sort_items  # noqa: PLC0415 - the website kind's own test site

        with LocalSite(pages=args.total, latency_secs=args.latency / 10) as site:
            crawl_input = {"startUrls": [{"url": site.url(0)}], "maxRequestsPerCrawl": 0}
            storage.write_input({**crawl_input, **parallel})
            platform, kills = asyncio.run(rehearse(args, storage))
            # What your routes make of the site: one run of your Actor with nothing in its way (a crawl saves
            # pages in no fixed order, so both in URL order).
            reference = Storage(storage.root.parent / "reference-storage")
            reference.write_input(crawl_input)
            run_actor(reference, timeout=args.timeout)
        items, expected = sort_items(storage.items()), sort_items(reference.items())
    else:
        with PaginatedSource(total=args.total, style=args.pagination, latency_secs=args.latency) as source:
            storage.write_input(source.input_for(pageSize=args.page_size, **parallel))
            platform, kills = asyncio.run(rehearse(args, storage))
        items, expected = storage.items(), expected_items(args.total, args.pagination)  # your transform's, in order
    if args.output:
        args.output.write_text(json.dumps(items, ensure_ascii=False, indent=1))
    state = storage.state() or {}
    max_pages = None
    if is_crawler():
        max_pages = (json.loads((storage.store / "INPUT.json").read_text())).get("maxRequestsPerCrawl", 100)
    lines, exact = report(platform, kills, items, expected, pages=state.get("pages", 0), max_pages=max_pages)
    print(f"Rehearsal of {package_name()} ({'your input' if args.input else 'built-in local source'}):")
    print("\n".join(f"  {line}" for line in lines))
    print(f"  storage and log        {storage.root}, {storage.root.parent / 'actor.log'}")
    if args.output:
        print(f"  items written to       {args.output}")
    print("RESULT: exact, every item once, in order" if exact else "RESULT: NOT EXACT (see above and actor.log)")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT_ROOT))
    sys.exit(main())
