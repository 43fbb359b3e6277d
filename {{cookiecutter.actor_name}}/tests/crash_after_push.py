"""Test-only entry point: the Actor, unchanged, killed with SIGKILL right after its Nth push_data returns.

That is the one instant where the dataset is ahead of the checkpoint; the next run must reconcile it.
Usage: CRASH_AFTER_PUSH=N python tests/crash_after_push.py (locally, or at home under the platform stand-in)
"""

import os
import signal
import sys

from crawlee.storages import Dataset

sys.path.insert(0, os.getcwd())  # the project root, where the Actor's package is
from harness import run_main_of_the_actor

crash_after = int(os.environ["CRASH_AFTER_PUSH"])
pushes = 0
original_push_data = Dataset.push_data


async def push_data_then_die(self: Dataset, *args: object, **kwargs: object) -> None:
    global pushes  # noqa: PLW0603 - a counter across calls is the point
    await original_push_data(self, *args, **kwargs)
    pushes += 1
    if pushes == crash_after:
        os.kill(os.getpid(), signal.SIGKILL)


Dataset.push_data = push_data_then_die
run_main_of_the_actor()
