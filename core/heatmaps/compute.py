"""Computing heatmaps and storing them, so a quiz never waits for one (this module imports
torch; reading a stored map does not: :mod:`core.heatmaps.stored`).

Each map is a float16 ``.npy`` at the stored image's size under
``<data_dir>/heatmaps/<model_id>/<method>/<case_id>.npy`` (written atomically), with a row in
``heatmaps`` carrying its SHA-256 and localisation scores. A map whose file is missing or
changed counts as absent and is computed again. Every map of a model is taken at its recorded
target layer (``LoadedModel.heatmap_layer``), and a call without a method uses its recorded
default method (``LoadedModel.heatmap_method``; Grad-CAM at the last block for a model trained
before the choice was recorded).
"""
from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable

import numpy as np
import torch

from core.atomic import write_atomic
from core.errors import UserError
from core.heatmaps.cam import compute_cams, method_class
from core.heatmaps.localisation import localisation_scores, localisation_summary
from core.images import load_grey
from core.models.framing import frame_box, model_input, paste_map
from core.models.loading import LoadedModel
from core.reads import ai_outputs, shown_sql
from core.store import Store

SPLITS = ("test", "train", "all")


def heatmap_path(model_id: str, method: str, case_id: int) -> str:
    """Where a map lives, relative to the data folder."""
    return f"heatmaps/{model_id}/{method}/{int(case_id)}.npy"


def _encode(cam: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, cam.astype(np.float16), allow_pickle=False)
    return buffer.getvalue()


def _case_images(store: Store, case_ids: list[int]
                 ) -> dict[int, tuple[np.ndarray, np.ndarray | None]]:
    with store.read() as cur:
        rows = cur.execute("SELECT case_id, image_path, mask_path FROM cases "
                           "WHERE case_id IN (SELECT unnest(?))", [case_ids]).fetchall()
    found = {row[0]: row for row in rows}
    missing = [c for c in case_ids if c not in found]
    if missing:
        raise UserError(f"no case {missing[0]} in the store")
    return {case_id: (load_grey(store, image_path),
                      load_grey(store, mask_path) > 127 if mask_path else None)
            for case_id, image_path, mask_path in rows}


def _stored_calls(store: Store, loaded: LoadedModel, case_ids: list[int]
                  ) -> list[bool | None]:
    """The model's stored call on each case (malignant at its threshold; None where it has no
    prediction), so a map explains the call the quiz shows."""
    with store.read() as cur:
        outputs = ai_outputs(cur, loaded.model_id, case_ids)
    return [outputs[c].malignant if c in outputs else None for c in case_ids]


def _compute_and_store(store: Store, loaded: LoadedModel,
                       cases: dict[int, tuple[np.ndarray, np.ndarray | None]], method: str,
                       batch_size: int) -> dict[int, np.ndarray]:
    """Maps for ``cases`` (case id -> image, mask; one batch), written as files and rows in one
    transaction."""
    case_ids = list(cases)
    boxes = {c: frame_box(loaded.framing, cases[c][0].shape, cases[c][1], c) for c in case_ids}
    small = np.stack([model_input(cases[c][0], boxes[c], loaded.image_size) for c in case_ids])
    maps, _ = compute_cams(loaded.model, loaded.arch, torch.from_numpy(small).unsqueeze(1),
                           method, loaded.threshold, batch_size,
                           _stored_calls(store, loaded, case_ids), loaded.heatmap_layer)
    results, rows = {}, []
    for case_id, small_map in zip(case_ids, maps):
        image, mask = cases[case_id]
        cam = paste_map(small_map, boxes[case_id], image.shape)
        cam = cam.astype(np.float16).astype(np.float32)
        data = _encode(cam)
        relative = heatmap_path(loaded.model_id, method, case_id)
        write_atomic(store.resolve(relative), data)
        hit, energy = localisation_scores(cam, mask) if mask is not None else (None, None)
        rows.append([loaded.model_id, case_id, method, relative,
                     hashlib.sha256(data).hexdigest(), hit, energy])
        results[case_id] = cam
    with store.transaction() as cur:
        cur.executemany(
            "INSERT INTO heatmaps (model_id, case_id, method, path, sha256, pointing_hit, "
            "energy_inside) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (model_id, case_id, method) "
            "DO UPDATE SET path = excluded.path, sha256 = excluded.sha256, "
            "pointing_hit = excluded.pointing_hit, energy_inside = excluded.energy_inside, "
            "created_at = now()", rows)
    return results


def compute_heatmap(store: Store, loaded: LoadedModel, case_id: int, method: str | None = None,
                    image: np.ndarray | None = None, mask: np.ndarray | None = None
                    ) -> np.ndarray:
    """The map of ``case_id`` (float32 in [0, 1] at the stored image's size) with ``method``
    (None: the model's default), computed now and stored (replacing any stored one).
    ``image`` and ``mask``: the case's, where the caller has decoded them already (else read
    from the store)."""
    method = method or loaded.heatmap_method
    method_class(method)
    case_id = int(case_id)
    cases = ({case_id: (image, mask)} if image is not None
             else _case_images(store, [case_id]))
    return _compute_and_store(store, loaded, cases, method, 32)[case_id]


def _cases_to_do(store: Store, model_id: str, split: str, method: str) -> tuple[list[int], int]:
    if split not in SPLITS:
        raise UserError(f"--split must be one of {', '.join(SPLITS)} (got {split!r})")
    query = ("SELECT p.case_id, h.path FROM predictions p "
             "LEFT JOIN splits s ON s.case_id = p.case_id "
             "LEFT JOIN heatmaps h ON h.model_id = p.model_id AND h.case_id = p.case_id "
             "AND h.method = ? WHERE p.model_id = ? "
             # the final model's own honest outputs only: never a case it trained on, and a
             # cross-fitted case's map comes from its fold model (case_heatmap computes it)
             f"AND {shown_sql()} AND p.source <> 'out_of_fold'")
    params: list = [method, model_id]
    if split != "all":
        query += " AND s.split = ?"
        params.append(split)
    with store.read() as cur:
        rows = cur.execute(query + " ORDER BY p.case_id", params).fetchall()
    todo = [case_id for case_id, path in rows
            if path is None or not store.resolve(path).is_file()]
    return todo, len(rows) - len(todo)


def precompute_heatmaps(store: Store, loaded: LoadedModel, split: str = "test",
                        method: str | None = None, batch_size: int | None = None,
                        progress: Callable[[dict], None] | None = None,
                        cancel: threading.Event | None = None) -> dict:
    """Cache the maps of every case of ``split`` (test, train or all) the model has an honest
    output for from its own checkpoint (not in-sample, not cross-fitted), with ``method``
    (None: the model's default), in batches (default 16 images, 64 on a GPU), each batch
    committed on its own: a rerun skips what is already cached."""
    method = method or loaded.heatmap_method
    method_class(method)
    if batch_size is None:
        batch_size = 64 if loaded.device.type == "cuda" else 16
    if batch_size < 1:
        raise UserError(f"--batch-size must be at least 1 (got {batch_size})")
    todo, skipped = _cases_to_do(store, loaded.model_id, split, method)
    started = time.perf_counter()
    done = 0
    for start in range(0, len(todo), batch_size):
        if cancel is not None and cancel.is_set():
            break
        chunk = todo[start:start + batch_size]
        _compute_and_store(store, loaded, _case_images(store, chunk), method, batch_size)
        done += len(chunk)
        if progress is not None:
            progress({"done": done, "total": len(todo), "fraction": done / len(todo),
                      "message": f"{loaded.model_id} {method}: {done}/{len(todo)} maps"})
    seconds = time.perf_counter() - started
    return {"model_id": loaded.model_id, "method": method, "split": split,
            "computed": done, "already_cached": skipped, "remaining": len(todo) - done,
            "seconds": seconds, "maps_per_second": done / seconds if done else None,
            "localisation": localisation_summary(store, loaded.model_id, method,
                                                 None if split == "all" else split)}
