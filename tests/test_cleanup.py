"""Temporaries left by killed processes: removed when stale, at app start and by ``init``;
everything else (fresh temporaries, files the store names, look-alikes, links) is kept."""
from __future__ import annotations

import os
import time
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from core.cleanup import remove_stale_temporaries
from core.cli import main
from core.store import Store
from tests.app_pages import clear_caches

ROOT = Path(__file__).resolve().parent.parent
HOUR = 3600


def make(path: Path, folder: bool = False, age_s: float = 2 * HOUR) -> Path:
    """A file (or a folder holding one) whose times are ``age_s`` in the past."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        path.mkdir()
        (path / "results.duckdb").write_bytes(b"copy")
        os.utime(path / "results.duckdb", (time.time() - age_s,) * 2)
    else:
        path.write_bytes(b"partial")
    os.utime(path, (time.time() - age_s,) * 2)
    return path


def stale_and_kept(data: Path) -> tuple[list[str], list[Path]]:
    stale = [make(data / "models/resnet50-a/.20260101-120000.pt.ab3_x9zq.tmp"),
             make(data / "heatmaps/m/gradcam/.7.npy.k2j4h5g6.tmp"),
             make(data / "cases/busi/.3f2a.png.q1w2e3r4.tmp"),
             make(data / "backups/.backup-a1b2c3d4", folder=True),
             make(data / ".restore-zz99yy88", folder=True),
             make(data / "uploads/tmpabcd1234", folder=True)]
    outside = make(data.parent / "elsewhere" / ".x.pt.ab3_x9zq.tmp")
    inside_link = data / "backups" / ".backup-linkedx1"
    inside_link.symlink_to(make(data.parent / "target", folder=True))
    (data / "models" / "linked").symlink_to(outside.parent, target_is_directory=True)
    kept = [make(data / "models/resnet50-a/20260101-120000.pt"),          # a named checkpoint
            make(data / "models/resnet50-a/.20260101-120000.pt.ab3_x9zq.tmp.keep"),
            make(data / "models/resnet50-a/notes.tmp"),                    # not tempfile's
            make(data / "cases/busi/tmpq1w2e3r4.png"),
            make(data / "backups/sonocase-20260101-120000.zip"),
            make(data / "backups/.backup-fresh123", folder=True, age_s=60),
            make(data / "uploads/tmpyoung_12", folder=True, age_s=10),
            make(data / "uploads/tmpa1b2c3d5"),                             # a file, not a folder
            make(data / "exports/tmpq1w2e3r4.tmp"),                         # not a temp folder
            outside, inside_link, data.parent / "target" / "results.duckdb"]
    os.utime(data / "backups/.backup-fresh123", (time.time() - 2 * HOUR,) * 2)  # inside: new
    return sorted(p.relative_to(data).as_posix() for p in stale), kept


def test_only_stale_temporaries_are_removed_and_links_are_not_followed(tmp_path):
    data = tmp_path / "data"
    with Store(data / "results.duckdb") as store:
        stale, kept = stale_and_kept(data)
        assert remove_stale_temporaries(store) == stale
        assert remove_stale_temporaries(store) == []
    assert not [name for name in stale if (data / name).exists()]
    assert all(path.is_symlink() or path.exists() for path in kept)


def test_a_shorter_age_removes_younger_ones(tmp_path):
    data = tmp_path / "data"
    with Store(data / "results.duckdb") as store:
        young = make(data / "uploads/tmpyoung_12", folder=True, age_s=10)
        assert remove_stale_temporaries(store, older_than_s=HOUR) == []
        assert remove_stale_temporaries(store, older_than_s=1) == ["uploads/tmpyoung_12"]
    assert not young.exists()


def test_init_removes_them(tmp_path, capsys):
    data = tmp_path / "data"
    Store(data / "results.duckdb").close()
    stale, _ = stale_and_kept(data)
    assert main(["init", "--db", str(data / "results.duckdb")]) == 0
    assert f"removed {len(stale)} temporary" in capsys.readouterr().out
    assert not [name for name in stale if (data / name).exists()]


def test_the_app_removes_them_when_it_starts(tmp_path, monkeypatch):
    data = tmp_path / "data"
    Store(data / "results.duckdb").close()
    stale, _ = stale_and_kept(data)
    monkeypatch.setenv("SONOCASE_DB", str(data / "results.duckdb"))
    monkeypatch.setenv("SONOCASE_AUTOTRAIN", "0")
    clear_caches()
    try:
        at = AppTest.from_file(ROOT / "app.py", default_timeout=60).run()
        assert not at.exception
    finally:
        clear_caches()
    assert not [name for name in stale if (data / name).exists()]
