"""A heatmap drawn over its grey image, and the colour bar that says what its colours mean."""
from __future__ import annotations

import html

import cv2
import numpy as np

from core.errors import UserError
from core.models.framing import Box, inside


def colourise(cam: np.ndarray) -> np.ndarray:
    """A map in [0, 1] as RGB uint8 through the JET colour map (blue low, red high)."""
    scaled = np.uint8(np.clip(cam, 0, 1) * 255)
    return cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def overlay(image_grey: np.ndarray, cam: np.ndarray, alpha: float = 0.4,
            region: Box | None = None) -> np.ndarray:
    """The grey image (H, W) in RGB with the coloured map (H, W, [0, 1]) blended in at
    ``alpha`` (0: image only, 1: map only) inside ``region``, the box the model read (None:
    the whole image); RGB uint8 (H, W, 3). Outside it the image stays grey: a lesion-framed
    model read nothing there, and JET's deep blue would suggest it had. Inside, a zero map is
    deep blue, as in any Grad-CAM figure."""
    if image_grey.ndim != 2 or cam.shape != image_grey.shape:
        raise UserError(f"the heatmap {cam.shape} does not match the image {image_grey.shape}")
    if not 0 <= alpha <= 1:
        raise UserError(f"alpha must lie between 0 and 1 (got {alpha})")
    grey = np.repeat(image_grey[:, :, None], 3, axis=2).astype(np.float32)
    weight = np.zeros(cam.shape + (1,), np.float32)
    where = (slice(None), slice(None)) if region is None else inside(region, cam.shape)[0]
    weight[where] = alpha
    blended = (1 - weight) * grey + weight * colourise(cam).astype(np.float32)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def colour_scale_html(method_title: str, grey_outside: bool = False, steps: int = 11) -> str:
    """A colour bar for maps drawn by :func:`overlay`: JET's colours from low to high (the
    same ``colourise`` samples), what they mean, and, where ``grey_outside``, that grey is
    where the model read nothing."""
    colours = colourise(np.linspace(0, 1, steps)[None, :])[0]
    stops = ", ".join(f"rgb({r}, {g}, {b}) {100 * i / (steps - 1):.0f}%"
                      for i, (r, g, b) in enumerate(colours.tolist()))
    grey = ('<div>Grey: outside the region the model read (it saw nothing there).</div>'
            if grey_outside else "")
    return (
        '<div style="font-size:0.85rem;max-width:32rem" data-testid="sonocase-colour-scale">'
        f'<div style="height:0.75rem;border-radius:2px;background:linear-gradient(to right, '
        f'{stops})"></div>'
        '<div style="display:flex;justify-content:space-between">'
        f"<span>low</span><span>{html.escape(method_title)}: how strongly the model attended "
        "to each area</span><span>high</span></div>"
        f"{grey}</div>")
