"""A run over a source read page by page (`PagedRun`), and its one walk: the face main.py holds, for your own source
and for a JSON API alike.

A source reaches the walk as `Pages`: `await pages.page_at(at, ahead)` gives the page at a position (its items from
the position's `skip` on, where to go on, whether it is the last), with up to `ahead` pages after it fetched
meanwhile. Two kinds keep it:

- your own source (source.py, `read(position)`), through reading.SourcePages, one page at a time;
- a JSON API, json_api.JsonApiSource: it fetches ahead (offset and page numbers), and a worker of parallel runs
  reads only its stripe.

The walk hands each page to the commits (page_commits.py: one save of the position, then one push, a group at a
time) while the next page is read, and stops early for maxItems and the run's stops (migrating, aborting, the charge
limit). Each kind's run says how it reads (`_read_all`: restore, its modes, walk): SourceRun (source_run.py) for
your own source, JsonApiRun (json_run.py) for a JSON API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .resumable import EngineRun

if TYPE_CHECKING:
    from collections.abc import Callable

    from .page_commits import PageCommits, SourcePage
    from .resumable import ResumableRun
    from .state_record import Position, Transform


class Pages(Protocol):
    """A source as the walk reads it."""

    async def page_at(self, at: Position, ahead: int) -> SourcePage:
        """The page at `at` (its items from `at.skip` on); `ahead`: how many pages from it on may be fetched at once
        (a source that reads one page at a time ignores it). Raises SourceError when it cannot be read on."""
        ...


class PagedRun(EngineRun):
    """The run over a source read page by page, as main.py sees it: `read_input`, then `read_all` of a source."""

    async def read_all(self, source: type[Any], actor_input: Any, *, transform: Transform) -> None:
        """Read the source (of the class `source`, made from `actor_input`) into the dataset, each item as `transform`
        makes it (None: dropped), exactly once, from where the last start of this run (or the incremental job)
        stopped; then end the run. A failure ends it with one line: the state is kept, and a new start goes on from
        the last checkpoint."""
        work = self._read_all(source, actor_input, transform)
        await self._to_the_end(work, lambda message: self._hidden(actor_input, message))

    async def _read_all(self, source: type[Any], actor_input: Any, transform: Transform) -> None:
        """The kind's reading: restore, then walk the source in the kind's modes."""
        raise NotImplementedError

    def _hidden(self, actor_input: Any, message: str) -> str:
        """`message` with the input's secrets hidden (a kind whose errors are hidden where they are raised: as is)."""
        return message


async def walk(
    run: ResumableRun, pages: Pages, commits: PageCommits, *, ahead: Callable[[int | None], int] | None = None
) -> None:
    """Read `pages` from where `run` is to their end, handing each page to `commits` while the next one is read.
    `ahead(items_wanted)`: how many pages to fetch at once, given how many more dataset items maxItems wants (None:
    no limit); one when not given. On migrating or aborting the page being read is read again after the restart.
    The run is finished once the source's last page is committed whole."""
    async with commits:
        at = run.position
        while not run.finished and not run.stopping and commits.wants_more:
            page = await run.unless_stopping(pages.page_at(at, ahead(commits.items_wanted()) if ahead else 1))
            if page is None:
                break  # migrating or aborting
            await commits.add(page)
            if page.is_last:
                break
            at = page.next
    if commits.read_to_the_end and not run.stopping:
        await run.finish()
