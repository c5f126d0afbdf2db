"""Checkpoints: plain dicts of tensors and JSON-like values, written atomically, loaded with
``weights_only=True`` so a file carrying pickled code is refused, never run."""
from __future__ import annotations

import hashlib
import logging
import os
import pickle
from pathlib import Path

import torch

from core.atomic import atomic_path
from core.errors import UserError

FORMAT = "sonocase-model"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format", "arch", "image_size", "state_dict", "class_names", "config")
log = logging.getLogger(__name__)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(path: str | Path, checkpoint: dict) -> str:
    """Write ``checkpoint`` to ``path`` via a temporary file and rename (a killed run never
    leaves a half file under ``path``); returns the file's SHA-256."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            torch.save(checkpoint, handle)
            handle.flush()
            os.fsync(handle.fileno())
        digest = file_sha256(tmp)
    return digest


def load_checkpoint(path: str | Path, device: str = "cpu", name: str | None = None) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`; UserError naming the file if it is
    missing, damaged, not one of ours, or carries pickled code. Messages call the file ``name``
    (default: the file's name; the store passes its name under the data folder), so a page
    never shows the server's path; the log has the full path."""
    path = Path(path)
    name = name or path.name

    def refuse(message: str) -> UserError:
        log.warning("checkpoint %s refused: %s", path, message)
        return UserError(message)

    if not path.is_file():
        raise refuse(f"checkpoint {name} does not exist")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise refuse(f"refused to load {name}: it carries pickled code or objects that a "
                     f"plain checkpoint never holds ({first_line})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise refuse(f"checkpoint {name} is damaged or not a checkpoint: "
                     f"{str(error).replace(str(path), name)}") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise refuse(f"{name} is not a SonoCase model checkpoint")
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise refuse(f"checkpoint {name} lacks {', '.join(missing)}")
    return checkpoint
