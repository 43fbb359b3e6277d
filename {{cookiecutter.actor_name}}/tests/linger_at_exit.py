"""Test-only entry point: the Actor at home (as tests/at_home.py) that, once its work is done and its final status
message set (an incremental run: its delivery ended), waits LINGER_SECS before it exits, or until the file
LINGER_UNTIL exists. On the platform a run has succeeded only once it exits 0: killed in that window, a run that
said Done ends FAILED, and the next run must deliver its items again (incremental.py); a run of a schedule that
lingers also keeps the next one waiting.
With PAUSE_BEFORE_EXIT=1 a run that is done (an incremental run: it has released its job) stops itself with SIGSTOP
before its last steps (its final save, the SDK's exit), as a GC pause or a slow disk would hold it, until it gets
SIGCONT. With TEST_HOST_NAME the run takes that for its host name: a run in another container.
Usage: LINGER_SECS=30 [LINGER_UNTIL=path] python tests/linger_at_exit.py (under the platform stand-in, or locally)
"""

import asyncio
import importlib
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.getcwd())  # the project root, where the Actor's package is
from harness import package_name, run_main_of_the_actor

resumable = importlib.import_module(f"{package_name()}.engine.resumable")
stop = resumable.ResumableRun.stop


async def stop_then_linger(run: object) -> None:
    if os.environ.get("PAUSE_BEFORE_EXIT") and not run.stopping:
        os.kill(os.getpid(), signal.SIGSTOP)
    await stop(run)
    if not run.stopping:  # done (a run stopping for a migration never gets here: the platform takes it)
        until = os.environ.get("LINGER_UNTIL")
        deadline = time.monotonic() + float(os.environ.get("LINGER_SECS", "0"))
        while time.monotonic() < deadline and not (until and await asyncio.to_thread(os.path.exists, until)):
            await asyncio.sleep(0.05)


if host_name := os.environ.get("TEST_HOST_NAME"):
    socket.gethostname = lambda: host_name
resumable.ResumableRun.stop = stop_then_linger
run_main_of_the_actor()
