"""The browser crawler's input: the website crawler's, plus what a browser needs; mirrors
.actor/input_schema.json (a test checks that the two agree)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field

from .crawl_input import CrawlInput


class BrowserInput(CrawlInput):
    max_concurrency: int = Field(4, ge=1, le=50)  # a browser page takes far more memory and CPU than a request
    block_resources: bool = True
    navigation_timeout_secs: int = Field(30, ge=1, le=600)

    def crawler_options(self) -> dict[str, Any]:
        """What crawlee's PlaywrightCrawler takes from this input: headless Chromium, the navigation timeout."""
        return {
            "browser_type": "chromium",
            "headless": True,
            "navigation_timeout": timedelta(seconds=self.navigation_timeout_secs),
        }
