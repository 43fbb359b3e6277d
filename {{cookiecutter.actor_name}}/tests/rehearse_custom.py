"""The rehearsal of your own source (source.py): what tests/rehearse.py runs the Actor on, and what its dataset must
hold, read from the source itself.

Without --input, the source is run with custom_source.py's TEST_INPUT (the example's table then has --total rows in
pages of --page-size), each read slowed by --latency seconds so that the migrations and kills land mid-run. With
--input, your real source is read as that input says, at its own pace. Either way the items expected are your
source's, read plainly from position None to its end (twice: a source that does not give the same page for the same
position is reported, for exactly once reads a page again after a restart), each as your `transform` makes it.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from custom_source import TEST_INPUT, expected_items, module

READ_DELAY_VARIABLE = "READ_DELAY_SECS"  # each read of the source takes this much longer (custom_entry.py)


def custom_input(args: argparse.Namespace) -> dict[str, Any]:
    """The input the rehearsal runs the Actor with; without --input, the source's reads are slowed (in every run of
    the rehearsal: the environment is passed on to each start)."""
    if args.input:
        return json.loads(args.input.read_text())
    os.environ[READ_DELAY_VARIABLE] = str(args.latency)
    known = {field.alias or name for name, field in module("main").ActorInput.model_fields.items()}
    example = {"exampleRows": args.total, "pageSize": args.page_size}  # the example's size, if your input has these
    return {**TEST_INPUT, **{name: value for name, value in example.items() if name in known}}


def expected_of(actor_input: dict[str, Any]) -> tuple[list[Any] | None, str]:
    """What the dataset must hold (None when the source cannot say), and why not."""
    try:
        return expected_items(actor_input), ""
    except AssertionError as unstable:
        return None, str(unstable)
