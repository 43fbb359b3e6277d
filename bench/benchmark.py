"""Benchmark of the generated Actor: bakes the template, runs the Actor as a real subprocess against a local
paginated API (the baked project's own test source) and prints a table of figures; writes them as JSON.

    .venv/bin/python bench/benchmark.py [--out build/benchmark.json] [--quick]

It runs in two stages: this repository's environment bakes the project and builds the Actor's virtual
environment (as its Dockerfile installs it), then the script runs again in that environment to measure.
Figures, not verdicts: each row says its target, and the note under the table what limits it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "bench"
PLATFORM_ROUND_TRIP_S = 0.03  # a storage call on the platform: an HTTP request to the Apify API
# An entry point that puts a wait before every storage call the Actor makes (state save, push, dataset read,
# request-queue write) in the local storage clients, then runs the Actor (or BENCH_SCRIPT): the platform's
# round trips, the same for every contender.
LATENCY_ENTRY = """
import asyncio, functools, os, runpy, sys
sys.path.insert(0, os.getcwd())
from apify.storage_clients._file_system._dataset_client import ApifyFileSystemDatasetClient
from apify.storage_clients._file_system._key_value_store_client import ApifyFileSystemKeyValueStoreClient
from crawlee.storage_clients._file_system._dataset_client import FileSystemDatasetClient
from crawlee.storage_clients._file_system._request_queue_client import FileSystemRequestQueueClient

LATENCY = float(os.environ["STORAGE_LATENCY_SECS"])
(package,) = [p.parent.name for p in __import__("pathlib").Path.cwd().glob("*/__main__.py")]

def delayed(method, wait=LATENCY):
    @functools.wraps(method)
    async def wrapper(*args, **kwargs):
        await asyncio.sleep(wait)
        return await method(*args, **kwargs)
    return wrapper

for cls, names in (
    (ApifyFileSystemDatasetClient, ["push_data"]),
    (FileSystemDatasetClient, ["get_data"]),
    (ApifyFileSystemKeyValueStoreClient, ["set_value"]),
    (FileSystemRequestQueueClient, ["add_batch_of_requests", "mark_request_as_handled", "reclaim_request"]),
):
    for name in names:
        setattr(cls, name, delayed(getattr(cls, name)))
if read_secs := float(os.environ.get("SOURCE_READ_SECS", "0")):  # your own source: a round trip per page
    source = __import__("importlib").import_module(package + ".source").Source
    source.read = delayed(source.read, read_secs)
if script := os.environ.get("BENCH_SCRIPT"):
    runpy.run_path(script, run_name="__main__")
else:
    runpy.run_module(package, run_name="__main__")
"""


def latency_entry() -> Path:
    entry = Path(tempfile.gettempdir()) / "bench_storage_latency.py"
    entry.write_text(LATENCY_ENTRY)
    return entry


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "benchmark.json", help="where to write JSON")
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a smoke run of every measurement")
    parser.add_argument("--project", type=Path, help=argparse.SUPPRESS)  # stage 2: the baked project
    parser.add_argument("--crawler", action="store_true", help=argparse.SUPPRESS)  # stage 2: the website kind
    parser.add_argument("--browser", action="store_true", help=argparse.SUPPRESS)  # stage 2: the browser kind
    parser.add_argument("--parallel", action="store_true", help=argparse.SUPPRESS)  # stage 2: parallel runs
    parser.add_argument("--custom", action="store_true", help=argparse.SUPPRESS)  # stage 2: your own source
    return parser.parse_args()


# --- stage 1: bake and build the Actor's environment, then run stage 2 in it ------------------------------


def prepare(source: str = "json_api") -> tuple[Path, Path]:
    from cookiecutter.main import cookiecutter

    output = BUILD / source
    project = Path(
        cookiecutter(
            str(REPO), no_input=True, output_dir=str(output), overwrite_if_exists=True, extra_context={"source": source}
        )
    )
    venv = output / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        (install,) = re.findall(r"^RUN (pip install .+)$", (project / "Dockerfile").read_text(), re.MULTILINE)
        env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
        subprocess.run(["bash", "-c", install], cwd=project, env=env, check=True)
    return project, python


# --- stage 2: measure ---------------------------------------------------------------------------------------


def measure(project: Path, quick: bool) -> dict:
    sys.path[:0] = [str(project / "tests"), str(project)]
    import harness
    import psutil
    from platform_standin import PlatformStandIn

    package = harness.package_name()
    scale = 0.1 if quick else 1.0
    results: dict = {"machine": machine(), "quick": quick}

    def fresh_storage() -> harness.Storage:
        return harness.Storage(Path(tempfile.mkdtemp(prefix="bench-")) / "storage")

    def timed_latency_run(storage: harness.Storage, latency: float) -> float:
        entry = latency_entry()
        started = time.perf_counter()
        result = harness.run_actor(storage, entry=str(entry), timeout=900, STORAGE_LATENCY_SECS=str(latency))
        if result.returncode != 0:
            raise SystemExit(f"the Actor exited {result.returncode}: {result.stdout[-2000:]}")
        return time.perf_counter() - started

    def timed_run(storage: harness.Storage, entry: str | None = None, sample_rss: bool = False) -> tuple[float, int]:
        """Wall time of the whole process, and its peak RSS in bytes (when sampled)."""
        started = time.perf_counter()
        process = harness.start_actor(storage, entry=entry)
        peak = 0
        watched = psutil.Process(process.pid)
        while process.poll() is None:
            if sample_rss:
                try:
                    peak = max(peak, watched.memory_info().rss)
                except psutil.NoSuchProcess:
                    break
            time.sleep(0.02)
        process.wait()
        elapsed = time.perf_counter() - started
        if process.returncode != 0:
            raise SystemExit(f"the Actor exited {process.returncode}: {storage.root.parent / 'actor.log'}")
        return elapsed, peak

    # 1. Throughput at prefetch depth 1, 4, 8 on a slow and a faster source (whole process timed).
    throughput = []
    for latency, total in ((0.2, int(10_000 * scale)), (0.05, int(10_000 * scale))):
        for depth in (1, 4, 8):
            storage = fresh_storage()
            with harness.PaginatedSource(total=total, latency_secs=latency) as source:
                storage.write_input({"apiUrl": source.url, "pageSize": 50, "prefetchPages": depth})
                elapsed, _ = timed_run(storage)
            assert storage.item_count() == total
            throughput.append({"latency_s": latency, "depth": depth, "items": total, "seconds": elapsed})
            print(f"  throughput: {latency * 1000:.0f} ms pages, depth {depth}: {total / elapsed:.0f} items/s")
    results["throughput"] = throughput

    # 1b. A cursor-style source on the same 50 ms pages: one page at a time, as each page names the next.
    total = int(5_000 * scale)
    storage = fresh_storage()
    with harness.PaginatedSource(total=total, style="cursor", latency_secs=0.05) as source:
        storage.write_input(source.input_for(pageSize=50))
        elapsed, _ = timed_run(storage)
    assert storage.item_count() == total
    results["cursor"] = {"latency_s": 0.05, "items": total, "seconds": elapsed}
    print(f"  throughput: cursor pages of 50 ms: {total / elapsed:.0f} items/s")

    # 2. Checkpoint overhead: a checkpoint after every page vs only at the end (a variant made here only).
    variant = Path(tempfile.mkdtemp()) / "checkpoint_at_end.py"
    variant.write_text(
        "import asyncio, importlib, os, sys\n"
        "sys.path.insert(0, os.getcwd())\n"
        f"resumable = importlib.import_module('{package}.engine.resumable')\n"
        "persist = resumable.ResumableRun.persist\n"
        "async def persist_at_end(self):\n"
        "    if self.state.get('finished'):\n"
        "        await persist(self)\n"
        "resumable.ResumableRun.persist = persist_at_end\n"
        f"asyncio.run(importlib.import_module('{package}.main').main())\n"
    )
    timings: dict[str, list[float]] = {"every page": [], "at the end": []}
    total = int(20_000 * scale)
    for _round in range(5):
        for name, entry in (("every page", None), ("at the end", str(variant))):
            storage = fresh_storage()
            with harness.PaginatedSource(total=total) as source:
                storage.write_input({"apiUrl": source.url, "pageSize": 50})
                timings[name].append(timed_run(storage, entry=entry)[0])
    every, at_end = statistics.median(timings["every page"]), statistics.median(timings["at the end"])
    results["checkpoint"] = {"items": total, "pages": total // 50, "every_page_s": every, "at_end_s": at_end}
    print(f"  checkpoint overhead: {100 * (every / at_end - 1):+.1f} % ({every:.2f} s vs {at_end:.2f} s)")

    # 2b. On the platform every storage call is a round trip: the same Actor with 30 ms before each, and without.
    total, rates = int(6_000 * scale), {}
    for latency in (0.0, PLATFORM_ROUND_TRIP_S):
        runs = []
        for _round in range(3):
            storage = fresh_storage()
            with harness.PaginatedSource(total=total, latency_secs=0.03) as source:
                storage.write_input({"apiUrl": source.url, "pageSize": 50, "prefetchPages": 8})
                runs.append(timed_latency_run(storage, latency))
            assert storage.items() == harness.expected_items(total)
        rates[latency] = total / statistics.median(runs)
        print(f"  JSON kind, storage calls {latency * 1000:.0f} ms: {rates[latency]:.0f} items/s")
    results["storage_latency"] = {
        "items": total,
        "round_trip_s": PLATFORM_ROUND_TRIP_S,
        "items_per_s": {str(latency): rate for latency, rate in rates.items()},
    }

    # 3. Replayed work after kill -9 (prefetch depth 4).
    total = int(5_000 * scale)
    storage = fresh_storage()
    with harness.PaginatedSource(total=total, latency_secs=0.05) as source:
        storage.write_input({"apiUrl": source.url, "pageSize": 50})
        process = harness.start_actor(storage)
        while storage.item_count() < total // 2 and process.poll() is None:
            time.sleep(0.005)
        process.kill()
        process.wait()
        killed_at = storage.item_count()
        timed_run(storage)
    served = Counter(offset for offset, _limit, status in source.requests if status == 200 and offset < total)
    refetched = sum((count - 1) * 50 for count in served.values())
    duplicates, missing = harness.duplicates_and_missing(storage.items(), harness.expected_items(total))
    results["kill"] = {"items": total, "killed_at": killed_at, "refetched": refetched, "repushed": duplicates}
    results["kill"]["missing"] = missing
    print(f"  kill -9 at {killed_at} items: {refetched} re-fetched, {duplicates} re-pushed, {missing} missing")

    # 4. Time from `migrating` to the reboot request, with the platform stand-in.
    async def migrations() -> list[float]:
        storage = fresh_storage()
        with harness.PaginatedSource(total=int(20_000 * scale), latency_secs=0.05) as source:
            storage.write_input({"apiUrl": source.url, "pageSize": 50})
            async with PlatformStandIn(storage) as standin:
                await standin.start()
                for _ in range(3):
                    await standin.wait_for_items(storage.item_count() + 200)
                    await standin.migrate()
                await standin.wait_for_exit(within=600)
                return [m.reboot_after_secs for m in standin.migrations]

    delays = asyncio.run(migrations())
    results["migrating_to_reboot_s"] = delays
    print(f"  migrating -> reboot: {', '.join(f'{d * 1000:.0f} ms' for d in delays)}")

    # 5. State record size and peak RSS at 10k and 200k items.
    memory = []
    for total in (int(10_000 * scale), int(200_000 * scale)):
        storage = fresh_storage()
        with harness.PaginatedSource(total=total) as source:
            storage.write_input({"apiUrl": source.url, "pageSize": 1000})
            elapsed, peak = timed_run(storage, sample_rss=True)
        state_bytes = (storage.store / harness.STATE_KEY).stat().st_size
        memory.append({"items": total, "state_bytes": state_bytes, "peak_rss_mb": peak / 2**20, "seconds": elapsed})
        print(f"  {total} items: state {state_bytes} B, peak RSS {peak / 2**20:.0f} MiB, {elapsed:.1f} s")
    results["memory"] = memory

    # 6. Start-up: importing the Actor's main module, and a whole run on an empty source.
    imports = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {package}.main"], cwd=project, check=True)
        imports.append(time.perf_counter() - started)
    empty_runs = []
    for _ in range(3):
        storage = fresh_storage()
        with harness.PaginatedSource(total=0) as source:
            storage.write_input({"apiUrl": source.url})
            empty_runs.append(timed_run(storage)[0])
    results["startup"] = {"import_s": statistics.median(imports), "empty_run_s": statistics.median(empty_runs)}
    print(f"  import {statistics.median(imports):.2f} s, empty run {statistics.median(empty_runs):.2f} s")
    return results


def machine() -> dict:
    model = ""
    if Path("/proc/cpuinfo").exists():
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        model = found.group(1) if found else ""
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "os": platform.platform()}


def table(results: dict) -> str:
    """The figures as a Markdown table, each with its target."""
    rows = []
    by = {(r["latency_s"], r["depth"]): r for r in results["throughput"]}
    for latency in (0.2, 0.05):
        rate = {depth: by[latency, depth]["items"] / by[latency, depth]["seconds"] for depth in (1, 4, 8)}
        target = "depth 8 ≥ 5x depth 1" if latency == 0.2 else "report"
        rows.append(
            (
                f"items/s, {latency * 1000:.0f} ms per 50-item page, prefetch 1 / 4 / 8",
                f"{rate[1]:.0f} / {rate[4]:.0f} / {rate[8]:.0f} ({rate[8] / rate[1]:.1f}x)",
                target,
            )
        )
    cursor = results["cursor"]
    rows.append(
        (
            "items/s, 50 ms per 50-item page, cursor pagination (one page at a time)",
            f"{cursor['items'] / cursor['seconds']:.0f}",
            "report",
        )
    )
    checkpoint = results["checkpoint"]
    overhead = 100 * (checkpoint["every_page_s"] / checkpoint["at_end_s"] - 1)
    rows.append(
        (
            f"checkpoint every group vs at the end ({checkpoint['pages']} pages, no storage latency, median of 5)",
            f"{checkpoint['every_page_s']:.2f} s vs {checkpoint['at_end_s']:.2f} s ({overhead:+.1f} %)",
            "≤ 3 % slower",
        )
    )
    latency = results["storage_latency"]
    local, remote = latency["items_per_s"]["0.0"], latency["items_per_s"][str(latency["round_trip_s"])]
    rows.append(
        (
            f"items/s, JSON kind, {latency['items']} items in 50-item pages of 30 ms, prefetch 8: storage calls "
            f"local vs {latency['round_trip_s'] * 1000:.0f} ms (median of 3)",
            f"{local:.0f} vs {remote:.0f} ({remote / local:.2f}x)",
            "≥ 0.85x",
        )
    )
    kill = results["kill"]
    rows.append(
        (
            f"kill -9 at {kill['killed_at']} of {kill['items']} items, then resume",
            f"{kill['refetched']} re-fetched, {kill['repushed']} re-pushed, {kill['missing']} missing",
            "0 re-pushed",
        )
    )
    delays = results["migrating_to_reboot_s"]
    rows.append(
        (
            "`migrating` → reboot request (stand-in, 3 migrations)",
            ", ".join(f"{d * 1000:.0f} ms" for d in delays),
            "report",
        )
    )
    small, large = results["memory"]
    growth = 100 * (large["peak_rss_mb"] / small["peak_rss_mb"] - 1)
    rows.append(
        (
            f"state record / peak RSS at {small['items']} and {large['items']} items",
            f"{small['state_bytes']} B / {large['state_bytes']} B; "
            f"{small['peak_rss_mb']:.0f} MiB / {large['peak_rss_mb']:.0f} MiB ({growth:+.0f} %)",
            "constant state, < 10 % RSS growth",
        )
    )
    startup = results["startup"]
    rows.append(
        (
            "start-up: import of main / a whole run of an empty source",
            f"{startup['import_s']:.2f} s / {startup['empty_run_s']:.2f} s",
            "report",
        )
    )
    lines = ["| measure | result | target |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {target} |" for name, value, target in rows]
    if "crawler" in results:
        lines.append(crawler_row(results["crawler"]))
    if "browser" in results:
        lines.append(browser_row(results["browser"]))
    if "parallel" in results:
        lines.append(parallel_row(results["parallel"]))
    if "custom" in results:
        lines.append(custom_row(results["custom"]))
    return "\n".join(lines)


PLAIN_CRAWLER = """
import asyncio
from apify import Actor
from crawlee import ConcurrencySettings
from crawlee.crawlers import ParselCrawler

async def main():
    async with Actor:
        actor_input = await Actor.get_input()
        concurrency = actor_input["maxConcurrency"]
        crawler = ParselCrawler(
            concurrency_settings=ConcurrencySettings(max_concurrency=concurrency, desired_concurrency=concurrency),
            max_request_retries=actor_input["maxRequestRetries"],
            configure_logging=False,
        )

        @crawler.router.default_handler
        async def handle(context):
            await context.enqueue_links(strategy="same-hostname")
            title = (context.selector.css("title::text").get() or "").strip()
            await context.push_data({"url": context.request.loaded_url or context.request.url, "title": title})

        await crawler.run([source["url"] for source in actor_input["startUrls"]])

asyncio.run(main())
"""


def race(site, pages: int, concurrency: int, contenders: dict[str, dict], label: str) -> dict[str, float]:
    """Crawl `site` with each contender (name -> run_actor keyword arguments: entry, environment) three times,
    interleaved, from fresh storage; the median seconds of each. Every run must save every page once."""
    import harness

    timings: dict[str, list[float]] = {name: [] for name in contenders}
    for _round in range(3):
        for name, how in contenders.items():
            storage = harness.Storage(Path(tempfile.mkdtemp(prefix="bench-")) / "storage")
            storage.write_input(
                {
                    "startUrls": [{"url": site.url(0)}],
                    "maxRequestsPerCrawl": 0,
                    "maxConcurrency": concurrency,
                    "maxRequestRetries": 3,
                }
            )
            started = time.perf_counter()
            result = harness.run_actor(storage, timeout=900, **how)
            elapsed = time.perf_counter() - started
            if result.returncode != 0 or storage.item_count() != pages:
                raise SystemExit(f"{name}: exit {result.returncode}, {storage.item_count()} of {pages} pages")
            timings[name].append(elapsed)
            print(f"  {label}, {name}: {pages / elapsed:.1f} pages/s")
    return {name: statistics.median(runs) for name, runs in timings.items()}


def measure_crawler(project: Path, quick: bool) -> dict:
    """Pages/s of the exactly-once crawler against a plain crawlee ParselCrawler (same class, same concurrency,
    same handler work, push_data per page) on the same local site, locally and with the platform's storage round
    trips."""
    sys.path[:0] = [str(project / "tests"), str(project)]
    from local_site import LocalSite

    plain = Path(tempfile.mkdtemp()) / "plain_crawler.py"
    plain.write_text(PLAIN_CRAWLER)
    results = []
    # (pages, page latency, concurrency, storage round trip): locally, and with the platform's round trips.
    for pages, page_s, concurrency, storage_s in ((2000, 0.02, 10, 0.0), (500, 0.03, 20, PLATFORM_ROUND_TRIP_S)):
        pages = pages // 10 if quick else pages
        entry, latency = str(latency_entry()), str(storage_s)
        contenders = {
            "exactly once": {"entry": entry, "STORAGE_LATENCY_SECS": latency, "BENCH_SCRIPT": ""},
            "plain crawlee": {"entry": entry, "STORAGE_LATENCY_SECS": latency, "BENCH_SCRIPT": str(plain)},
        }
        with LocalSite(pages=pages, latency_secs=page_s) as site:
            medians = race(site, pages, concurrency, contenders, f"storage calls {storage_s * 1000:.0f} ms")
        results.append(
            {
                "pages": pages,
                "concurrency": concurrency,
                "latency_s": page_s,
                "storage_latency_s": storage_s,
                "exactly_once_s": medians["exactly once"],
                "plain_s": medians["plain crawlee"],
            }
        )
    return {"runs": results, "kill": refetched_after_a_kill(500 // 10 if quick else 500, 20)}


def refetched_after_a_kill(pages: int, concurrency: int) -> dict:
    """The exactly-once crawler killed (SIGKILL) halfway through a crawl with the platform's storage round trips,
    then resumed: the pages it fetched again (those fetched and not saved at the kill)."""
    import harness
    from local_site import LocalSite

    entry, latency = str(latency_entry()), str(PLATFORM_ROUND_TRIP_S)
    storage = harness.Storage(Path(tempfile.mkdtemp(prefix="bench-")) / "storage")
    with LocalSite(pages=pages, latency_secs=0.03) as site:
        storage.write_input(
            {"startUrls": [{"url": site.url(0)}], "maxRequestsPerCrawl": 0, "maxConcurrency": concurrency}
        )
        process = harness.start_actor(storage, entry=entry, STORAGE_LATENCY_SECS=latency, BENCH_SCRIPT="")
        while storage.item_count() < pages // 2 and process.poll() is None:
            time.sleep(0.005)
        process.kill()
        process.wait()
        killed_at = storage.item_count()
        result = harness.run_actor(storage, entry=entry, timeout=900, STORAGE_LATENCY_SECS=latency, BENCH_SCRIPT="")
        saved = {item["url"] for item in storage.items()}
        if result.returncode != 0 or storage.item_count() != pages or len(saved) != pages:
            raise SystemExit(f"resumed after a kill: exit {result.returncode}, {storage.item_count()} of {pages} pages")
        refetched = sum(count - 1 for count in site.visits.values())
    print(f"  kill -9 at {killed_at} of {pages} pages: {refetched} pages fetched again")
    return {"pages": pages, "concurrency": concurrency, "killed_at": killed_at, "refetched": refetched}


PLAIN_BROWSER_CRAWLER = """
import asyncio
from apify import Actor
from crawlee import ConcurrencySettings
from crawlee.crawlers import PlaywrightCrawler

async def main():
    async with Actor:
        actor_input = await Actor.get_input()
        concurrency = actor_input["maxConcurrency"]
        crawler = PlaywrightCrawler(
            concurrency_settings=ConcurrencySettings(max_concurrency=concurrency, desired_concurrency=concurrency),
            max_request_retries=actor_input["maxRequestRetries"],
            browser_type="chromium",
            headless=True,
            configure_logging=False,
        )

        @crawler.pre_navigation_hook
        async def block(context):
            await context.block_requests()

        @crawler.router.default_handler
        async def handle(context):
            await context.push_data({"url": context.page.url, "title": await context.page.title()})
            await context.enqueue_links(strategy="same-hostname")

        await crawler.run([source["url"] for source in actor_input["startUrls"]])

asyncio.run(main())
"""


def measure_browser(project: Path, quick: bool) -> dict:
    """Pages/s of the exactly-once browser crawler against a plain crawlee PlaywrightCrawler (same handler, same
    concurrency, images and styles blocked in both) on the same local site, interleaved, median of 3 each: locally,
    and with the platform's round trip before every storage call."""
    sys.path[:0] = [str(project / "tests"), str(project)]
    from local_site import LocalSite

    plain = Path(tempfile.mkdtemp()) / "plain_browser_crawler.py"
    plain.write_text(PLAIN_BROWSER_CRAWLER)
    pages, concurrency = (30 if quick else 200), 4
    entry = str(latency_entry())
    runs = []
    for storage_s in (0.0, PLATFORM_ROUND_TRIP_S):
        latency = str(storage_s)
        contenders = {
            "exactly once": {"entry": entry, "STORAGE_LATENCY_SECS": latency, "BENCH_SCRIPT": ""},
            "plain crawlee": {"entry": entry, "STORAGE_LATENCY_SECS": latency, "BENCH_SCRIPT": str(plain)},
        }
        with LocalSite(pages=pages, latency_secs=0.02) as site:
            medians = race(site, pages, concurrency, contenders, f"browser, storage calls {storage_s * 1000:.0f} ms")
        runs.append(
            {
                "pages": pages,
                "concurrency": concurrency,
                "storage_latency_s": storage_s,
                "exactly_once_s": medians["exactly once"],
                "plain_s": medians["plain crawlee"],
            }
        )
    return {"runs": runs}


def browser_row(browser: dict) -> str:
    rows = []
    for run in browser.get("runs", [browser]):
        exact, plain = run["pages"] / run["exactly_once_s"], run["pages"] / run["plain_s"]
        storage = f"storage calls {run['storage_latency_s'] * 1000:.0f} ms" if run.get("storage_latency_s") else "local"
        rows.append(
            f"| pages/s, browser crawler ({run['pages']} pages of 20 ms, concurrency {run['concurrency']}, {storage}, "
            f"headless Chromium, median of 3): exactly-once vs plain crawlee `PlaywrightCrawler` | {exact:.1f} vs "
            f"{plain:.1f} ({exact / plain:.2f}x) | ≥ 0.9x |"
        )
    return "\n".join(rows)


def crawler_row(crawler: dict) -> str:
    rows = []
    for run in crawler["runs"]:
        exact, plain = run["pages"] / run["exactly_once_s"], run["pages"] / run["plain_s"]
        storage = f"storage calls {run['storage_latency_s'] * 1000:.0f} ms" if run["storage_latency_s"] else "local"
        rows.append(
            f"| pages/s, website crawler ({run['pages']} pages of {run['latency_s'] * 1000:.0f} ms, concurrency "
            f"{run['concurrency']}, {storage}, median of 3): exactly-once vs plain crawlee | {exact:.0f} vs "
            f"{plain:.0f} ({exact / plain:.2f}x) | " + ("≥ 0.9x |" if run["storage_latency_s"] else "≥ 0.85x |")
        )
    if kill := crawler.get("kill"):
        rows.append(
            f"| website crawler killed (SIGKILL) at {kill['killed_at']} of {kill['pages']} pages (concurrency "
            f"{kill['concurrency']}, storage calls {PLATFORM_ROUND_TRIP_S * 1000:.0f} ms), then resumed | "
            f"{kill['refetched']} pages fetched again, none saved twice | report (at most 5 x concurrency: "
            "pages in their slots and pages waiting for their commit) |"
        )
    return "\n".join(rows)


PARALLEL_RUNS = 3


def measure_parallel(project: Path, quick: bool) -> dict:
    """Parallel runs (parallelRuns 3) against one run, at home on the stand-in (every storage call an HTTP
    request to it), on a source of 200 ms per page read one page at a time; with storage calls answered at once
    and after a 30 ms round trip. And what the merge costs: the items written per item, the push calls."""
    sys.path[:0] = [str(project / "tests"), str(project)]
    import harness
    from platform_standin import PlatformStandIn, PlatformWays

    total = 1_500 if quick else 20_000  # pages of 50: 30 / 400 pages, 6 / 80 s for one run

    async def timed(storage: harness.Storage, latency: float) -> tuple[float, PlatformStandIn]:
        async with PlatformStandIn(storage, ways=PlatformWays(storage_latency_secs=latency)) as platform:
            started = time.perf_counter()
            await platform.start()
            code = await platform.wait_for_exit(within=900)
            elapsed = time.perf_counter() - started
        if code != 0:
            raise SystemExit(f"the Actor exited {code}: {storage.root.parent / 'actor.log'}")
        return elapsed, platform

    rows: dict = {"items": total, "page_latency_s": 0.2, "runs": PARALLEL_RUNS, "by_latency": {}}
    for latency in (0.0, PLATFORM_ROUND_TRIP_S):
        figures = {}
        for runs in (1, PARALLEL_RUNS):
            storage = harness.Storage(Path(tempfile.mkdtemp(prefix="bench-parallel-")) / "storage")
            with harness.PaginatedSource(total=total, latency_secs=0.2) as source:
                storage.write_input(source.input_for(pageSize=50, prefetchPages=1, parallelRuns=runs))
                elapsed, platform = asyncio.run(timed(storage, latency))
            if storage.items() != harness.expected_items(total):
                raise SystemExit(f"parallelRuns {runs}: the dataset is not the source's items in order")
            workers = platform.others.values()
            written = storage.item_count() + sum(other.storage.item_count() for other in workers)
            figures[str(runs)] = {
                "seconds": elapsed,
                "items_per_s": total / elapsed,
                "items_written_per_item": written / total,
                "pushes": platform.storage_api.pushes,
                "worker_pushes": sum(other.storage_api.pushes for other in workers),
            }
            print(f"  parallelRuns {runs}, storage calls {latency * 1000:.0f} ms: {total / elapsed:.0f} items/s")
        rows["by_latency"][str(latency)] = figures
    return rows


def parallel_row(parallel: dict) -> str:
    cells = []
    for latency, figures in parallel["by_latency"].items():
        one, many = figures["1"], figures[str(parallel["runs"])]
        where = "local" if float(latency) == 0 else f"{float(latency) * 1000:.0f} ms"
        cells.append(
            f"{where}: {one['items_per_s']:.0f} vs {many['items_per_s']:.0f} "
            f"({many['items_per_s'] / one['items_per_s']:.1f}x)"
        )
    many = parallel["by_latency"][str(PLATFORM_ROUND_TRIP_S)][str(parallel["runs"])]
    cost = (
        f"; cost: {many['items_written_per_item']:.1f} items written per item, "
        f"{many['pushes']} merge pushes for {parallel['items']} items"
    )
    return (
        f"| items/s, one run vs parallelRuns {parallel['runs']} (at home on the stand-in), {parallel['items']} items "
        f"in 50-item pages of 200 ms, prefetch 1, storage calls local and {PLATFORM_ROUND_TRIP_S * 1000:.0f} ms | "
        f"{'; '.join(cells)}{cost} | ≥ 2.5x |"
    )


# The plain at-least-once loop over the same source: read a page, push it, read the next; no checkpoint at all (a
# restart reads the source again from its start). The Actor's own input model, source and transform.
PLAIN_SOURCE_LOOP = """
import asyncio, importlib, pathlib
from apify import Actor

(package,) = [p.parent.name for p in pathlib.Path.cwd().glob("*/__main__.py")]
main = importlib.import_module(package + ".main")
Source = importlib.import_module(package + ".source").Source

async def run():
    async with Actor:
        actor_input = main.ActorInput.model_validate(await Actor.get_input() or {})
        async with Source(actor_input) as source:
            position = None
            while True:
                items, position = await source.read(position)
                await Actor.push_data([out for item in items if (out := main.transform(item)) is not None])
                if position is None:
                    break

asyncio.run(run())
"""
CUSTOM_READ_SECS = 0.005  # a few ms per page: the round trip to a database server


def measure_custom(project: Path, quick: bool) -> dict:
    """Items/s of your own source (source=custom) read exactly once against the same source read by the plain loop
    (push_data per page, no checkpoint): the example's keyset over a SQLite file of its own, each read a few ms
    longer, interleaved, median of 3 each; locally, and with the platform's round trip before every storage call."""
    sys.path[:0] = [str(project / "tests"), str(project)]
    import sqlite3

    rows, page_size = (1_000 if quick else 10_000), 100
    database = Path(tempfile.mkdtemp(prefix="bench-custom-")) / "items.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        connection.executemany("INSERT INTO items VALUES (?, ?)", ((i, f"row {i}") for i in range(1, rows + 1)))
    expected = [{"id": i, "name": f"row {i}"} for i in range(1, rows + 1)]
    plain = Path(tempfile.mkdtemp()) / "plain_source_loop.py"
    plain.write_text(PLAIN_SOURCE_LOOP)
    entry, read_secs = str(latency_entry()), str(CUSTOM_READ_SECS)
    runs = []
    for storage_s in (0.0, PLATFORM_ROUND_TRIP_S):
        common = {"entry": entry, "STORAGE_LATENCY_SECS": str(storage_s), "SOURCE_READ_SECS": read_secs}
        contenders = {
            "exactly once": {**common, "BENCH_SCRIPT": ""},
            "plain loop": {**common, "BENCH_SCRIPT": str(plain)},
        }
        medians = source_race(
            {"database": str(database), "pageSize": page_size}, expected, contenders, f"{storage_s * 1000:.0f} ms"
        )
        runs.append(
            {
                "items": rows,
                "page_size": page_size,
                "read_s": CUSTOM_READ_SECS,
                "storage_latency_s": storage_s,
                "exactly_once_s": medians["exactly once"],
                "plain_s": medians["plain loop"],
            }
        )
    return {"runs": runs, "load_average": os.getloadavg()}


def source_race(actor_input: dict, expected: list, contenders: dict[str, dict], label: str) -> dict[str, float]:
    """Run each contender (name -> run_actor keyword arguments) three times, interleaved, from fresh storage; the
    median seconds of each. Every run must leave the source's items, each once, in order."""
    import harness

    timings: dict[str, list[float]] = {name: [] for name in contenders}
    for _round in range(3):
        for name, how in contenders.items():
            storage = harness.Storage(Path(tempfile.mkdtemp(prefix="bench-")) / "storage")
            storage.write_input(actor_input)
            started = time.perf_counter()
            result = harness.run_actor(storage, timeout=900, **how)
            elapsed = time.perf_counter() - started
            if result.returncode != 0 or storage.items() != expected:
                raise SystemExit(f"{name}: exit {result.returncode}, {storage.item_count()} of {len(expected)} items")
            timings[name].append(elapsed)
            print(f"  your own source, storage calls {label}, {name}: {len(expected) / elapsed:.0f} items/s")
    return {name: statistics.median(runs) for name, runs in timings.items()}


def custom_row(custom: dict) -> str:
    cells = []
    for run in custom["runs"]:
        exact, plain = run["items"] / run["exactly_once_s"], run["items"] / run["plain_s"]
        where = f"storage calls {run['storage_latency_s'] * 1000:.0f} ms" if run["storage_latency_s"] else "local"
        cells.append(f"{where}: {exact:.0f} vs {plain:.0f} ({exact / plain:.2f}x)")
    run = custom["runs"][0]
    return (
        f"| items/s, your own source (source=custom: the example's keyset over a SQLite file, {run['items']} rows in "
        f"pages of {run['page_size']}, {run['read_s'] * 1000:.0f} ms per read, median of 3): exactly once vs the plain "
        f"loop (`push_data` per page, no checkpoint) | {'; '.join(cells)} | ≥ 0.9x |"
    )


def main() -> None:
    args = parse_args()
    if args.project is None:
        quick = ["--quick"] if args.quick else []
        # Each stage in its kind's environment, writing its figures beside the JSON kind's (which reads them).
        stages = (("browser", "browser"), ("website", "crawler"), ("custom", "custom"), ("json_api", "parallel"))
        for source, stage in stages:
            project, python = prepare(source)
            out = args.out.with_name(f"{args.out.stem}-{stage}.json")
            command = [str(python), __file__, "--project", str(project), f"--{stage}", "--out", str(out)]
            subprocess.run(command + quick, check=True)
        command = [str(python), __file__, "--project", str(project), "--out", str(args.out)]
        sys.exit(subprocess.run(command + quick, check=False).returncode)
    print(f"Measuring {args.project} ...")
    if args.browser and not any(
        os.environ.get(name) for name in ("CRAWLEE_DEFAULT_BROWSER_PATH", "APIFY_DEFAULT_BROWSER_PATH")
    ):
        os.environ["CRAWLEE_DEFAULT_BROWSER_PATH"] = shutil.which("chromium") or ""  # as the tests do
        if os.geteuid() == 0:
            os.environ["CRAWLEE_DISABLE_BROWSER_SANDBOX"] = "1"
    stages = (
        ("browser", measure_browser, browser_row),
        ("crawler", measure_crawler, crawler_row),
        ("parallel", measure_parallel, parallel_row),
        ("custom", measure_custom, custom_row),
    )
    for flag, measure_stage, row in stages:
        if getattr(args, flag):  # one stage of its own, in its kind's environment: figures to a file of their own
            figures = measure_stage(args.project, args.quick)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(figures, indent=2))
            print(row(figures))
            return
    results = measure(args.project, args.quick)
    for kind in ("crawler", "browser", "parallel", "custom"):
        kind_out = args.out.with_name(f"{args.out.stem}-{kind}.json")
        if kind_out.exists():
            results[kind] = json.loads(kind_out.read_text())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    info = results["machine"]
    print(f"\nMachine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, {info['os']}\n")
    print(table(results))
    print(f"\nJSON: {args.out}")


if __name__ == "__main__":
    main()
