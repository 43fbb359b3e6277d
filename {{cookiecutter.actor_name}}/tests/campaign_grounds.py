"""What the fault campaign's grounds share (campaign.py): besides its scenarios of faults, the campaign draws
scenarios of one ground each, a seed choosing the ground and what is drawn within it: the JSON kind's in
campaign_json.py (incremental schedules, API shapes, scale-out), the crawlers' in campaign_crawl.py (redirects,
incremental crawls, scale-out). Each ground's scenario runs the Actor for real (local runs, or runs on the
platform stand-in) and checks the promise: every item exactly once, no secret in what the runs wrote or printed,
exit 0 and "Done" only when the work is done, and a failure one line that a later run recovers from.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import Storage, start_actor

# A run that makes no progress (items, records, log lines) for this long hangs; one that goes on this long in all
# does too (both far above a normal run of a ground's scenario: seconds).
STALL_SECS = 150.0
RUN_CAP_SECS = 600.0


@dataclass
class Ground:
    """A ground's scenario as it is played: what was drawn, what happened, what is wrong."""

    name: str
    drawn: dict[str, Any]
    log: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def check(self, wrong: str, what: str) -> None:
        if wrong:
            self.problems.append(f"{what}: {wrong}")


@dataclass
class Ended:
    """How one local run ended: its exit code (-9: killed), its log, and its final status line."""

    code: int
    log: str

    @property
    def said(self) -> str:
        """The run's last status message (locally the SDK logs it), else its last line."""
        lines = [line for line in self.log.splitlines() if "tatus message]" in line]
        lines = lines or self.log.splitlines() or [""]
        return lines[-1].split("tatus message]:", 1)[-1].strip()[:200]


def log_of(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def wait_while_progressing(process: subprocess.Popen, log_path: Path, storage_root: Path) -> str:
    """Wait for `process` to end; '' once it has, else why it is judged a hang (then it is killed): no new log line
    and no file of its storage changed for STALL_SECS, or RUN_CAP_SECS in all."""
    began = last_moved = time.monotonic()
    seen: Any = None
    while process.poll() is None:
        now = time.monotonic()
        marks = (log_path.stat().st_size if log_path.exists() else 0, _newest_change(storage_root))
        if marks != seen:
            seen, last_moved = marks, now
        hang = (
            f"made no progress for {STALL_SECS:.0f} s"
            if now - last_moved > STALL_SECS
            else f"was still going after {RUN_CAP_SECS:.0f} s"
            if now - began > RUN_CAP_SECS
            else ""
        )
        if hang:
            process.kill()
            process.wait()
            return hang
        time.sleep(0.2)
    return ""


def _newest_change(root: Path) -> int:
    newest = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if not name.endswith("__metadata__.json"):  # rewritten on every open
                with contextlib.suppress(OSError):  # replaced as it is looked at
                    newest = max(newest, (Path(folder) / name).stat().st_mtime_ns)
    return newest


def run_locally(storage: Storage, ground: Ground, name: str, **env: str) -> Ended:
    """One local run of the Actor on `storage` to its end (a hang is a problem of the ground, and killed)."""
    log_path = storage.root.parent / f"{name}.log"
    process = start_actor(storage, log_path=log_path, **env)
    if hang := wait_while_progressing(process, log_path, storage.root):
        ground.problems.append(f"{name} {hang}: a hang")
    ended = Ended(process.returncode, log_of(log_path))
    ground.log.append(f"{name}: exit {ended.code} {ended.said!r}")
    return ended


def one_line_failure(ended: Ended) -> str:
    """What is wrong with how a failed run failed ('' if nothing): one line, no traceback, exit 1."""
    if "Traceback (most recent call last)" in ended.log:
        return f"exit {ended.code} with a traceback"
    if ended.code != 1:
        return f"exit {ended.code}, not 1"
    return ""


def pause(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGSTOP)


def resume(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGCONT)


def leaks(root: Path, secrets: list[str], *, besides: tuple[str, ...] = ("INPUT.json", "INPUT")) -> list[str]:
    """Where under `root` (storages, logs) a secret appears: file names, the input records aside."""
    found = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(besides):
                continue
            path = Path(folder) / name
            try:
                text = path.read_bytes().decode(errors="replace")
            except OSError:
                continue
            found += [f"{path.relative_to(root)} holds {secret[:6]}..." for secret in secrets if secret in text]
    return found


def json_items(dataset: Path) -> list[Any]:
    """A dataset folder's items, in order (files past item_count are orphans of a crash)."""
    metadata = dataset / "__metadata__.json"
    count = json.loads(metadata.read_text())["item_count"] if metadata.exists() else 0
    return [json.loads((dataset / f"{n + 1:09d}.json").read_text()) for n in range(count)]
