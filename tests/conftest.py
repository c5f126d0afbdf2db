"""Shared fixtures: a fresh store in a temporary data folder; the real data where present."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.store import Store

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture
def store(tmp_path: Path):
    """An empty, migrated store whose data folder is a temporary directory."""
    with Store(tmp_path / "data" / "results.duckdb") as opened:
        yield opened


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; the test is skipped where it is absent (a user's fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present at {SHARED_DATA}")
    return SHARED_DATA
