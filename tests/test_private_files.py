"""The store, its folders, its backups and restores are private to their owner (files 0600,
folders 0700), whatever the umask the process started with; messages a trainee can see name
files by their name in the data folder, and only the log has the server's full path."""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from core.backup import backup, default_backup_path, restore
from core.cases.library import NewCase, save_cases
from core.errors import UserError
from core.images import load_grey, stored_png
from core.models.checkpoints import FORMAT, save_checkpoint
from core.models.loading import load_model
from core.store import Store
from tests.quiz_helpers import add_model, make_cases


@pytest.fixture
def open_umask():
    """The usual umask 022 (group and others may read), set back afterwards."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(root: Path) -> None:
    """``root`` and everything under it: folders 0700, files 0600."""
    for path in [root, *root.rglob("*")]:
        expected = 0o700 if path.is_dir() else 0o600
        assert mode(path) == expected, f"{path} is {oct(mode(path))}, not {oct(expected)}"


def test_a_new_store_its_folders_and_its_files_are_private(tmp_path, open_umask):
    db = tmp_path / "new" / "data" / "results.duckdb"
    with Store(db) as store:
        save_cases(store, "toy", "folder", [NewCase("a.png", "benign", np.full(
            (32, 32), 7, np.uint8), mask=np.ones((32, 32), bool))])
        with store.transaction() as cur:
            cur.execute("INSERT INTO settings VALUES ('x', '1')")
        assert_private(tmp_path / "new")  # the WAL too, while the store is open
    assert_private(tmp_path / "new")


def test_a_store_in_an_existing_shared_folder_is_still_private(tmp_path, open_umask):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    with Store(shared / "results.duckdb") as store, store.transaction() as cur:
        cur.execute("INSERT INTO settings VALUES ('x', '1')")
    assert mode(shared) == 0o755  # a folder the store did not create is left as it was
    for path in shared.iterdir():
        assert mode(path) == 0o600, path


def test_backups_and_restores_are_private(store, tmp_path, open_umask):
    make_cases(store, n=4)
    bundle = backup(store, default_backup_path(store)).path
    assert mode(bundle.parent) == 0o700 and mode(bundle) == 0o600
    os.umask(0o022)  # a restore run by a process that never opened a store
    target = tmp_path / "restored" / "data" / "results.duckdb"
    restore(bundle, target)
    assert_private(tmp_path / "restored")


@pytest.fixture
def model_store(store):
    case_ids = make_cases(store, n=4)
    add_model(store, "m1", case_ids, heatmaps=False)
    checkpoint = store.data_dir / "models" / "m1" / "m1.pt"
    save_checkpoint(checkpoint, {"format": FORMAT, "arch": "resnet50", "image_size": 32,
                                 "class_names": ["benign", "malignant"], "config": {},
                                 "state_dict": {"w": torch.ones(2)}})
    with store.transaction() as cur:
        cur.execute("UPDATE models SET checkpoint_path = ?, checkpoint_sha256 = ?",
                    [store.relative(checkpoint), "0" * 64])
    return store, checkpoint


def assert_named_not_placed(error: UserError, store: Store, name: str, caplog) -> None:
    assert name in str(error) and str(store.data_dir) not in str(error)
    assert str(store.data_dir / name) in caplog.text


def test_checkpoint_messages_name_the_file_and_log_its_path(model_store, caplog):
    store, checkpoint = model_store
    caplog.set_level(logging.WARNING)
    with pytest.raises(UserError, match="has changed since") as changed:
        load_model(store, "m1")
    assert_named_not_placed(changed.value, store, "models/m1/m1.pt", caplog)
    caplog.clear()
    checkpoint.unlink()
    with pytest.raises(UserError, match="is missing") as missing:
        load_model(store, "m1")
    assert_named_not_placed(missing.value, store, "models/m1/m1.pt", caplog)


def test_a_refused_checkpoint_names_the_file_not_its_path(model_store, caplog):
    store, checkpoint = model_store
    torch.save({"format": FORMAT, "payload": os.getcwd}, checkpoint)  # pickled code
    with store.transaction() as cur:
        cur.execute("UPDATE models SET checkpoint_sha256 = NULL")
    caplog.set_level(logging.WARNING)
    with pytest.raises(UserError, match="pickled code") as refused:
        load_model(store, "m1")
    assert_named_not_placed(refused.value, store, "models/m1/m1.pt", caplog)


def test_a_missing_image_names_the_file_and_logs_its_path(store, caplog):
    caplog.set_level(logging.WARNING)
    for read in (load_grey, stored_png):
        caplog.clear()
        with pytest.raises(UserError, match="cannot read the image") as error:
            read(store, "cases/toy/gone.png")
        assert_named_not_placed(error.value, store, "cases/toy/gone.png", caplog)
