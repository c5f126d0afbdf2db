"""Read a cached heatmap without torch: the quiz's AI step must not wait for torch to import."""
from __future__ import annotations

import hashlib
import io

import numpy as np

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
