"""An import interrupted anywhere (Ctrl-C while reading files, or inside the transaction)
leaves the store exactly as it was."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import core.cases.importers.common as common
from core.cases.importers import import_cases
from core.store import Store


def write_busi(root: Path, count: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for index in range(count):
        label = ("benign", "malignant")[index % 2]
        path = root / label / f"{label} ({index}).png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(path)
    return root


def snapshot(store: Store) -> tuple:
    with store.read() as cur:
        return (cur.execute("SELECT * FROM datasets ORDER BY dataset").fetchall(),
                cur.execute("SELECT case_id, sha256 FROM cases ORDER BY case_id").fetchall())


@pytest.fixture
def store_with_data(store, tmp_path):
    import_cases(store, "busi", write_busi(tmp_path / "first", 4, seed=1))
    return store


def test_interrupt_while_reading_files(store_with_data, tmp_path, monkeypatch):
    before = snapshot(store_with_data)
    real_decode, calls = common.decode_grey, []

    def decode_then_interrupt(data):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_decode(data)

    monkeypatch.setattr(common, "decode_grey", decode_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        import_cases(store_with_data, "busi", write_busi(tmp_path / "second", 6, seed=2),
                     dataset="second")
    assert snapshot(store_with_data) == before


def test_interrupt_inside_the_transaction(store_with_data, tmp_path, monkeypatch):
    before = snapshot(store_with_data)
    real_transaction = Store.transaction

    class InterruptAfterInsert:
        def __init__(self, cursor):
            self._cursor = cursor

        def __getattr__(self, name):
            return getattr(self._cursor, name)

        def execute(self, query, *args):
            result = self._cursor.execute(query, *args)
            if query.startswith("INSERT INTO cases"):
                raise KeyboardInterrupt
            return result

    @contextmanager
    def interrupting_transaction(self):
        with real_transaction(self) as cur:
            yield InterruptAfterInsert(cur)

    monkeypatch.setattr(Store, "transaction", interrupting_transaction)
    with pytest.raises(KeyboardInterrupt):
        import_cases(store_with_data, "busi", write_busi(tmp_path / "second", 6, seed=2))
    assert snapshot(store_with_data) == before
    monkeypatch.undo()
    assert import_cases(store_with_data, "busi", tmp_path / "second").imported == 6
