"""Test-only entry point: the Actor, unchanged, killed with SIGKILL right after its Nth push_data returns.

That is the one instant where the dataset is ahead of the checkpoint; the next run must reconcile it.
Usage: CRASH_AFTER_PUSH=N python tests/crash_after_push.py (locally, or at home under the platform stand-in)
With CRASH_AFTER_ADD=N instead, a crawler is killed right after its Nth add_requests to its request queue returns
(the first adds the start URLs): a page's items landed, the requests its handler added are queued, and the page
is not marked handled yet. With CRASH_BEFORE_PUSH=N, it is killed as its Nth push_data starts: the marker of that
push is saved, and none of its items has landed.
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


def die_before(owner: type, method: str, crash_before: int) -> object:
    """`owner.method`, which kills the process as its `crash_before`th call starts."""
    original = getattr(owner, method)

    async def die_then_call(self: object, *args: object, **kwargs: object) -> object:
        global calls  # noqa: PLW0603 - a counter across calls is the point
        calls += 1
        if calls == crash_before:
            os.kill(os.getpid(), signal.SIGKILL)
        return await original(self, *args, **kwargs)

    return die_then_call


if "CRASH_BEFORE_PUSH" in os.environ:
    Dataset.push_data = die_before(Dataset, "push_data", int(os.environ["CRASH_BEFORE_PUSH"]))
elif "CRASH_AFTER_ADD" in os.environ:
    RequestQueue.add_requests = then_die_after(RequestQueue, "add_requests", int(os.environ["CRASH_AFTER_ADD"]))
else:
    Dataset.push_data = then_die_after(Dataset, "push_data", int(os.environ["CRASH_AFTER_PUSH"]))
run_main_of_the_actor()
