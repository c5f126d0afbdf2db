"""Faithfulness of a map to the model it explains: pytorch-grad-cam's ROAD (Rong et al. 2022),
its own implementation, not a re-write.

ROAD removes the most relevant pixels first (MoRF) and, separately, the least relevant first
(LeRF), filling them in by noisy linear imputation, and reads the model's confidence in the
explained class after each removal. ``ROADCombined`` returns (LeRF - MoRF) / 2 averaged over the
percentiles: positive when removing what the map calls important hurts the model more than
removing what it calls unimportant. Confidence is the softmax probability of the class the map
explains, so the score is in probability units (-1..1; 0: the map is no better than its
reverse). It costs about 2 x len(percentiles) forward passes and as many sparse solves per
map (about 0.9 s per 112 px map on one CPU core with four percentiles).

``confidence_change`` is the library's cheap alternative (``CamMultImageConfidenceChange``):
the change in that confidence when the image is multiplied by the map (close to 0 or positive:
the map keeps what the model needs). It costs two forward passes per map, or one where the
caller passes the image's own confidence (a map's computation has it already).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_grad_cam.metrics.cam_mult_image import CamMultImageConfidenceChange
from pytorch_grad_cam.metrics.road import ROADCombined
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
from torch import nn

from core.models.registry import grey_to_input

METRIC = "road_combined"
PERCENTILES = (20, 40, 60, 80)  # fraction of pixels removed; four keep a map's cost near 8 passes


def on_input_grid(maps: np.ndarray, size: int) -> np.ndarray:
    """Maps (B, h, w) resized bilinearly to the model's input, (B, size, size); maps already
    that size are returned as they are."""
    if np.shape(maps)[-2:] == (size, size):
        return np.asarray(maps, np.float32)
    cams = F.interpolate(torch.from_numpy(np.asarray(maps, np.float32)).unsqueeze(1),
                         size=(size, size), mode="bilinear", align_corners=False)
    return cams.squeeze(1).numpy()


def _inputs(model: nn.Module, images: torch.Tensor, maps: np.ndarray,
            malignant: Sequence[bool]) -> tuple[torch.Tensor, np.ndarray, list]:
    """Normalised inputs, maps at the input's size, and softmax targets for the explained
    classes."""
    if len(maps) != len(images) or len(malignant) != len(images):
        raise ValueError(f"{len(images)} images, {len(maps)} maps, {len(malignant)} classes")
    device = next(model.parameters()).device
    x = grey_to_input(images.to(device).float() / 255)
    targets = [ClassifierOutputSoftmaxTarget(int(bool(m))) for m in malignant]
    return x, on_input_grid(maps, x.shape[-1]), targets


def road_scores(model: nn.Module, images: torch.Tensor, maps: np.ndarray,
                malignant: Sequence[bool], percentiles: Sequence[int] = PERCENTILES
                ) -> np.ndarray:
    """ROAD-combined score per image.

    ``images``: grey uint8 (B, 1, S, S) at the model's input size; ``maps``: (B, h, w) in [0, 1]
    on any grid (resized bilinearly to S x S); ``malignant``: the class each map explains.
    ``model`` is the whole network (eval mode); it is only read.
    """
    x, cams, targets = _inputs(model, images, maps, malignant)
    with torch.no_grad():
        scores = ROADCombined(percentiles=list(percentiles))(x, cams, targets, model)
    return np.asarray(scores, np.float64).reshape(len(images))


def confidence_change(model: nn.Module, images: torch.Tensor, maps: np.ndarray,
                      malignant: Sequence[bool], confidence: np.ndarray | None = None
                      ) -> np.ndarray:
    """``CamMultImageConfidenceChange`` per image (same arguments as :func:`road_scores`).
    ``confidence``: each image's own softmax probability of its explained class, where the
    caller has it; the library then scores only the multiplied images (``return_diff=False``)
    and the change is taken from that."""
    x, cams, targets = _inputs(model, images, maps, malignant)
    metric = CamMultImageConfidenceChange()
    with torch.no_grad():
        if confidence is None:
            scores = metric(x, cams, targets, model)
        else:
            scores = metric(x, cams, targets, model, return_diff=False) - np.asarray(confidence)
    return np.asarray(scores, np.float64).reshape(len(images))
