"""The crawl core behind main.py: a crawlee crawler running your router (routes.py), made exactly once.

Crawlee alone is at-least-once: a page whose items landed but whose request was not yet marked handled when
the process died is handled again, and its items are pushed twice. Crawlee already holds back what a handler
does (`context.push_data`, `context.add_requests`, `enqueue_links`) until the handler returns, and commits it
afterwards, outside the handler's timeout; here that commit goes through `RequestCommits`:

- the requests waiting to be committed are committed together, as one group: one save of the state record
  with the marker of the group (each page's request key and item count, in order), then one push of all their
  items (on the platform a save and a push are HTTP round trips: groups keep them from bounding the crawl);
- a request whose items landed is remembered until the queue has confirmed it handled, so a request that
  comes again after a crash (or after a mark that failed) pushes nothing;
- a commit that has saved its marker runs to its end, even when the handler's task is cancelled;
- a page waiting for its commit does not hold its concurrency slot (maxConcurrency bounds the pages being
  fetched and handled): its commit, the requests its handler added and its mark go on in the background, so
  the crawl fetches on while groups are saved (on the platform each step is a round trip). Not more than
  COMMITTING_PER_SLOT pages per slot wait so, and a page whose queue has nothing else to fetch waits in its slot
  (its end is what wakes crawlee to fetch the requests it adds);
- when the run stops (migration, abort, the charge limit, maxRequestsPerCrawl), a page not yet committed is
  given back to the queue as it was: no retry is used up and no request fails;
- the requests a handler adds are added once its page is saved (a page given back adds nothing), and the random
  unique keys of `always_enqueue` requests are made of the page's key instead, so that a handler run again on the
  same page (after a crash between its adds and its mark) adds the same keys, which the queue takes once. The
  random IDs crawlee draws for them, and the ones made here, carry a check of their letters (ALWAYS_ENQUEUE_ID):
  a key of your own that merely looks like one is left as it is;
- a request that the server redirected saves the page it loaded, once, under its own unique key (the URL it
  ended at is its `loaded_url`), as crawlee does: the page is not loaded again under the URL it ended at (a POST
  answered 303 was already followed with a GET; a one-time address never comes twice), and two requests of your
  own with one URL (two unique keys, two labels) are two pages even when the server redirects that URL.
Pages are counted in the run's own state record, saved with every group, so maxRequestsPerCrawl (pages
saved) holds across crashes too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from apify import Actor
from crawlee import ConcurrencySettings, Request
from crawlee import _request as crawlee_request
from crawlee._utils.crypto import crypto_random_object_id
from crawlee._utils.urls import convert_to_absolute_url, is_url_absolute

from . import ledger
from .incremental_pages import REVISIT_KEY
from .ledger import StateError
from .resumable import GroupCommits

if TYPE_CHECKING:
    from crawlee.crawlers import BasicCrawler
    from crawlee.router import Router

    from ..crawl_input import CrawlInput
    from .incremental_pages import Revisits
    from .resumable import ResumableRun
    from .scale_out_pages import PagePart

ANOTHER_DATASET = (
    "A handler pushed into another dataset than the run's default one (context.push_data with dataset_id, "
    "dataset_name or dataset_alias): only the default dataset is saved exactly once. Push into the default dataset."
)
# The unique key of an `always_enqueue` request: an ID, "|", the usual key. crawlee draws a random ID of 17 letters and
# digits; here it gets 8 more, a check of the 17 that tells who made it (`DRAWN`: crawlee, `MADE`: this module, of the
# page's key), which a key made any other way (your own) has by accident once in four billion.
ALWAYS_ENQUEUE_ID = re.compile(r"([A-Za-z0-9]{17})([0-9a-f]{8})\|")
DRAWN, MADE = "drawn", "made"
COMMITTING_PER_SLOT = 4  # pages waiting for their commit in the background, per concurrency slot, at most
VERSION_LENGTH = 12  # hex digits of the hash of a revisited page's items that an incremental job keeps


async def crawl(
    run: ResumableRun,
    crawl_input: CrawlInput,
    router: Router,
    crawler_class: type[BasicCrawler],
    *,
    part: PagePart | None = None,
    revisits: Revisits | None = None,
    **options: Any,
) -> None:
    """Crawl from the start URLs with `router`'s handlers, in a crawler of `crawler_class` (crawlee's
    ParselCrawler, PlaywrightCrawler, ...) made with `options` (and `pre_navigation_hooks`), until the queue is
    done, maxRequestsPerCrawl pages are saved, or the run must stop. Raises StateError when a commit cannot be
    trusted (the crawl stops at once). A worker of parallel runs crawls its `part` (scale_out_pages.py): the
    coordinator's queue, shared, its pages tagged for the merge. An incremental crawl goes on in its job's queue
    (incremental.py), loading again in each pass its start URLs and the pages with the labels of its `revisits`."""
    check_always_enqueue_ids_are_drawn_here()
    queue = part.queue if part else await Actor.open_request_queue(name=run.store_name)
    max_pages = revisits.max_pages(crawl_input.max_pages) if revisits else crawl_input.max_pages
    commits = RequestCommits(run, max_pages, tag_pages=part.tag if part else None, revisits=revisits)
    await commits.forget_handled(queue)
    if commits.limit_reached:
        return
    if crawl_input.proxy_configuration:
        options["proxy_configuration"] = await Actor.create_proxy_configuration(
            actor_proxy_input=crawl_input.proxy_configuration
        )
    hooks = options.pop("pre_navigation_hooks", [])
    crawler = exactly_once(crawler_class, commits)(
        request_handler=router,
        request_manager=queue,
        max_request_retries=crawl_input.max_request_retries,
        request_handler_timeout=timedelta(seconds=crawl_input.request_handler_timeout_secs),
        max_crawl_depth=crawl_input.max_crawl_depth,
        concurrency_settings=ConcurrencySettings(
            max_concurrency=crawl_input.max_concurrency, desired_concurrency=crawl_input.max_concurrency
        ),
        configure_logging=False,
        **options,
    )
    for hook in hooks:
        crawler.pre_navigation_hook(hook)

    async def stop_when_asked() -> None:
        crawler.stop(f"the run is stopping ({await run.wait_for_stop()})")

    starts = [Request.from_url(url) for url in crawl_input.urls]
    if revisits is not None:
        revisits.pages.update(start.unique_key for start in starts)
        starts = [start.model_copy(update={"unique_key": revisits.key(start.unique_key)}) for start in starts]
        starts += await revisits.failed_before_again(queue)
    stopper = asyncio.create_task(stop_when_asked())
    try:
        await crawler.run(starts)
    finally:
        stopper.cancel()
        await crawler.pages_committed()
    if commits.error is not None:
        raise commits.error
    if not run.stopping and (part is not None or not commits.limit_reached):
        await run.finish()  # (a worker at maxRequestsPerCrawl is done: the coordinator counts the job's pages)


@dataclass
class _Waiting:
    key: str
    items: list[Any]
    loaded_again: bool = False  # an incremental crawl's page loaded in each pass (its version is kept)
    saved: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class RequestCommits(GroupCommits):
    """Commits crawled pages with their requests, in groups, exactly once (see the module's docstring)."""

    def __init__(
        self,
        run: ResumableRun,
        max_pages: int | None,
        *,
        tag_pages: Callable[[str, list[Any]], list[Any]] | None = None,
        revisits: Revisits | None = None,
    ) -> None:
        """`tag_pages`: a worker of parallel runs tags each page's items for the coordinator's merge; `revisits`:
        an incremental crawl's requests to load again in each pass."""
        super().__init__(run)
        self._max_pages, self._tag_pages, self.revisits = max_pages, tag_pages, revisits
        self.error: StateError | None = None  # a commit that failed: the crawl stops and the run fails with it

    @property
    def limit_reached(self) -> bool:
        return self._max_pages is not None and self._run.state["pages"] >= self._max_pages

    async def forget_handled(self, queue: Any) -> None:
        """After a restart, drop the requests whose items landed and that the queue has marked handled since;
        the others will come again, and then push nothing."""
        self._keep_versions_that_landed()
        for key in list(self._run.state["unmarked"]):
            request = await queue.get_request(key)
            if request is None or request.handled_at is not None:
                self._run.state["unmarked"].pop(key)

    def _keep_versions_that_landed(self) -> None:
        """After a restart, in an incremental crawl: the pages of the last push that landed whole (the restore split
        the landed items along the marker: those pages are `unmarked` now) are saved in their version of the
        marker; the others push their items when they come again."""
        if self.revisits is None:
            return
        job, unmarked = self._run.state["incremental"], self._run.state["unmarked"]
        for key, version in job["pendingVersions"].items():
            if key in unmarked and (page := _revisited_page(key)) is not None:
                job["versions"][page] = version
        job["pendingVersions"] = {}

    def _note_pages_loaded_again(self) -> bool:
        """Keep in the job the pages loaded again that this process knows of and the job not yet (a listing labelled
        by a page about to be saved, which adds it): a run that goes on with the pass after a crash knows them too,
        and gives an unlabelled link to one of them the pass's key. Their version is unknown ("") until saved.
        Returns whether there were any."""
        if self.revisits is None:
            return False
        versions = self._run.state["incremental"]["versions"]
        new = self.revisits.pages.difference(versions)
        versions.update(dict.fromkeys(new, ""))
        return bool(new)

    def request_marked(self, key: str) -> None:
        """The request queue has confirmed `key` handled: it will not come again."""
        self._run.state["unmarked"].pop(key, None)

    def fail(self, error: StateError) -> None:
        """Stop the crawl: the run fails with `error` once the crawler has stopped."""
        if self.error is None:
            self.error = error
            Actor.log.error(str(error))
        self._run.stop_soon("error")

    def page_failed(self, key: str) -> None:
        """A page failed for good (after its retries): counted, for the final status message; an incremental
        crawl loads it again in its next pass."""
        self._run.state["failed"] += 1
        if self.revisits is not None:
            self._run.state["incremental"]["failedPages"].append(key)

    async def commit(self, key: str, items: list[Any], *, loaded_again: bool = False) -> bool:
        """Save the items of the page of request `key`, exactly once; return whether the page is saved (now or
        before), or False when it must be given back to the queue as it was (the run is stopping). `loaded_again`:
        a page an incremental crawl loads in each pass, saved only when its items differ from its last version."""
        if self._run.stopping or self.error is not None:
            return False
        if key in self._run.state["unmarked"]:
            return True  # landed before a crash, or before a mark that failed: nothing to push
        waiting = _Waiting(key, items, loaded_again)
        self.hand_over(waiting)
        # Shielded: a handler task cancelled now (a timeout, the crawler stopping) leaves the commit running.
        return await asyncio.shield(waiting.saved)

    async def commit_group(self, group: list[_Waiting]) -> None:
        try:
            await self._commit(group)
        except Exception as error:  # the marker stays in the state: the next start reads the push back
            self.fail(error if isinstance(error, StateError) else StateError(f"Saving pages failed: {error}"))

    def settle(self, group: list[_Waiting]) -> None:
        for waiting in group:  # not saved: given back to the queue
            if not waiting.saved.done():
                waiting.saved.set_result(False)

    async def _commit(self, group: list[_Waiting]) -> None:
        run, state = self._run, self._run.state
        chosen: list[tuple[_Waiting, int, list[Any]]] = []  # (page, items that landed before, items to push)
        # An incremental crawl: the version (the hash of the items) each revisited page was last saved in, and that of
        # the group's revisited pages to be saved now.
        versions = state["incremental"]["versions"] if self.revisits else None
        new_versions: dict[str, str] = {}
        for waiting in group:
            if run.stopping:
                break
            if waiting.key in state["unmarked"]:
                waiting.saved.set_result(True)
                continue
            if self._max_pages is not None and state["pages"] + len(chosen) >= self._max_pages:
                break  # given back: a run resumed with a higher maxRequestsPerCrawl crawls it
            outputs = ledger.outputs(waiting.items, _as_is, lambda index, key=waiting.key: f"item {index} of {key!r}")
            items = [item for _index, item in outputs]
            if self._tag_pages:
                items = self._tag_pages(waiting.key, items)
            skipped = state["partial"].get(waiting.key, 0)  # counted in `pushed` already
            if waiting.key == run.landed.request:
                run.landed.skip(items, f"page of {waiting.key!r}")  # still at hand: check they are the same
            if versions is not None and waiting.loaded_again and (page := _revisited_page(waiting.key)) is not None:
                version = _version_of(items)
                if versions.get(page) == version and not skipped and waiting.key != run.landed.request:
                    chosen.append((waiting, 0, []))  # as it was when last saved: saved again, delivering nothing
                    continue
                new_versions[waiting.key] = version
            chosen.append((waiting, skipped, items[skipped:]))
        if (chargeable := ledger.chargeable_items(run.dataset)) is not None:
            fits = 0
            while fits < len(chosen) and sum(len(batch) for _w, _s, batch in chosen[: fits + 1]) <= chargeable:
                fits += 1
            if fits < len(chosen):  # a page is saved whole or not at all
                chosen = chosen[:fits]
                run.stop_soon("charge limit")
        batch = [item for _waiting, _skipped, items in chosen for item in items]
        # A page's version is kept once its items have landed: with the marker, for a restart to tell.
        pending_versions = {w.key: new_versions[w.key] for w, _s, _i in chosen if w.key in new_versions}
        landed = 0
        noted = self._note_pages_loaded_again()
        if batch:
            # The group's one save: the marker of its push, page by page, in push order.
            state.update(pending=len(batch), pendingRequests=[[w.key, len(items)] for w, _s, items in chosen])
            if versions is not None:
                state["incremental"]["pendingVersions"] = pending_versions
            await run.persist()
            landed = await ledger.push(batch, at=run.pushed, dataset=run.dataset)
        elif noted:
            await run.persist()  # before the group's pages add the requests of those pages
        # Counts and marker move together, with no await between them.
        left = landed
        for waiting, skipped, items in chosen:
            got = min(left, len(items))
            left -= got
            if got < len(items):  # cut by the run's maximum charge: the rest is pushed when it comes again
                if got:
                    state["partial"][waiting.key] = skipped + got
                run.stop_soon("charge limit")
                continue
            state["partial"].pop(waiting.key, None)
            state["unmarked"][waiting.key] = skipped + got
            state["pages"] += 1
            if waiting.key in pending_versions:  # (a revisited page: `versions` is the job's)
                versions[_revisited_page(waiting.key)] = pending_versions[waiting.key]
            waiting.saved.set_result(True)
        state.update(pushed=run.pushed + landed, pending=0, pendingRequests=[])
        if versions is not None:
            state["incremental"]["pendingVersions"] = {}
        await run.report_progress()


def exactly_once(crawler_class: type[BasicCrawler], commits: RequestCommits) -> type[BasicCrawler]:
    """`crawler_class` with its request handler's results committed through `commits`."""

    class ExactlyOnceCrawler(crawler_class):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # Pages whose commit goes on in the background, their task's slot freed; and how many of them may.
            self._committing: set[asyncio.Task[None]] = set()
            settings = kwargs.get("concurrency_settings") or ConcurrencySettings()
            self._most_committing = COMMITTING_PER_SLOT * settings.max_concurrency
            # Requests (by key) that their commit marks handled itself: crawlee's own mark after it is skipped.
            self._marked_by_commit: Counter[str] = Counter()

        async def pages_committed(self) -> None:
            """Wait until every page handed to its commit is saved and marked (or given back)."""
            while self._committing:
                await asyncio.wait(set(self._committing))

        async def _commit_request_handler_result(self, context: Any) -> None:
            result = self._context_result_map[context]
            request = context.request
            items = []
            for call in result.push_data_calls:
                if call.get("dataset_id") or call.get("dataset_name") or call.get("dataset_alias"):
                    commits.fail(StateError(ANOTHER_DATASET))
                data = call["data"]
                items += list(data) if isinstance(data, list | tuple) else [data]
            self._marked_by_commit[request.unique_key] += 1
            page = asyncio.create_task(self._commit_page(context, result, items))
            self._committing.add(page)
            page.add_done_callback(self._committing.discard)
            if len(self._committing) > self._most_committing or await (await self.get_request_manager()).is_empty():
                await asyncio.shield(page)

        async def _commit_page(self, context: Any, result: Any, items: list[Any]) -> None:
            """Save the page, then add its handler's requests, store its key-value store changes and mark its
            request handled; or give the request back unsaved (the run is stopping)."""
            request = context.request
            try:
                loaded_again = commits.revisits is not None and commits.revisits.loads_again(request)
                base_url = request.loaded_url or request.url  # what relative URLs are relative to, as in crawlee
                # Made before the save: the pages loaded again that they label are saved in the job with it.
                calls = list(
                    _with_keys_of_the_page(result.add_requests_calls, request.unique_key, commits.revisits, base_url)
                )
                if not await commits.commit(request.unique_key, items, loaded_again=loaded_again):
                    await self._give_back(request)
                    return
                for call in calls:
                    await self._add_requests(context, **call)
                await self._commit_key_value_store_changes(result, get_kvs=self.get_key_value_store)
                await self._mark_handled(request)
            except Exception as error:  # the page is saved (or not): it comes again after a restart, pushing nothing
                commits.fail(StateError(f"Committing the page of {request.url} failed: {error}"))
                return
            if commits.limit_reached:
                self.stop("maxRequestsPerCrawl pages are saved")

        async def _give_back(self, request: Request) -> None:
            """Put the request back in the queue as it came (its retries untouched), unmarked."""
            await (await self.get_request_manager()).reclaim_request(request, forefront=True)

        async def _mark_request_as_handled(self, request: Request) -> None:
            if self._marked_by_commit[request.unique_key]:  # crawlee's mark after a page handed to its commit
                self._marked_by_commit[request.unique_key] -= 1
                if not self._marked_by_commit[request.unique_key]:
                    del self._marked_by_commit[request.unique_key]
                return
            await self._mark_handled(request)

        async def _mark_handled(self, request: Request) -> None:
            processed = await (await self.get_request_manager()).mark_request_as_handled(request)
            if processed is None:  # the queue did not take the mark: the request comes again, and pushes nothing
                Actor.log.warning(f"The request queue did not mark {request.url} handled; it is kept as saved.")
                return
            commits.request_marked(request.unique_key)

        async def _handle_failed_request(self, context: Any, error: Exception) -> None:
            commits.page_failed(context.request.unique_key)
            await super()._handle_failed_request(context, error)

    ExactlyOnceCrawler.__name__ = ExactlyOnceCrawler.__qualname__ = f"ExactlyOnce{crawler_class.__name__}"
    return ExactlyOnceCrawler


def _revisited_page(key: str) -> str | None:
    """The page of a request an incremental crawl loads in each pass (its key without the pass's prefix)."""
    return key[revisit.end() :] if (revisit := REVISIT_KEY.match(key)) else None


def _version_of(items: list[Any]) -> str:
    """A short hash of a page's items, as canonical JSON: the same items in the same order, the same version."""
    text = json.dumps(items, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:VERSION_LENGTH]


def _with_keys_of_the_page(
    calls: list[Any], page_key: str, revisits: Revisits | None = None, base_url: str = ""
) -> Iterator[Any]:
    """A handler's add_requests calls, with the random ID crawlee drew for each always_enqueue request's key made of
    the key of the page that adds it, the request's own key and how many requests with that own key the handler
    added before: the same every time the handler runs on that page, in whatever order it adds them (a set's order
    changes between processes). One request added twice keeps one key, as crawlee would. In an incremental crawl,
    the requests of pages loaded again in each pass get the pass's key (URLs added as text are made requests first,
    as crawlee makes them, against `base_url`: where the page was loaded from)."""
    times: Counter[str] = Counter()
    made: dict[str, str] = {}  # drawn key -> the key made of it
    for call in calls:
        requests = []
        for request in call["requests"]:
            if isinstance(request, Request) and _is_always_enqueue_key(request.unique_key, DRAWN):
                drawn = request.unique_key
                if drawn not in made:
                    own_key = drawn.split("|", 1)[1]
                    times[own_key] += 1
                    head = hashlib.sha256(f"{page_key}\n{own_key}\n{times[own_key]}".encode()).hexdigest()[:17]
                    made[drawn] = f"{_checked(head, MADE)}|{own_key}"
                request = request.model_copy(update={"unique_key": made[drawn]})  # noqa: PLW2901
            if revisits is not None and isinstance(request, str):
                request = _request_of(request, call.get("base_url") or base_url)  # noqa: PLW2901
            if revisits is not None and isinstance(request, Request):
                request = revisits.of(request)  # noqa: PLW2901
            requests.append(request)
        yield {**call, "requests": requests}


def _request_of(url: str, base_url: str) -> Request:
    """The request crawlee makes of a URL a handler adds as text."""
    return Request.from_url(url if is_url_absolute(url) else convert_to_absolute_url(base_url, url))


def _checked(head: str, maker: str) -> str:
    """A 17-character ID followed by the check that says `maker` made it (ALWAYS_ENQUEUE_ID)."""
    return head + hashlib.sha256(f"{maker}\n{head}".encode()).hexdigest()[:8]


def _is_always_enqueue_key(key: str, *makers: str) -> bool:
    """Whether `key` is an always_enqueue request's, its ID made by one of `makers` (DRAWN, MADE)."""
    match = ALWAYS_ENQUEUE_ID.match(key)
    return match is not None and any(_checked(match[1], maker) == match[1] + match[2] for maker in makers)


def _drawn_always_enqueue_id(length: int = 17) -> str:
    """crawlee's random ID for an always_enqueue request's key, with the check that says crawlee drew it."""
    return _checked(crypto_random_object_id(length), DRAWN)


# crawlee draws the ID of an always_enqueue key with this function (and uses it for nothing else): drawn here,
# the key is recognised when the handler's adds are committed. crawl() checks at its start that it still is.
crawlee_request.crypto_random_object_id = _drawn_always_enqueue_id


def check_always_enqueue_ids_are_drawn_here() -> None:
    """Fail (not add a handler's always_enqueue requests again after a crash) if crawlee no longer draws their IDs
    with the function replaced above."""
    if not _is_always_enqueue_key(Request.from_url("http://localhost", always_enqueue=True).unique_key, DRAWN):
        raise StateError(
            "This version of crawlee draws the IDs of always_enqueue requests where this template cannot check them "
            "(crawlee._request.crypto_random_object_id): pin crawlee to a version this template supports (see "
            "requirements)."
        )


def _as_is(item: Any) -> Any:
    return item
