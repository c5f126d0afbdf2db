"""Checkpoints: written atomically, loaded without running pickled code."""
from __future__ import annotations

import os

import pytest
import torch

from core.errors import UserError
from core.models import checkpoints
from core.models.checkpoints import FORMAT, file_sha256, load_checkpoint, save_checkpoint


def _checkpoint() -> dict:
    return {"format": FORMAT, "arch": "resnet50", "image_size": 32,
            "class_names": ["benign", "malignant"], "config": {"lr": 1e-3, "folds": [0, 1]},
            "state_dict": {"w": torch.arange(6.0).view(2, 3)}, "threshold": 0.4}


def test_round_trip(tmp_path):
    path = tmp_path / "models" / "m.pt"
    sha = save_checkpoint(path, _checkpoint())
    assert sha == file_sha256(path)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["state_dict"]["w"], torch.arange(6.0).view(2, 3))
    assert loaded["config"] == {"lr": 1e-3, "folds": [0, 1]}
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_file_with_pickled_code_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.pt"
    torch.save({**_checkpoint(), "extra": _Payload(str(marker))}, path)
    with pytest.raises(UserError, match="evil.pt") as error:
        load_checkpoint(path)
    assert "pickled code" in str(error.value)
    assert not marker.exists()


def test_damaged_or_foreign_files_are_refused(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, _checkpoint())
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UserError, match="damaged"):
        load_checkpoint(path)
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not a SonoCase model"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    save_checkpoint(path, _checkpoint())
    before = path.read_bytes()

    def half_write(obj, handle):
        handle.write(b"PK half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints.torch, "save", half_write)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, _checkpoint())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
