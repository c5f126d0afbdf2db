"""The one call a page makes for a heatmap: the map and the region for this model, case and
method. Core decides: the stored map when there is a valid one, else one computed now (and
stored) on the model ``load_model`` gives. Torch is imported only in that second case; the
case's mask is decoded once, for the region and the caller's outline alike."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.errors import UserError
from core.heatmaps import default_heatmap
from core.heatmaps.stored import cached_heatmap, region_of
from core.images import load_grey
from core.models.framing import Box, describe_region
from core.reads import ai_output
from core.store import Store

if TYPE_CHECKING:
    from core.models.loading import LoadedModel

# (model_id, checkpoint SHA-256) -> the loaded model; the SHA lets a caller's cache notice a
# retrained model.
ModelLoader = Callable[[str, "str | None"], "LoadedModel"]


@dataclass(frozen=True)
class CaseHeatmap:
    """A model's map of a case at the image's size (float32 in [0, 1]), the box the model read
    (None: the whole image), the CAM method, the case's lesion mask (None: it has none), and
    what the model reads in words (``framing.describe_region``), to show beside the map."""

    cam: np.ndarray
    region: Box | None
    method: str
    mask: np.ndarray | None
    reads: str


def case_heatmap(store: Store, model_id: str, case_id: int, method: str | None,
                 load_model: ModelLoader) -> CaseHeatmap:
    """The map of ``case_id`` by ``model_id`` with ``method`` (None: the model's default, as
    training recorded it, :func:`core.heatmaps.default_heatmap`) and the region it covers: the
    stored map, else computed now on ``load_model(model_id, checkpoint_sha256)`` and stored,
    where the checkpoint is the one that made the output shown for the case (a cross-fitted
    fold model for a training case). UserError when there is no such model or case, when the
    model has no output it could honestly show for the case (it trained on it: never a map from
    a model that saw the case), or the map cannot be computed."""
    with store.read() as cur:
        model = cur.execute("SELECT framing, config FROM models WHERE model_id = ?",
                            [model_id]).fetchone()
        case = cur.execute("SELECT image_path, mask_path FROM cases WHERE case_id = ?",
                           [int(case_id)]).fetchone()
        shown = ai_output(cur, model_id, case_id) if model and case else None
    if model is None:
        raise UserError(f"no model {model_id!r} in the store")
    if case is None:
        raise UserError(f"no case {case_id} in the store")
    if isinstance(shown, str):
        raise UserError(shown)
    (framing, config), (image_path, mask_path) = model, case
    config = json.loads(config) if config else None
    method = method or default_heatmap(config)[1]
    checkpoint_sha256 = shown.checkpoint_sha256
    mask = load_grey(store, mask_path) > 127 if mask_path else None
    cam = cached_heatmap(store, model_id, case_id, method)
    if cam is None:
        from core.heatmaps.compute import compute_heatmap  # torch: only to compute a map

        cam = compute_heatmap(store, load_model(model_id, checkpoint_sha256), case_id, method,
                              load_grey(store, image_path), mask)
    reads = describe_region(framing or "full", config)
    return CaseHeatmap(cam, region_of(framing, mask, case_id), method, mask, reads)
