"""Test-only entry point: the Actor, unchanged, with your source's `read` disturbed as the environment asks (any
entry of the tests disturbs it so, through harness.run_main_of_the_actor: a run restarted after a migration or a kill
too, and the rehearsal's; this one names the variables):

READ_DELAY_SECS: each read takes this much longer (so that kills and migrations land mid-run);
READ_FAILS="N:K": reads N to N+K-1 (counted from 1 in this process) raise before they reach the source;
READ_BLOCKS_SECS: the first read holds the event loop this long (a synchronous call made in place);
REPEAT_POSITION_AT=N: read N answers with the position it was asked for as the next one (a source stuck on a page);
SOURCE_INIT_FAILS: making the source (`Source(actor_input)`) raises, naming the input's `database`;
READ_CANCELS="N:K": reads N to N+K-1 raise asyncio.CancelledError of their own (a driver that cancels itself);
READ_EXITS="N:exit" or "N:interrupt": read N calls sys.exit(0), or raises KeyboardInterrupt;
SOURCE_EXIT_CANCELS: leaving the source (`__aexit__`) raises asyncio.CancelledError of its own;
PAGE_TOKENS_EXPIRE: each next position is given as a page token that only this process accepts (a server's token
that expires within the hour: a later run finds it expired).
"""

import asyncio
import importlib
import json
import os
import sys
import time

sys.path.insert(0, os.getcwd())  # the project root, where the Actor's package is
from harness import package_name, run_main_of_the_actor

READ_VARIABLES = ("READ_DELAY_SECS", "READ_FAILS", "READ_BLOCKS_SECS", "REPEAT_POSITION_AT", "SOURCE_INIT_FAILS")
READ_VARIABLES += ("PAGE_TOKENS_EXPIRE", "READ_CANCELS", "READ_EXITS")
TOKENS_ISSUED_BY = f"{os.getpid()}-{time.time_ns()}"  # this process: the page tokens it gives, only it accepts
reads = 0


async def disturbed_read(self: object, position: object) -> object:
    global reads  # noqa: PLW0603 - a counter across calls is the point
    reads += 1
    await asyncio.sleep(float(os.environ.get("READ_DELAY_SECS", "0")))
    if reads == 1 and (blocks := float(os.environ.get("READ_BLOCKS_SECS", "0"))):
        time.sleep(blocks)  # noqa: ASYNC251 - holding the event loop is the point
    if failing := os.environ.get("READ_FAILS"):
        first, count = map(int, failing.split(":"))
        if first <= reads < first + count:
            raise ConnectionError(f"test: read {reads} failed")
    if cancelling := os.environ.get("READ_CANCELS"):
        first, count = map(int, cancelling.split(":"))
        if first <= reads < first + count:
            raise asyncio.CancelledError(f"test: read {reads} cancelled itself")
    if exiting := os.environ.get("READ_EXITS"):
        at, how = exiting.split(":")
        if reads == int(at) and how == "exit":
            sys.exit(0)
        if reads == int(at):
            raise KeyboardInterrupt
    tokens = "PAGE_TOKENS_EXPIRE" in os.environ
    if tokens and position is not None:
        issued_by, _, wrapped = position["pageToken"].partition(":")
        if issued_by != TOKENS_ISSUED_BY:
            raise PermissionError(f"test: the page token {position['pageToken']} has expired")
        position = json.loads(wrapped)
    items, following = await ORIGINAL_READ(self, position)
    if reads == int(os.environ.get("REPEAT_POSITION_AT", "0")):
        return items, position
    if tokens and following is not None:
        following = {"pageToken": f"{TOKENS_ISSUED_BY}:{json.dumps(following)}"}
    return items, following


def failing_init(self: object, actor_input: object) -> None:
    raise ValueError(f"test: cannot use {actor_input.database}")


async def exit_cancelling(self: object, *exc: object) -> None:
    await ORIGINAL_EXIT(self, *exc)
    raise asyncio.CancelledError("test: the source's exit cancelled itself")


def disturb_reads() -> None:
    """Make the source's `read` the disturbed one, when the environment asks for a disturbance."""
    global ORIGINAL_READ, ORIGINAL_EXIT  # the read and exit before they were disturbed, once a process
    source = importlib.import_module(f"{package_name()}.source").Source
    if "SOURCE_INIT_FAILS" in os.environ:
        source.__init__ = failing_init
    if "SOURCE_EXIT_CANCELS" in os.environ and source.__aexit__ is not exit_cancelling:
        ORIGINAL_EXIT, source.__aexit__ = source.__aexit__, exit_cancelling
    if any(name in os.environ for name in READ_VARIABLES) and source.read is not disturbed_read:
        ORIGINAL_READ, source.read = source.read, disturbed_read


ORIGINAL_READ = ORIGINAL_EXIT = None

if __name__ == "__main__":
    run_main_of_the_actor()  # which disturbs the reads (disturb_reads)
