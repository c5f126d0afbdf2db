"""Paths under a data folder that can never escape it."""
from __future__ import annotations

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
