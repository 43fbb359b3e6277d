"""A short slice of the fault campaign (campaign.py): one small scenario of each ground, other seeds each day. A
failure names its seed and the command that replays it; `python tests/rehearse.py --campaign 200 --seed S` runs a
long one."""

from __future__ import annotations

import asyncio
import datetime
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from campaign import GROUNDS, Progress, draw, ground_of, run_scenario
from harness import Storage
from platform_standin import PlatformWays, StorageApi

pytestmark = pytest.mark.campaign
# As many seeds as there are grounds (each once): the scenario of faults (small) and one of each other ground.
SCENARIOS = len(GROUNDS)
FIRST_SEED = int(os.environ.get("CAMPAIGN_SEED") or datetime.date.today().toordinal() * 1000)


@pytest.mark.parametrize("number", range(SCENARIOS))
def test_a_scenario_of_the_campaign_keeps_the_promise(tmp_path: Path, number: int) -> None:
    outcome = run_scenario(FIRST_SEED + number, small=True, root=tmp_path)
    assert not outcome.problems, outcome.report()


def test_a_run_of_the_slice_covers_every_ground() -> None:
    assert {ground_of(FIRST_SEED + number) for number in range(SCENARIOS)} == set(GROUNDS)


def test_a_seed_draws_one_scenario() -> None:
    assert draw(7, small=True) == draw(7, small=True)
    assert len({draw(seed).describe() for seed in range(20)}) == 20


def test_a_run_restarts_only_once_the_push_its_killed_process_sent_has_landed(tmp_path: Path) -> None:
    """As on the platform, where a restart comes seconds later: else the restarted run could read its dataset
    before that push lands, and push its items again."""
    storage = Storage(tmp_path / "storage")
    api = StorageApi(storage, PlatformWays(slow_share=1.0, slow_secs=0.3))
    push = threading.Thread(target=api.answer, args=("POST", "/v2/datasets/d/items", {}, b'[{"id": 1}]'))
    push.start()
    while not api.writes_in_flight and push.is_alive():
        time.sleep(0.001)
    api.wait_for_writes_in_flight()  # what a restart does first
    assert storage.item_count() == 1
    push.join()


def test_a_hang_is_no_progress_not_a_slow_run(tmp_path: Path) -> None:
    """A run that writes a new kind of log line now and then, for longer than the stall window in all, is not
    hanging; one that writes nothing (or only the same periodic line, digits aside) is."""
    log = tmp_path / "actor.log"
    script = (
        "import sys, time\n"
        "for n in range(int(sys.argv[1])):\n"
        "    print(sys.argv[2].replace('N', chr(97 + n)), flush=True)\n"
        "    time.sleep(0.3)\n"
        "time.sleep(float(sys.argv[3]))\n"
    )

    def judged(*args: str) -> str:
        with log.open("w") as out:
            process = subprocess.Popen([sys.executable, "-c", script, *args], stdout=out)
        try:
            return asyncio.run(
                Progress(tmp_path, None, cap_secs=60, stall_secs=1.5).until(lambda: process.poll() is not None)
            )
        finally:
            process.kill()
            process.wait()

    assert judged("12", "step N of the work", "0") == ""  # 3.6 s in all, a new line every 0.3 s
    assert "no progress for 2 s" in judged("12", "statistics: 5 requests", "30")  # the same line, then nothing
