"""Small synthetic B-mode-like frames for the same-scan tests: depth-darkening layers, tissue
texture, speckle and a dark lesion; and the overlays (calipers, a measuring line, text) that
copies of one scan differ by."""
from __future__ import annotations

import cv2
import numpy as np


def scan(seed: int, height: int = 64, width: int = 80) -> np.ndarray:
    rng = np.random.default_rng(seed)
    depth = np.linspace(200, 40, height) + np.interp(np.linspace(0, 7, height), np.arange(8),
                                                     rng.normal(0, 15, 8))
    texture = cv2.resize(rng.normal(0, 45, (height // 4, width // 4)).astype(np.float32),
                         (width, height), interpolation=cv2.INTER_CUBIC)
    image = depth[:, None] + texture + rng.normal(0, 12, (height, width))
    centre = (int(rng.integers(width // 3, 2 * width // 3)),
              int(rng.integers(height // 3, 2 * height // 3)))
    axes = (int(rng.integers(6, 16)), int(rng.integers(4, 10)))
    cv2.ellipse(image, centre, axes, float(rng.integers(0, 180)), 0, 360, 20, -1)
    return np.clip(image, 0, 255).astype(np.uint8)


def with_calipers(image: np.ndarray) -> np.ndarray:
    """The same frame with two caliper crosses, the line between them and a body-mark text."""
    marked = image.copy()
    for point in ((20, 20), (60, 44)):
        cv2.drawMarker(marked, point, 255, cv2.MARKER_CROSS, 6, 1)
    cv2.line(marked, (20, 20), (60, 44), 255, 1, lineType=cv2.LINE_4)
    cv2.putText(marked, "RT UOQ", (4, 60), cv2.FONT_HERSHEY_PLAIN, 0.7, 255, 1)
    return marked


def zoomed(image: np.ndarray, share: float = 0.8) -> np.ndarray:
    """The central ``share`` of the frame enlarged back to its size (a zoomed or cropped copy)."""
    height, width = image.shape
    top, left = round(height * (1 - share) / 2), round(width * (1 - share) / 2)
    return cv2.resize(image[top:height - top, left:width - left], (width, height),
                      interpolation=cv2.INTER_AREA)
