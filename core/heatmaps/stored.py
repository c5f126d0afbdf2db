"""Read a cached heatmap, and the region its model read, without torch: the quiz's AI step
must not wait for torch to import."""
from __future__ import annotations

import hashlib
import io

import numpy as np

from core.images import load_grey
from core.models.framing import Box, frame_box
from core.store import Store


def cached_heatmap(store: Store, model_id: str, case_id: int, method: str = "gradcam"
                   ) -> np.ndarray | None:
    """The stored map (float32 in [0, 1] at the image's size), or None if there is none."""
    with store.read() as cur:
        row = cur.execute("SELECT path, sha256 FROM heatmaps WHERE model_id = ? AND case_id = ? "
                          "AND method = ?", [model_id, int(case_id), method]).fetchone()
    if row is None:
        return None
    try:
        data = store.resolve(row[0]).read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != row[1]:
        return None
    return np.load(io.BytesIO(data), allow_pickle=False).astype(np.float32)


def region_of(framing: str | None, mask: np.ndarray | None, case_id: int) -> Box | None:
    """The box of the image a model of ``framing`` reads of a case with ``mask`` (a
    lesion-framed model: the case's marked box), or None for the whole image."""
    if framing != "lesion" or mask is None:
        return None
    return frame_box("lesion", mask.shape, mask, case_id)


def read_region(store: Store, model_id: str, case_id: int) -> Box | None:
    """The box of the stored image that ``model_id`` reads of the case (see
    :func:`region_of`)."""
    with store.read() as cur:
        row = cur.execute("SELECT m.framing, c.mask_path FROM models m, cases c "
                          "WHERE m.model_id = ? AND c.case_id = ?",
                          [model_id, int(case_id)]).fetchone()
    if row is None or row[0] != "lesion" or row[1] is None:
        return None
    return region_of(row[0], load_grey(store, row[1]) > 127, case_id)


def marked_region(store: Store, case_id: int) -> Box | None:
    """The region an operator would mark around the case's nodule (the box a lesion-framed
    model reads), or None for a case without a lesion mask: what "Zoom to the nodule" shows a
    study reader, the same box in the unaided and the aided phase."""
    with store.read() as cur:
        row = cur.execute("SELECT mask_path FROM cases WHERE case_id = ?", [case_id]).fetchone()
    if row is None or row[0] is None:
        return None
    mask = load_grey(store, row[0]) > 127
    return region_of("lesion", mask, case_id) if mask.any() else None
