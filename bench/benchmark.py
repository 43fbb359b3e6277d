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
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "bench"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "benchmark.json", help="where to write JSON")
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a smoke run of every measurement")
    parser.add_argument("--project", type=Path, help=argparse.SUPPRESS)  # stage 2: the baked project
    parser.add_argument("--crawler", action="store_true", help=argparse.SUPPRESS)  # stage 2: the website kind
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
        f"resumable = importlib.import_module('{package}.resumable')\n"
        "persist = resumable.ResumableRun._persist\n"
        "async def persist_at_end(self):\n"
        "    if self.state.get('finished'):\n"
        "        await persist(self)\n"
        "resumable.ResumableRun._persist = persist_at_end\n"
        f"asyncio.run(importlib.import_module('{package}.main').main())\n"
    )
    timings: dict[str, list[float]] = {"every page": [], "at the end": []}
    total = int(20_000 * scale)
    for _round in range(3):
        for name, entry in (("every page", None), ("at the end", str(variant))):
            storage = fresh_storage()
            with harness.PaginatedSource(total=total) as source:
                storage.write_input({"apiUrl": source.url, "pageSize": 50})
                timings[name].append(timed_run(storage, entry=entry)[0])
    every, at_end = statistics.median(timings["every page"]), statistics.median(timings["at the end"])
    results["checkpoint"] = {"items": total, "pages": total // 50, "every_page_s": every, "at_end_s": at_end}
    print(f"  checkpoint overhead: {100 * (every / at_end - 1):+.1f} % ({every:.2f} s vs {at_end:.2f} s)")

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
            f"checkpoint every page vs at the end ({checkpoint['pages']} pages, median of 3)",
            f"{checkpoint['every_page_s']:.2f} s vs {checkpoint['at_end_s']:.2f} s ({overhead:+.1f} %)",
            "≤ 3 % slower",
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


def measure_crawler(project: Path, quick: bool) -> dict:
    """Pages/s of the exactly-once crawler against a plain crawlee ParselCrawler (same class, same concurrency,
    same handler work, push_data per page) on the same local site, interleaved, median of 3 each."""
    sys.path[:0] = [str(project / "tests"), str(project)]
    import harness
    from local_site import LocalSite

    plain = Path(tempfile.mkdtemp()) / "plain_crawler.py"
    plain.write_text(PLAIN_CRAWLER)
    pages = 200 if quick else 2000
    timings: dict[str, list[float]] = {"exactly once": [], "plain crawlee": []}
    with LocalSite(pages=pages, latency_secs=0.02) as site:
        for _round in range(3):
            for name, entry in (("exactly once", None), ("plain crawlee", str(plain))):
                storage = harness.Storage(Path(tempfile.mkdtemp(prefix="bench-")) / "storage")
                storage.write_input(
                    {
                        "startUrls": [{"url": site.url(0)}],
                        "maxRequestsPerCrawl": 0,
                        "maxConcurrency": 10,
                        "maxRequestRetries": 3,
                    }
                )
                started = time.perf_counter()
                result = harness.run_actor(storage, entry=entry, timeout=900)
                elapsed = time.perf_counter() - started
                if result.returncode != 0 or storage.item_count() != pages:
                    raise SystemExit(f"{name}: exit {result.returncode}, {storage.item_count()} of {pages} pages")
                timings[name].append(elapsed)
                print(f"  {name}: {pages / elapsed:.0f} pages/s")
    exact, plain_s = statistics.median(timings["exactly once"]), statistics.median(timings["plain crawlee"])
    return {"pages": pages, "concurrency": 10, "latency_s": 0.02, "exactly_once_s": exact, "plain_s": plain_s}


def crawler_row(crawler: dict) -> str:
    exact, plain = crawler["pages"] / crawler["exactly_once_s"], crawler["pages"] / crawler["plain_s"]
    cost = 100 * (1 - exact / plain)
    return (
        f"| pages/s, website crawler ({crawler['pages']} pages of 20 ms, concurrency 10, median of 3): exactly-once"
        f" vs plain crawlee | {exact:.0f} vs {plain:.0f} ({abs(cost):.1f} % {'slower' if cost > 0 else 'faster'})"
        " | ≤ 15 % slower |"
    )


def main() -> None:
    args = parse_args()
    if args.project is None:
        quick = ["--quick"] if args.quick else []
        crawler_project, crawler_python = prepare("website")
        crawler_out = args.out.with_name(args.out.stem + "-crawler.json")
        command = [str(crawler_python), __file__, "--project", str(crawler_project), "--crawler", "--out"]
        subprocess.run([*command, str(crawler_out), *quick], check=True)
        project, python = prepare()
        command = [str(python), __file__, "--project", str(project), "--out", str(args.out)]
        sys.exit(subprocess.run(command + quick, check=False).returncode)
    print(f"Measuring {args.project} ...")
    if args.crawler:
        crawler = measure_crawler(args.project, args.quick)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(crawler, indent=2))
        print(crawler_row(crawler))
        return
    results = measure(args.project, args.quick)
    crawler_out = args.out.with_name(args.out.stem + "-crawler.json")
    if crawler_out.exists():
        results["crawler"] = json.loads(crawler_out.read_text())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    info = results["machine"]
    print(f"\nMachine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, {info['os']}\n")
    print(table(results))
    print(f"\nJSON: {args.out}")


if __name__ == "__main__":
    main()
