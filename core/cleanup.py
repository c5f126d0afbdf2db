"""Remove what killed processes left in the data folder: temporary files and folders that
nothing names and nothing reads.

A kill can leave half checkpoints, heatmaps and case images (``core.atomic``'s ``.tmp`` files
beside their final names), unfinished backup and restore folders (a backup's holds a copy of the database,
password hashes included) and uploads never imported. Only names made by ``tempfile`` with the
exact prefixes and suffixes the app uses, in the folders where it makes them, are touched, and
only when nothing in them changed for ``older_than_s``. Links are never followed: a link is
neither removed nor looked through.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from core.atomic import TEMPORARY_NAME
from core.store import Store

_RANDOM = r"[a-z0-9_]{8}"  # tempfile's random part


@dataclass(frozen=True)
class Temporary:
    """Where a kind of temporary lives (relative to the data folder) and how it is named."""

    folder: str
    pattern: re.Pattern
    is_folder: bool
    nested: bool  # searched in every sub-folder of ``folder`` (else directly in it)


TEMPORARIES = (
    Temporary("models", TEMPORARY_NAME, False, True),      # checkpoints (core.atomic)
    Temporary("heatmaps", TEMPORARY_NAME, False, True),    # cached maps
    Temporary("cases", TEMPORARY_NAME, False, True),       # case images
    Temporary("backups", re.compile(rf"\.backup-{_RANDOM}"), True, False),
    Temporary(".", re.compile(rf"\.restore-{_RANDOM}"), True, False),
    Temporary("uploads", re.compile(rf"tmp{_RANDOM}"), True, False),
)


def _real_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _candidates(data_dir: Path, kind: Temporary) -> list[Path]:
    base = data_dir / kind.folder
    if not _real_folder(base):
        return []
    if kind.nested:
        found = []
        for folder, _dirs, names in os.walk(base):  # never descends into linked folders
            found += [Path(folder) / name for name in names if kind.pattern.fullmatch(name)]
        return found
    try:
        return [entry for entry in base.iterdir() if kind.pattern.fullmatch(entry.name)]
    except OSError:  # unreadable: left for the next time
        return []


def _newest_change(path: Path) -> float:
    """The latest modification time of ``path`` and, for a folder, of anything inside it."""
    newest = os.lstat(path).st_mtime
    if stat.S_ISDIR(os.lstat(path).st_mode):
        for folder, dirs, names in os.walk(path):
            for name in dirs + names:
                newest = max(newest, os.lstat(Path(folder) / name).st_mtime)
    return newest


def remove_stale_temporaries(store: Store, older_than_s: float = 3600) -> list[str]:
    """Remove the temporaries (see :data:`TEMPORARIES`) unchanged for ``older_than_s``
    seconds; returns their paths relative to the data folder. One that cannot be removed
    (in use on another system, no permission) is left for the next time."""
    data_dir = store.data_dir
    cutoff = time.time() - older_than_s
    removed = []
    for kind in TEMPORARIES:
        for path in _candidates(data_dir, kind):
            try:
                mode = os.lstat(path).st_mode
                wanted = stat.S_ISDIR(mode) if kind.is_folder else stat.S_ISREG(mode)
                if not wanted or _newest_change(path) > cutoff:
                    continue
                if kind.is_folder:
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except OSError:
                continue
            removed.append(path.relative_to(data_dir).as_posix())
    return sorted(removed)
