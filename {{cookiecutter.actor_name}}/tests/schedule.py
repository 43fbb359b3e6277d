"""Successive runs of one incremental job in one storage folder, as a schedule starts them (every kind): default
storages purged at each start as `apify run` does, named ones kept; a run killed with kill -9 and never resumed is
a run that failed for good. Each run's default dataset is kept aside after it ends, and the job's named dataset
and state record are read as files."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

from harness import Storage, kill_once_working, run_actor, start_actor


class Schedule:
    """Runs of one incremental job in one storage folder, each with its default dataset kept aside."""

    def __init__(self, storage: Storage, actor_input: dict[str, Any]) -> None:
        self.storage, self.input = storage, actor_input
        self.runs: list[tuple[str, list[Any]]] = []  # (how the run ended: "succeeded", "failed", ...), its items

    def run(self, *, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
        """One scheduled run to its end: default storages purged at its start."""
        self._prepare()
        result = run_actor(self.storage, timeout=timeout, APIFY_PURGE_ON_START="1", **env)
        self._keep(_ended(result.returncode))
        return result

    def killed_run(self, chance: random.Random, within_secs: float, **env: str) -> bool:
        """A run killed with kill -9 at a random instant once it works (or let end, if it ends first). `env`: as
        `start`'s."""
        job_items = self.job_count()
        process = self.start(**env)

        def landed() -> bool:  # an item in the job's dataset or the run's own
            return self.job_count() != job_items or self.storage.item_count() != 0

        killed = kill_once_working(process, landed, chance, within_secs)
        self._keep("killed" if killed else _ended(process.returncode))
        return killed

    def start(self, *, log_path: Path | None = None, **env: str) -> subprocess.Popen:
        """A scheduled run started (default storages purged at its start), for `ended` to keep once it has ended.
        `env`: its environment, and `entry`, a test entry point to run instead of the package."""
        self._prepare()
        return start_actor(self.storage, log_path=log_path, **{"APIFY_PURGE_ON_START": "1", **env})

    def ended(self, process: subprocess.Popen, *, killed: bool = False) -> None:
        """Keep what a run of `start` left, once it has ended (or was `killed` with kill -9)."""
        returncode = process.wait()  # (a killed process is reaped too: until then it looks alive)
        self._keep("killed" if killed else _ended(returncode))

    def in_another_container(self, root: Path) -> Schedule:
        """Runs of this job in another container: default storages of their own under `root`, the job's named
        storages mounted there (linked to this schedule's, which must exist), kept in the same list of runs."""
        other = Schedule(Storage(root / "storage"), self.input)
        other.runs = self.runs
        for kind in ("datasets", "key_value_stores", "request_queues"):
            job = self.storage.root / kind / self.job_name()
            if job.exists():
                (other.storage.root / kind).mkdir(parents=True, exist_ok=True)
                (other.storage.root / kind / job.name).symlink_to(job)
        return other

    def _prepare(self) -> None:
        """Empty default storages, as each run on the platform has: a run killed before its purge on start must not
        be taken for the run before it (its dataset, its run ID)."""
        for kind in ("datasets", "key_value_stores", "request_queues"):
            shutil.rmtree(self.storage.root / kind / "default", ignore_errors=True)
        self.storage.write_input(self.input)

    def _keep(self, ended: str) -> None:
        if ended == "killed" and self._delivery_ended():
            ended = "succeeded"  # locally a run has succeeded once its delivery ended (see incremental.py)
        self.runs.append((ended, self.storage.items()))

    def _delivery_ended(self) -> bool:
        state = self.job_state() or {}
        delivery = (state.get("incremental") or {}).get("delivery") or {}
        run_id_path = self.storage.store / "INCREMENTAL_RUN_ID"
        run_id = run_id_path.read_text() if run_id_path.exists() else None  # (a string is kept as text)
        return bool(delivery.get("done")) and delivery.get("run") == run_id

    def job_state(self) -> Any:
        path = self.storage.root / "key_value_stores" / self.job_name() / "APIFY_GLOBAL_STATE"
        return json.loads(path.read_text()) if path.exists() else None

    def job_name(self) -> str:
        if name := self.input.get("datasetName"):
            return name
        (store,) = [p.name for p in (self.storage.root / "key_value_stores").iterdir() if p.name != "default"]
        return store

    def job_items(self) -> list[Any]:
        dataset = self.storage.root / "datasets" / self.job_name()
        return [json.loads((dataset / f"{n + 1:09d}.json").read_text()) for n in range(_count(dataset))]

    def job_count(self) -> int:
        stores = self.storage.root / "datasets"
        named = [p for p in stores.iterdir() if p.name != "default"] if stores.exists() else []
        return sum(_count(p) for p in named)

    def delivered_by_succeeded_runs(self) -> list[Any]:
        return [item for ended, items in self.runs if ended == "succeeded" for item in items]


def _ended(returncode: int) -> str:
    return "succeeded" if returncode == 0 else f"failed ({returncode})"


def _count(dataset: Path) -> int:
    metadata = dataset / "__metadata__.json"
    return json.loads(metadata.read_text())["item_count"] if metadata.exists() else 0


def versions(items: list[Any]) -> list[str]:
    """Dataset items as a sorted list: the same versions, each as often, whatever the order."""
    return sorted(json.dumps(item, sort_keys=True) for item in items)
