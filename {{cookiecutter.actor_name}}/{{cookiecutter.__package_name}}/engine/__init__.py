"""The engine: what makes a run exactly once, whatever happens to it. Yours are main.py (what each item becomes), the
input model, and where the items come from (source.py, or routes.py for a crawler); nothing in here should need a
change.

Its face, for a source read page by page (your own, source=custom; a JSON API reads through the same `PagedRun`
and `Pages`). A bake holds only what its kind runs: `SourceError` is in every one, `PagedRun` and `Pages` in the JSON
kind's too, the rest in the custom kind's.

- `Source`: the protocol your source keeps: `async with source`, then `await source.read(position)` gives
  `(items, next_position)`; position None is the start, a next position None ends the source. A position is any
  JSON value (a tuple comes back as a list after a restart). The same position must give the same items.
- `SourceInput`: the input fields the engine reads (maxItems, maxReadRetries, incremental, datasetName,
  waitForPreviousRunSecs); your input model extends it with your source's fields (secret ones hidden everywhere).
- `SourceRun`: made before `async with Actor`; `await run.read_input(ActorInput)` (bad input: one line), then
  `await run.read_all(Source, actor_input, transform=transform)`: make `Source(actor_input)`, restore, read with
  checkpoints, stop for migrating (save and reboot), aborting, the charge limit and maxItems, deliver an incremental
  run, end the run.
- `SourceError`: a source that cannot be read on; the run ends with its one line (the state is kept).

Under it, one engine for every paged source (paged_run.py): `PagedRun`, the run main.py holds (`read_input`,
`read_all`, a failure in one line), and one `walk` over `Pages`, a source as the engine reads it (`page_at(position,
ahead)`: a page, and how many after it may be fetched meanwhile). Your `Source` becomes `Pages` through
reading.SourcePages (one page at a time; retries, positions saved without secrets, the checks of the contract); the
JSON kind's json_api.JsonApiSource is `Pages` itself (it fetches ahead). SourceRun (source_run.py) and JsonApiRun
(json_run.py) are the two `PagedRun`s: each says only how its kind restores and which modes it has (an incremental
job; parallelRuns for a JSON API). The crawlers' run is `CrawlRun` (crawl_run.py): crawlee walks a site with your
router. All three are an `EngineRun` (resumable.py): made before the Actor starts, `read_input`, one call that ends
the run (done, stopped early, or failed with one line).

The machinery under it, shared by every kind: resumable.py (the run: restore, stops, status, the end), state_record.py
(the state record and its checks), ledger.py (the dataset as the ledger), stops.py (migrating, aborting, the charge
limit), page_commits.py (pages committed in groups), credentials.py (secrets hidden everywhere), mode_input.py (the
input fields of the modes), incremental.py (an incremental job's claim and delivery). A kind's own: json_api.py,
pagination.py and incremental_items.py (a JSON API), crawling.py and incremental_pages.py (the crawlers),
scale_out*.py (parallelRuns) and web_urls.py. A bake holds only what its kind runs, and a run loads the code of a
mode (parallelRuns, incremental) only when it uses it.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .ledger import SourceError
    from .paged_run import PagedRun, Pages
    from .reading import Source
    from .source_input import SourceInput
    from .source_run import SourceRun

__all__ = ["PagedRun", "Pages", "Source", "SourceError", "SourceInput", "SourceRun"]
_FACE = {
    "PagedRun": "paged_run",
    "Pages": "paged_run",
    "Source": "reading",
    "SourceError": "ledger",
    "SourceInput": "source_input",
    "SourceRun": "source_run",
}


def __getattr__(name: str) -> Any:
    """The face, loaded when it is asked for: a kind that does not use it (a crawler) loads none of it. A bake holds
    only what its kind runs: a name whose module it lacks is no attribute of it (the custom kind's Source, in a
    JSON API's bake), said in so many words."""
    if name not in _FACE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = f"{__name__}.{_FACE[name]}"
    if find_spec(module) is None:
        raise AttributeError(
            f"{name} is not in this project: the engine holds only what its kind runs ({_FACE[name]}.py is the "
            "engine of source=custom, your own read(position); bake a project with it to read a source of yours)"
        )
    return getattr(import_module(module), name)
