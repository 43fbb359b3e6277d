"""Scale-out, the crawlers' part (scale_out.py is the coordinator): a worker crawls the coordinator's request
queue, shared, and tags each page's items; the coordinator merges each page once.

The workers share the coordinator's request queue in the SDK's shared-access mode (locks that expire), and tag
each page's items with the page's request key and item count. A page is merged once all its items are there,
and only once: a page that two workers handled (a lock that expired while one was migrated or dead) lands once,
and the part of it that a killed worker had pushed is passed over (once every worker is done, a page found only
in part, cut so and then failed for good, is merged as it landed, as one run keeps it). maxRequestsPerCrawl
counts the pages merged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apify import Actor
from apify.storage_clients import ApifyStorageClient, SmartApifyStorageClient
from crawlee.storages import RequestQueue

from .scale_out import DONE, ITEM_FIELD, TAG_FIELD, JobPart, Merge, WorkerDataset, tag_of, take_part
from .state_record import POSITION_KEY_LENGTH, position_key

if TYPE_CHECKING:
    from .resumable import ResumableRun


@dataclass(frozen=True)
class PagePart:
    """A crawler worker's part of the job: the coordinator's queue, shared, and its pages tagged for the merge."""

    queue: RequestQueue

    @staticmethod
    def tag(key: str, items: list[Any]) -> list[Any]:
        return tag_page(key, items)


async def take_page_part(run: ResumableRun, part: JobPart) -> PagePart | None:
    """Register this worker run (scale_out.take_part) and open the coordinator's queue, shared; None if another
    run has this part (then this one ends without crawling)."""
    if not await take_part(run, part):
        return None
    if part.request_queue_id:
        await release_locks(part)
    return PagePart(await open_shared_queue(part))


def tag_page(key: str, items: list[Any]) -> list[Any]:
    """A crawled page's items as a worker pushes them (one marker item if there are none)."""
    tag = {"page": position_key(key), "of": len(items)}
    return [{TAG_FIELD: tag, ITEM_FIELD: item} for item in items] or [{TAG_FIELD: tag}]


async def open_shared_queue(part: JobPart) -> RequestQueue:
    """Crawlers: the coordinator's request queue, in the SDK's shared-access mode (several runs take requests
    from it at once, each under a lock that expires)."""
    _keep_listed_requests_whole()
    client = SmartApifyStorageClient(cloud_storage_client=ApifyStorageClient(request_queue_access="shared"))
    return await RequestQueue.open(id=part.request_queue_id, storage_client=client)


def _keep_listed_requests_whole() -> None:
    """Work around a race in the SDK's shared request-queue client (apify 4.1): when the head is listed (and
    locked) while this run is still adding one of its requests, the add's answer caches that request again
    without its body, and the head then counts it as nothing. The crawler idles, the queue is not finished (the
    request is locked, by this run), and it waits for the lock to expire (3 minutes). The cache keeps the body
    and lock it already has when a later entry brings none. Only the entries an add writes bring none."""
    try:
        from apify.storage_clients._apify._request_queue_shared_client import (  # noqa: PLC0415
            ApifyRequestQueueSharedClient as Shared,
        )
    except ImportError:  # the SDK changed: nothing to work around here, or not in this way
        return
    cache_request = Shared._cache_request
    if getattr(cache_request, "keeps_listed_requests", False):
        return

    def keeping(
        self: Any, cache_key: str, processed: Any, *, hydrated_request: Any = None, lock_expires_at: Any = None
    ) -> None:
        known = self._requests_cache.get(cache_key)
        if hydrated_request is None and known is not None and not processed.was_already_handled:
            hydrated_request, lock_expires_at = known.hydrated, lock_expires_at or known.lock_expires_at
        cache_request(self, cache_key, processed, hydrated_request=hydrated_request, lock_expires_at=lock_expires_at)

    keeping.keeps_listed_requests = True  # type: ignore[attr-defined]
    Shared._cache_request = keeping


async def release_locks(part: JobPart) -> None:
    """Crawlers: unlock the requests this run locked before a restart, for any worker to take at once."""
    client_key = (Actor.configuration.actor_run_id or "")[:32]
    queue = Actor.apify_client.request_queue(part.request_queue_id, client_key=client_key)
    await queue.unlock_requests()


class PageMerge(Merge):
    """Crawlers: each page once all its items are there, the first time only; at most `max_pages` pages."""

    def __init__(self, run: ResumableRun, workers: int, max_pages: int | None) -> None:
        super().__init__(run, workers)
        self.state.setdefault("pages", "")  # position_key() of every page merged, joined
        joined = self.state["pages"]
        self._merged = {joined[n : n + POSITION_KEY_LENGTH] for n in range(0, len(joined), POSITION_KEY_LENGTH)}
        self._max_pages = max_pages

    @classmethod
    def for_job(cls, run: ResumableRun, actor_input: Any) -> PageMerge:
        return cls(run, actor_input.parallel_runs, actor_input.max_pages)

    async def batch(
        self, readers: list[WorkerDataset], statuses: list[str], at_most: int | None = None
    ) -> tuple[list[Any], dict[str, Any]]:
        """The pages complete in the workers' datasets and not merged yet, whole pages within `at_most` items and
        maxRequestsPerCrawl. A page left out keeps its worker's read pointer before it (a run resumed with a higher
        limit merges it); a page merged already (handled twice) does not, even when only part of it is here (its
        worker was killed in the middle of its push, and the page was then handled whole by another worker).
        Once every worker is done, a page of which only part is here (cut so, then failed for good at its retry)
        is merged as it is: what a single run keeps of such a page."""
        until = self.state["batchTo"]
        read, ends = list(self.state["read"]), until["ends"] if until else [None] * self._workers
        batch: list[Any] = []
        pages: list[str] = []
        any_new, all_done = False, all(status == DONE for status in statuses)
        self.held_back = False

        def merge_page(key: str, page_items: list[Any]) -> bool:
            """Whether the page is merged now, or was merged before (then it holds no read pointer)."""
            if key in self._merged or key in pages:  # merged from another worker already: a page handled twice
                return True
            if until is not None and key not in until["pages"]:
                return False  # after a restart, the marker's batch again: this page was left out of it
            if until is None and self._max_pages and len(self._merged) + len(pages) >= self._max_pages:
                return False  # left out: a run resumed with a higher maxRequestsPerCrawl merges it
            if until is None and at_most is not None and len(batch) + len(page_items) > at_most:
                self.held_back = True
                return False
            pages.append(key)
            batch.extend(page_items)
            return True

        first_open: list[dict[str, int]] = []  # each worker's pages not merged (yet): the index of their first item
        parts: dict[str, list[Any]] = {}  # the pages of which only part is in a worker's dataset: the longest part
        for worker, reader in enumerate(readers):
            items = await reader.read(read[worker], ends[worker])
            any_new = any_new or bool(items)
            ends[worker] = read[worker] + len(items)
            open_pages: dict[str, list[Any]] = {}
            first_open.append({})
            for index, item in enumerate(items):
                key, count = tag_of(item, worker, "page", str), tag_of(item, worker, "of", int)
                first_open[worker].setdefault(key, index)
                open_pages.setdefault(key, []).append(item)
                if len(open_pages[key]) < max(1, count):  # a page of no items pushed one marker
                    continue
                if merge_page(key, [i[ITEM_FIELD] for i in open_pages.pop(key) if ITEM_FIELD in i]):
                    first_open[worker].pop(key)
            for key, part in open_pages.items():
                parts[key] = max(parts.get(key, []), [i[ITEM_FIELD] for i in part if ITEM_FIELD in i], key=len)
        for key, part in parts.items():  # after every complete page: a page found whole anywhere is merged whole
            if (until is None and all_done) or (until is not None and key in until["pages"]):
                merge_page(key, part)
        for worker, items_read in enumerate(ends):
            held = [index for key, index in first_open[worker].items() if key not in self._merged and key not in pages]
            read[worker] += min(held, default=items_read - read[worker])
        self.done = not any_new and all_done and until is None
        return batch, {"read": read, "ends": ends, "pages": pages}

    def moved_to(self, batch_to: dict[str, Any]) -> None:
        super().moved_to(batch_to)
        self._merged.update(batch_to["pages"])
        self.state["pages"] += "".join(batch_to["pages"])
        self._run.state["pages"] = len(self._merged)

    def limit_reached(self) -> bool:
        return bool(self._max_pages) and len(self._merged) >= self._max_pages
