"""The one atomic file write: whole or nothing under the final name, and a temporary named so
that ``core.cleanup`` recognises it."""
from __future__ import annotations

import pytest

from core.atomic import TEMPORARY_NAME, atomic_path, write_atomic


def test_a_write_lands_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "made" / "here" / "map.npy"
    write_atomic(target, b"first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["map.npy"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed half-way")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_the_temporary_is_named_as_cleanup_expects(tmp_path):
    with atomic_path(tmp_path / "case.png") as tmp:
        assert tmp.parent == tmp_path and TEMPORARY_NAME.fullmatch(tmp.name)
        tmp.write_bytes(b"png")
    assert not TEMPORARY_NAME.fullmatch("case.png") and not TEMPORARY_NAME.fullmatch("notes.tmp")
