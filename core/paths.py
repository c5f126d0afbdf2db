"""Paths under a data folder that can never escape it, and files only their owner can read."""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from core.errors import UserError


def safe_join(root: Path, relative: str | Path) -> Path:
    """Join ``relative`` under ``root``; refuse absolute paths and any that escape ``root``."""
    rel = PurePosixPath(str(relative).replace("\\", "/"))
    if rel.is_absolute() or any(part == ".." for part in rel.parts) or str(rel).startswith("~"):
        raise UserError(f"path escapes its folder: {relative!r}")
    root = Path(root).resolve()
    joined = (root / rel).resolve()
    if not joined.is_relative_to(root):
        raise UserError(f"path escapes its folder: {relative!r}")
    return joined


PRIVATE_BITS = 0o077


def keep_files_private() -> None:
    """From now on this process creates files 0600 and folders 0700: its umask drops every
    group and other bit. The store (and DuckDB's WAL beside it, which DuckDB creates with the
    umask's mode), case images, checkpoints and backups hold patients' images and password
    hashes. Idempotent; a stricter umask stays as it is."""
    os.umask(os.umask(PRIVATE_BITS) | PRIVATE_BITS)


def make_private_folder(folder: Path) -> None:
    """:func:`keep_files_private`, then ``mkdir -p`` (new folders 0700; existing ones are left
    as they are)."""
    keep_files_private()
    Path(folder).mkdir(mode=0o700, parents=True, exist_ok=True)
