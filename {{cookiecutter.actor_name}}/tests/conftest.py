from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from harness import BROWSER_VARIABLES, Storage

# A crawler in a browser needs one: with none set, a Chromium on the PATH (Debian's `chromium` package), without
# its sandbox when the tests run as root (as in a container). Playwright's own downloaded browser needs nothing.
if not any(os.environ.get(name) for name in BROWSER_VARIABLES) and (chromium := shutil.which("chromium")):
    os.environ["CRAWLEE_DEFAULT_BROWSER_PATH"] = chromium
    if os.geteuid() == 0:
        os.environ["CRAWLEE_DISABLE_BROWSER_SANDBOX"] = "1"


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "storage")
