"""Test-only entry point: the Actor, unchanged, killed with SIGKILL right after its Nth push_data returns.

That is the one instant where the dataset is ahead of the checkpoint; the next run must reconcile it.
Usage: CRASH_AFTER_PUSH=N python tests/crash_after_push.py (locally, or at home under the platform stand-in)
With CRASH_AFTER_ADD=N instead, a crawler is killed right after its Nth add_requests to its request queue returns
(the first adds the start URLs): a page's items landed, the requests its handler added are queued, and the page
is not marked handled yet.
"""

import os
import signal
import sys

from crawlee.storages import Dataset, RequestQueue

sys.path.insert(0, os.getcwd())  # the project root, where the Actor's package is
from harness import run_main_of_the_actor

calls = 0


def then_die_after(owner: type, method: str, crash_after: int) -> object:
    """`owner.method`, which kills the process right after its `crash_after`th call returns."""
    original = getattr(owner, method)

    async def call_then_die(self: object, *args: object, **kwargs: object) -> object:
        global calls  # noqa: PLW0603 - a counter across calls is the point
        result = await original(self, *args, **kwargs)
        calls += 1
        if calls == crash_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    return call_then_die


if "CRASH_AFTER_ADD" in os.environ:
    RequestQueue.add_requests = then_die_after(RequestQueue, "add_requests", int(os.environ["CRASH_AFTER_ADD"]))
else:
    Dataset.push_data = then_die_after(Dataset, "push_data", int(os.environ["CRASH_AFTER_PUSH"]))
run_main_of_the_actor()
