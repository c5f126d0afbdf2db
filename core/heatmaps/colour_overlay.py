"""A heatmap drawn over its grey image."""
from __future__ import annotations

import cv2
import numpy as np

from core.errors import UserError


def colourise(cam: np.ndarray) -> np.ndarray:
    """A map in [0, 1] as RGB uint8 through the JET colour map (blue low, red high)."""
    scaled = np.uint8(np.clip(cam, 0, 1) * 255)
    return cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def overlay(image_grey: np.ndarray, cam: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """The grey image (H, W) in RGB with the coloured map (H, W, [0, 1]) blended in at
    ``alpha`` (0: image only, 1: map only); RGB uint8 (H, W, 3). Where the map is exactly zero
    the image stays grey: outside a lesion-framed model's square it read nothing there, and
    JET's deep blue would suggest it had."""
    if image_grey.ndim != 2 or cam.shape != image_grey.shape:
        raise UserError(f"the heatmap {cam.shape} does not match the image {image_grey.shape}")
    if not 0 <= alpha <= 1:
        raise UserError(f"alpha must lie between 0 and 1 (got {alpha})")
    grey = np.repeat(image_grey[:, :, None], 3, axis=2).astype(np.float32)
    weight = np.where(cam > 0, np.float32(alpha), np.float32(0))[:, :, None]
    blended = (1 - weight) * grey + weight * colourise(cam).astype(np.float32)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
