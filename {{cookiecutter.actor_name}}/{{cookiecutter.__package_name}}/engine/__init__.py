"""The engine: what makes a run exactly once, whatever happens to it. Yours are main.py (what each item becomes),
source.py (where the items come from) and the input model; nothing in here should need a change.

Its face, for a source of your own:

- `Source`: the protocol a source keeps: `async with source`, then `await source.read(position)` gives
  `(items, next_position)`; position None is the start, a next position None ends the source. A position is any
  JSON value (a tuple comes back as a list after a restart). The same position must give the same items.
- `SourceInput`: the input fields the engine reads (maxItems, maxReadRetries, incremental, datasetName,
  waitForPreviousRunSecs); your input model extends it with your source's fields (secret ones hidden everywhere).
- `SourceRun`: made before `async with Actor`; `await run.read_input(ActorInput)` (bad input: one line), then
  `await run.read_all(source, actor_input, transform=transform)`: restore, read with checkpoints, stop for
  migrating (save and reboot), aborting, the charge limit and maxItems, deliver an incremental run, end the run.
- `SourceError`: a source that cannot be read on; the run ends with its one line (the state is kept).

The template's other kinds (a JSON API, the crawlers) do not run through this face yet, and the machinery it is
built on (resumable.py, state_record.py, page_commits.py, ledger.py, stops.py, incremental.py, credentials.py)
still sits beside main.py: it is to move in here unchanged.
"""

from .reading import Source, SourceError
from .source_input import SourceInput
from .source_run import SourceRun

__all__ = ["Source", "SourceError", "SourceInput", "SourceRun"]
