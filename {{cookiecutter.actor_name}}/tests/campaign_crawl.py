"""The fault campaign's grounds for the crawler kinds (campaign.py, campaign_grounds.py), each drawn from a seed:

- `redirects`: redirect_routes.py's site and router, with start URLs whose old addresses answer 301, 302, 303, 307
  or 308 (drawn for each), a form POST answered 301, 302 or 303 (Post/Redirect/Get), one URL queued under two
  labels with keys of the user's own and redirected to its canonical address, and a start URL redirected to a
  one-time address (a new token every time); the run killed -9 at a random instant once it works, then run to its
  end. Checks: each request saves the page it loaded once; Done, exit 0.
- `incremental` (website kind): incremental crawls of a site that grows between runs, whose pages link back home
  (a Home link) and to a listing: with the generated routes.py, or home_link_routes.py's revisitLabels listing
  (reached by unlabelled links too); some runs killed for good. Checks: the runs that succeeded deliver each page's
  item once, taken together.
- `scale-out` (website kind): parallelRuns 2, one worker killed -9 at its start and at each resurrection until the
  job fails naming it, then the coordinator resurrected; some coordinators killed -9 on the way. Checks: a failed
  job fails with one line, its resurrection finishes it, every page once.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from campaign_grounds import Ended, Ground, log_of, one_line_failure, run_locally, wait_while_progressing
from harness import ROUTES_VARIABLE, Storage, kill_once_working, start_actor
from local_site import LocalSite
from platform_standin import PlatformStandIn
from rehearse import is_browser

GET_REDIRECTS = (301, 302, 303, 307, 308)
WAITS = {"STATUS_INTERVAL_SECS": "0.2", "PUSH_SETTLE_SECS": "1", "COORDINATOR_CHECK_SECS": "0.5"}


def _redirect_site_class() -> Any:
    from redirect_routes import RedirectSite  # noqa: PLC0415 - imported with the router it goes with

    class DrawnRedirectSite(RedirectSite):
        """RedirectSite whose old addresses (`/old/<n>`) answer the status drawn for each (`old_statuses`), and
        whose results page takes the POST a 307 or 308 keeps."""

        old_statuses: dict[int, int]

        def _handler_class(self) -> Any:
            site, plain = self, super()._handler_class()

            class Handler(plain):
                def do_GET(self) -> None:
                    number = self.path.removeprefix("/old/")
                    if self.path.startswith("/old/") and number.isdigit():
                        self._redirect_to(site.old_statuses.get(int(number), 301), f"/page/{number}")
                        return
                    super().do_GET()

                def do_POST(self) -> None:
                    if self.path == "/results" and site.post_redirect in {307, 308}:  # the POST kept, as asked
                        self.rfile.read(int(self.headers.get("Content-Length") or 0))
                        self._answer_with(200, site._page("/results") or "")
                        return
                    super().do_POST()

            return Handler

    return DrawnRedirectSite


def redirects_ground(seed: int, root: Path) -> Ground:
    chance = random.Random(seed)
    olds = chance.sample(range(1, 8), 3)
    drawn = {
        # A 307 or 308 keeps the POST (the results page takes it then); a browser's form is sent after a 303.
        "post_redirect": chance.choice(GET_REDIRECTS if not is_browser() else [303]),
        "old_statuses": {n: chance.choice(GET_REDIRECTS) for n in olds},
        "kill_within": round(chance.uniform(0.2, 2.0), 2),
        "maxConcurrency": chance.choice([1, 2, 4]),
    }
    ground = Ground("redirects", drawn)
    site = _redirect_site_class()(pages=8, post_redirect=drawn["post_redirect"])
    site.old_statuses = drawn["old_statuses"]
    storage = Storage(root / "storage")
    with site:
        paths = ["/form", "/two-labels", "/file", *(f"/old/{n}" for n in olds), "/page/0"]
        start_urls = [{"url": f"{site.origin}{path}"} for path in paths]
        storage.write_input(
            {"startUrls": start_urls, "maxRequestsPerCrawl": 0, "maxConcurrency": drawn["maxConcurrency"]}
        )
        env = {ROUTES_VARIABLE: "redirect_routes"}
        process = start_actor(storage, log_path=root / "killed.log", **env)
        killed = kill_once_working(process, lambda: storage.item_count() > 0, chance, drawn["kill_within"])
        ground.log.append(f"first run: {'killed' if killed else f'exit {process.returncode}'}")
        ended = (
            run_locally(storage, ground, "run", **env)
            if killed
            else Ended(process.returncode, log_of(root / "killed.log"))
        )
        _check_done(ground, ended)
        expected = [(None, path.split("?")[0]) for path in ("/form", "/two-labels", "/file", "/page/0")]
        expected += [(None, f"/page/{n}") for n in olds] + [("RESULTS", "/results"), ("A", "/page/1"), ("B", "/page/1")]
        got = sorted(((item.get("label"), urlsplit(item["url"]).path) for item in storage.items()), key=str)
        want = sorted(expected, key=str)
        if got != want:
            ground.problems.append(f"items {got}, expected {want}")
    return ground


def _check_done(ground: Ground, ended: Ended) -> None:
    if ended.code != 0:
        ground.check(one_line_failure(ended) or f"exit {ended.code}", f"the run failed ({ended.said!r})")
    elif not ended.said.startswith("Done"):
        ground.problems.append(f"exit 0 without Done: {ended.said!r}")
    elif "failed" in ended.said:
        ground.problems.append(f"pages failed: {ended.said!r}")


def incremental_ground(seed: int, root: Path) -> Ground:
    from schedule import Schedule  # noqa: PLC0415 - shared with the incremental tests

    chance = random.Random(seed)
    # The generated routes.py (its pages link back home), or home_link_routes.py (revisitLabels LIST, also reached by
    # unlabelled links, and Home links).
    routes = chance.choice(["generated", "home-link"])
    drawn = {"routes": routes, "runs": [chance.choice(["none", "none", "kill"]) for _ in range(3)]}
    ground = Ground("incremental", drawn)
    with LocalSite(pages=chance.randint(4, 8), listing=True, latency_secs=0.02) as site:
        actor_input: dict[str, Any] = {"startUrls": [{"url": site.home}], "maxRequestsPerCrawl": 0, "incremental": True}
        env: dict[str, str] = {}
        if routes != "generated":
            actor_input["revisitLabels"] = ["LIST"]
            env = {ROUTES_VARIABLE: f"{routes.replace('-', '_')}_routes"}
        schedule = Schedule(Storage(root / "storage"), actor_input)
        for number, disruption in enumerate([*drawn["runs"], "none"]):
            # The site grows between runs: new pages are found through the listing loaded again (revisitLabels).
            site.pages += chance.randint(0, 3) if number and routes != "generated" else 0
            if disruption == "kill":
                schedule.killed_run(chance, 1.0, **env)
            else:
                log_path = root / f"run{number + 1}.log"
                process = schedule.start(log_path=log_path, **env)
                if hang := wait_while_progressing(process, log_path, schedule.storage.root):
                    ground.problems.append(f"run {number + 1} {hang}: a hang")
                schedule.ended(process)
                ended = Ended(process.returncode, log_of(log_path))
                if disruption == "none" and ended.code != 0:
                    ground.check(one_line_failure(ended) or "failed", f"run {number + 1} ({ended.said!r})")
            ground.log.append(f"run {number + 1} ({disruption}): {schedule.runs[-1][0]}, {len(schedule.runs[-1][1])}")
        delivered = schedule.delivered_by_succeeded_runs()
        # The listing of home_link_routes.py is delivered again when it lists more pages: each version once.
        versions = [item.get("pages") for item in delivered if urlsplit(item["url"]).path == "/list"]
        if routes == "home-link" and len(versions) != len(set(versions)):
            ground.problems.append(f"the listing's versions delivered: {versions} (one twice)")
        urls = sorted(path for item in delivered if (path := urlsplit(item["url"]).path) != "/list")
        want = sorted([*(f"/page/{n}" for n in range(site.pages)), "/"])
        if routes == "generated" and versions != [None]:
            ground.problems.append(f"the listing delivered {len(versions)} times")
        if urls != want:
            twice = sorted({url for url in urls if urls.count(url) > 1})
            ground.problems.append(
                f"succeeded runs delivered {len(urls)} pages: twice {twice}, missing {sorted(set(want) - set(urls))}"
            )
    return ground


def scale_out_ground(seed: int, root: Path) -> Ground:
    chance = random.Random(seed)
    drawn = {"pages": chance.randint(40, 80), "coordinator_kills": chance.randint(0, 2)}
    ground = Ground("scale-out", drawn)
    asyncio.run(_worker_killed_four_times(ground, root, drawn, chance))
    return ground


async def _worker_killed_four_times(ground: Ground, root: Path, drawn: dict[str, Any], chance: random.Random) -> None:
    storage = Storage(root / "storage")
    with LocalSite(pages=drawn["pages"], latency_secs=0.05) as site:
        storage.write_input({"startUrls": [{"url": site.url(0)}], "maxRequestsPerCrawl": 0, "parallelRuns": 2})
        async with PlatformStandIn(storage, env=WAITS) as platform:
            await platform.start()
            for _death in range(drawn["coordinator_kills"]):
                await _until(lambda: len(platform.others) >= 2 or platform.process.poll() is not None)
                await asyncio.sleep(chance.uniform(0, 1.5))
                if platform.process.poll() is None:
                    platform.kill()
                    ground.log.append("coordinator killed")
                    await _resurrect(platform)
            await _until(lambda: len(platform.others) >= 2 or platform.process.poll() is not None)
            if len(platform.others) >= 2:
                victim = platform.others[list(platform.others)[-1]]
                for kill in range(4):
                    await _until(
                        lambda kill=kill: (
                            (victim.resurrections >= kill and victim.process.poll() is None)
                            or platform.process.poll() is not None
                        )
                    )
                    if platform.process.poll() is not None:
                        break
                    await asyncio.to_thread(platform.kill_run, victim.run_id)
                    ground.log.append(f"worker {victim.run_id[-2:]} killed ({kill + 1})")
            for _resurrection in range(3):
                code, said = await _job_end(ground, platform, storage)
                if code == 0:
                    break
                if (
                    "Traceback (most recent call last)"
                    in log_of(storage.root.parent / "actor.log").split("Run", 1)[-1][-5000:]
                ):
                    ground.problems.append("the job failed with a traceback")
                await _resurrect(platform)
            else:
                ground.problems.append(f"three resurrections, and the job never finished: {said!r}")
                return
            urls = sorted(urlsplit(item["url"]).path for item in storage.items())
            want = sorted(f"/page/{n}" for n in range(drawn["pages"]))
            if urls != want:
                twice = sorted({url for url in urls if urls.count(url) > 1})
                ground.problems.append(
                    f"{len(urls)} pages saved: twice {twice[:5]}, missing {sorted(set(want) - set(urls))[:5]}"
                )


async def _until(condition: Any, within: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)


async def _resurrect(platform: PlatformStandIn) -> None:
    """The coordinator's run ended (FAILED: its workers see it ended, and stop); then someone resurrects it."""
    platform.main_status = "FAILED"
    await _until(lambda: not platform.running_runs())
    platform.main_status = "RUNNING"
    await platform.start()


async def _job_end(ground: Ground, platform: PlatformStandIn, storage: Storage) -> tuple[int, str]:
    if hang := await asyncio.to_thread(
        wait_while_progressing, platform.process, storage.root.parent / "actor.log", storage.root.parent
    ):
        ground.problems.append(f"the coordinator {hang}: a hang")
    platform.reap()
    statuses = [message for _at, message, terminal in platform.status_messages() if terminal]
    said = statuses[-1] if statuses else ""
    ground.log.append(f"exit {platform.exit_codes[-1]} {said[:120]!r}")
    return platform.exit_codes[-1], said
