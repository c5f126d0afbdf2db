"""Shared fixtures: a fresh store in a temporary data folder; the real data where present."""
from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture
def app_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The path of a store the app will open (not created yet), with no model training on
    start; the app's caches are cleared before and after."""
    from tests.app_pages import clear_caches  # imports streamlit: only for the page tests

    path = tmp_path / "data" / "results.duckdb"
    monkeypatch.setenv("SONOCASE_DB", str(path))
    monkeypatch.setenv("SONOCASE_AUTOTRAIN", "0")
    clear_caches()
    yield path
    clear_caches()


@pytest.fixture
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap Argon2 parameters, so tests that create users or log in do not spend seconds
    hashing (a test that checks the production parameters does without)."""
    from argon2 import PasswordHasher

    from core import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                        parallelism=1))
