"""Fold models kept beside a model: each predicted one training fold it never trained on
(the paper profile's fold models, or cross-fitted ones from :mod:`core.models.crossfit`), so
a heatmap of a training case is computed with the model whose output is shown for it. Their
checkpoints are written atomically and recorded in ``crossfit_folds``."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import torch

from core.models.checkpoints import FORMAT, FORMAT_VERSION, save_checkpoint
from core.models.profiles import Profile
from core.models.registry import CLASS_NAMES
from core.store import Store

FoldStates = dict[int, dict[str, torch.Tensor]]


def write_fold_checkpoints(store: Store, model_id: str, arch: str, profile: Profile,
                           states: FoldStates, stamp: str) -> list[tuple[int, Path, str]]:
    """Write one checkpoint per fold (atomically, under new names); returns (fold, path,
    SHA-256) of each. On an error the files already written are removed."""
    written: list[tuple[int, Path, str]] = []
    try:
        for fold, state in sorted(states.items()):
            path = store.resolve(f"models/{model_id}/{stamp}-fold{fold}.pt")
            sha = save_checkpoint(path, {
                "format": FORMAT, "format_version": FORMAT_VERSION, "model_id": model_id,
                "arch": arch, "image_size": profile.image_size, "class_names": list(CLASS_NAMES),
                "state_dict": state, "fold": fold,
                "config": {"profile": json.loads(json.dumps(profile.as_dict())), "fold": fold}})
            written.append((fold, path, sha))
    except BaseException:
        remove(written)
        raise
    return written


def replace_fold_rows(cur: duckdb.DuckDBPyConnection, store: Store, model_id: str,
                      written: list[tuple[int, Path, str]], epochs: int) -> list[str]:
    """Inside the caller's transaction: the model's fold rows become ``written``; returns the
    files of the rows replaced, to remove after the commit."""
    old = [path for (path,) in cur.execute(
        "SELECT checkpoint_path FROM crossfit_folds WHERE model_id = ?", [model_id]).fetchall()]
    cur.execute("DELETE FROM crossfit_folds WHERE model_id = ?", [model_id])
    if written:
        cur.executemany("INSERT INTO crossfit_folds (model_id, fold, checkpoint_path,"
                        " checkpoint_sha256, epochs) VALUES (?, ?, ?, ?, ?)",
                        [[model_id, fold, store.relative(path), sha, epochs]
                         for fold, path, sha in written])
    return old


def remove(written: list[tuple[int, Path, str]]) -> None:
    for _, path, _ in written:
        path.unlink(missing_ok=True)
