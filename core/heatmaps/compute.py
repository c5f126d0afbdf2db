"""Computing heatmaps and storing them, so a quiz never waits for one (this module imports
torch; reading a stored map does not: :mod:`core.heatmaps.stored`).

Each map is a float16 ``.npy`` at the stored image's size under
``<data_dir>/heatmaps/<model_id>/<method>/<case_id>.npy`` (written atomically), with a row in
``heatmaps`` carrying its SHA-256, localisation scores beside their baselines and its
faithfulness (:mod:`core.heatmaps.quality`). A map whose file is missing or changed, or that
was stored before those scores, counts as absent and is computed again. Every map of a model is
taken at its recorded target layer (``LoadedModel.heatmap_layer``), and a call without a method
uses its recorded default method (``LoadedModel.heatmap_method``; Grad-CAM at the last block
for a model trained before the choice was recorded).
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
from core.heatmaps.faithfulness import confidence_change, on_input_grid, road_scores
from core.heatmaps.localisation import SCORE_COLUMNS, as_stored, baseline_maps, case_scores
from core.heatmaps.quality import FAITHFULNESS_METRIC, heatmap_quality
from core.images import load_grey
from core.models.framing import Box, frame_box, model_input, paste_map
from core.models.loading import LoadedModel
from core.reads import ai_outputs, shown_sql
from core.store import Store

SPLITS = ("test", "train", "all")
FAITHFULNESS = {"confidence_change": confidence_change, "road_combined": road_scores}
SCORED_COLUMNS = (*SCORE_COLUMNS, "faithfulness", "centre_faithfulness", "faithfulness_metric")


def heatmap_path(model_id: str, method: str, case_id: int) -> str:
    """Where a map lives, relative to the data folder."""
    return f"heatmaps/{model_id}/{method}/{int(case_id)}.npy"


def _encode(cam: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, cam.astype(np.float16), allow_pickle=False)
    return buffer.getvalue()


def case_images(store: Store, case_ids: list[int]
                ) -> dict[int, tuple[np.ndarray, np.ndarray | None]]:
    """Each case's stored image and lesion mask (None: it has none)."""
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


def stored_calls(store: Store, loaded: LoadedModel, case_ids: list[int]
                 ) -> list[bool | None]:
    """The model's stored call on each case (malignant at its threshold; None where it has no
    prediction), so a map explains the call the quiz shows."""
    with store.read() as cur:
        outputs = ai_outputs(cur, loaded.model_id, case_ids)
    return [outputs[c].malignant if c in outputs else None for c in case_ids]


def score_maps(loaded: LoadedModel, cases: dict[int, tuple[np.ndarray, np.ndarray | None]],
               method: str, batch_size: int, calls: list[bool | None],
               metric: str = FAITHFULNESS_METRIC
               ) -> tuple[dict[int, np.ndarray], tuple[int, int], dict[int, dict]]:
    """Maps for ``cases`` (case id -> image, mask; one batch) explaining ``calls`` (see
    :func:`core.heatmaps.cam.compute_cams`), pasted back at the stored precision, with the
    map's grid and each map's scores: localisation against its baselines
    (:func:`core.heatmaps.localisation.case_scores`) and ``metric``'s faithfulness for the map
    and for the centre blob over the model's input."""
    case_ids = list(cases)
    boxes = {c: frame_box(loaded.framing, cases[c][0].shape, cases[c][1], c) for c in case_ids}
    small = torch.from_numpy(np.stack([model_input(cases[c][0], boxes[c], loaded.image_size)
                                       for c in case_ids])).unsqueeze(1)
    maps, probs = compute_cams(loaded.model, loaded.arch, small, method, loaded.threshold,
                               batch_size, calls, loaded.heatmap_layer)
    explained = [bool(p >= loaded.threshold) if m is None else m for m, p in zip(calls, probs)]
    faithful, centre_faithful = _faithfulness(loaded, small, maps, explained, probs, metric)
    results, scores = {}, {}
    for i, case_id in enumerate(case_ids):
        image, mask = cases[case_id]
        results[case_id] = as_stored(paste_map(maps[i], boxes[case_id], image.shape))
        scores[case_id] = {**case_scores(results[case_id], mask, boxes[case_id]),
                           "faithfulness": float(faithful[i]),
                           "centre_faithfulness": float(centre_faithful[i]),
                           "faithfulness_metric": metric}
    return results, tuple(maps.shape[-2:]), scores


def _faithfulness(loaded: LoadedModel, small: torch.Tensor, maps: np.ndarray,
                  explained: list[bool], probs: np.ndarray, metric: str
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``metric``'s score of each map and of the centre blob over the model's input, in one
    batch of both. The confidence change reuses each image's probability from its map's own
    forward pass, so it costs one forward pass per map and one per centre blob."""
    size, n = loaded.image_size, len(small)
    centre = baseline_maps(Box(0, 0, size, size), (size, size))["centre"]
    both = np.concatenate([on_input_grid(maps, size), np.repeat(centre[None], n, 0)])
    arguments = [loaded.model, torch.cat([small, small]), both, explained * 2]
    if metric == "confidence_change":
        confidence = np.where(explained, probs, 1 - probs)
        arguments.append(np.concatenate([confidence, confidence]))
    scores = FAITHFULNESS[metric](*arguments)
    return scores[:n], scores[n:]


def _compute_and_store(store: Store, loaded: LoadedModel,
                       cases: dict[int, tuple[np.ndarray, np.ndarray | None]], method: str,
                       batch_size: int) -> dict[int, np.ndarray]:
    """Maps for ``cases`` (one batch) with their scores (:func:`score_maps`), written as
    files and rows in one transaction."""
    results, _, scores = score_maps(loaded, cases, method, batch_size,
                                    stored_calls(store, loaded, list(cases)))
    rows = []
    for case_id, cam in results.items():
        data = _encode(cam)
        relative = heatmap_path(loaded.model_id, method, case_id)
        write_atomic(store.resolve(relative), data)
        rows.append([loaded.model_id, case_id, method, relative,
                     hashlib.sha256(data).hexdigest(),
                     *(scores[case_id][c] for c in SCORED_COLUMNS)])
    columns = ["model_id", "case_id", "method", "path", "sha256", *SCORED_COLUMNS]
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns[3:])
    with store.transaction() as cur:
        cur.executemany(
            f"INSERT INTO heatmaps ({', '.join(columns)}) VALUES "
            f"({', '.join('?' * len(columns))}) ON CONFLICT (model_id, case_id, method) "
            f"DO UPDATE SET {updates}, created_at = now()", rows)
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
             else case_images(store, [case_id]))
    return _compute_and_store(store, loaded, cases, method, 32)[case_id]


def _cases_to_do(store: Store, model_id: str, split: str, method: str) -> tuple[list[int], int]:
    if split not in SPLITS:
        raise UserError(f"--split must be one of {', '.join(SPLITS)} (got {split!r})")
    query = ("SELECT p.case_id, h.path, h.faithfulness_metric IS NOT NULL FROM predictions p "
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
    todo = [case_id for case_id, path, scored in rows
            if path is None or not scored or not store.resolve(path).is_file()]
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
        _compute_and_store(store, loaded, case_images(store, chunk), method, batch_size)
        done += len(chunk)
        if progress is not None:
            progress({"done": done, "total": len(todo), "fraction": done / len(todo),
                      "message": f"{loaded.model_id} {method}: {done}/{len(todo)} maps"})
    seconds = time.perf_counter() - started
    return {"model_id": loaded.model_id, "method": method, "split": split,
            "computed": done, "already_cached": skipped, "remaining": len(todo) - done,
            "seconds": seconds, "maps_per_second": done / seconds if done else None,
            "quality": heatmap_quality(store, loaded.model_id, method,
                                       None if split == "all" else split)}
