"""Writing a file whole or not at all: into a temporary file beside it, then one rename, so no
reader (and no process killed half-way) ever sees half a file under the final name.

The temporary is named ``.<final name>.<tempfile's 8 random characters>.tmp``
(:data:`TEMPORARY_NAME` matches exactly these); ``core.cleanup`` removes the ones a killed
process left behind.
"""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMPORARY_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (its folder made if missing) for the block to write;
    renamed over ``path`` when the block ends without an error, removed in any case."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
