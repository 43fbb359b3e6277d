"""A short slice of the fault campaign (campaign.py): a few small scenarios, other seeds each day. A failure names
its seed and the command that replays it; `python tests/rehearse.py --campaign 200 --seed S` runs a long one."""

from __future__ import annotations

import datetime
import os
import threading
import time
from pathlib import Path

import pytest
from campaign import draw, run_scenario
from harness import Storage
from platform_standin import PlatformWays, StorageApi
from rehearse import is_browser

pytestmark = pytest.mark.campaign
SCENARIOS = 1 if is_browser() else 3  # small ones: about a minute in all on two cores
FIRST_SEED = int(os.environ.get("CAMPAIGN_SEED") or datetime.date.today().toordinal() * 1000)


@pytest.mark.parametrize("number", range(SCENARIOS))
def test_a_scenario_of_the_campaign_keeps_the_promise(tmp_path: Path, number: int) -> None:
    outcome = run_scenario(FIRST_SEED + number, small=True, root=tmp_path)
    assert not outcome.problems, outcome.report()


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
