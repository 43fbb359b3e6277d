"""Incremental crawls (incremental.py): the pages a crawl loads again in each pass of its job."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crawlee import RequestState

if TYPE_CHECKING:
    from crawlee import Request

    from .resumable import ResumableRun

REVISIT_PREFIX = "revisit-"  # and the pass's number, then "|": the key of a request loaded again in each pass
REVISIT_KEY = re.compile(rf"{REVISIT_PREFIX}\d+\|")


@dataclass(frozen=True)
class Revisits:
    """The pages an incremental crawl loads again in each pass: its start URLs, and the requests with one of
    `labels` (listings, where new links appear). Their unique keys get the pass's prefix (REVISIT), so the job's
    request queue takes them again in each pass; every other page is saved once in the job's life (one that failed
    for good is loaded again in the next pass). A request without such a label whose key is one of these pages' (a
    Home link back to a start URL, a link to a listing without its label) gets the pass's key too: it is the same
    page, loaded once a pass, as a plain crawl loads it once."""

    pass_number: int
    labels: frozenset[str]
    start_pages: int  # the pass's pages saved when this run started
    failed_before: tuple[str, ...] = ()  # the unique keys of the last pass's pages that failed for good
    # The keys (without the pass's prefix) of the pages loaded again: the start URLs, the pages revisited in the job's
    # earlier passes, and those added with a label to revisit (in this process; in the job's state once saved).
    pages: set[str] = field(default_factory=set, compare=False)

    def key(self, key: str) -> str:
        return f"{REVISIT_PREFIX}{self.pass_number}|{key}"

    async def failed_before_again(self, queue: Any) -> list[Request]:
        """The last pass's pages that failed for good (after their retries), as requests of this pass: the queue
        holds them as handled, and a page that was never saved is loaded again, once a pass."""
        again = []
        for key in self.failed_before:
            if (request := await queue.get_request(key)) is None:
                continue
            own_key = key[revisit.end() :] if (revisit := REVISIT_KEY.match(key)) else key
            update = {"unique_key": self.key(own_key), "handled_at": None, "retry_count": 0}
            request = request.model_copy(deep=True, update=update)
            request.state = RequestState.UNPROCESSED
            if request.session_rotation_count:
                request.session_rotation_count = 0
            again.append(request)
        return again

    def of(self, request: Request) -> Request:
        """`request`, with the pass's key if it is one of the pages loaded again (by its label or its key) and has
        not yet a pass's key."""
        if REVISIT_KEY.match(request.unique_key):
            return request
        if request.label in self.labels:
            self.pages.add(request.unique_key)
        elif request.unique_key not in self.pages:
            return request
        return request.model_copy(update={"unique_key": self.key(request.unique_key)})

    def loads_again(self, request: Request) -> bool:
        """Whether `request` is one of the pages loaded again in each pass (not a page that failed for good in the
        last pass, loaded again once)."""
        if not (revisit := REVISIT_KEY.match(request.unique_key)):
            return False
        return request.label in self.labels or request.unique_key[revisit.end() :] in self.pages

    def max_pages(self, max_pages: int | None) -> int | None:
        """The limit on the pass's pages that is maxRequestsPerCrawl (None: none) for this run."""
        return None if max_pages is None else self.start_pages + max_pages

    @classmethod
    def of_the_pass(cls, run: ResumableRun, labels: list[str]) -> Revisits:
        """The requests the job's pass under way loads again."""
        job = run.state["incremental"]
        revisited = set(job["versions"])
        return cls(job["pass"], frozenset(labels), job["startPages"], tuple(job["failedBefore"]), revisited)
