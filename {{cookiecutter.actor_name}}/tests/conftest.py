from __future__ import annotations

from pathlib import Path

import pytest
from harness import Storage


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "storage")
