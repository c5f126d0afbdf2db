"""Burned-in annotations like those on real exported frames: calipers around the lesion, a
body-marker line ("RT BREAST 10:00 3CM FN") and a depth scale.

Whether each is drawn is decided by the caller (independently of the truth by default, or
tied to it when teaching how a model can learn a shortcut); this module only draws them.
"""
from __future__ import annotations

import threading

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.cases.phantom_speckle import Geometry

INK = 235


def body_marker_text(rng: np.random.Generator) -> str:
    """A plausible body-marker line: side, clock position, distance from the nipple, plane."""
    side = "RT" if rng.random() < 0.5 else "LT"
    hour = int(rng.integers(1, 13))
    minute = "30" if rng.random() < 0.25 else "00"
    distance = int(rng.integers(1, 9))
    plane = ("RAD", "ARAD", "TRANS", "LONG")[rng.integers(4)]
    return f"{side} BREAST {hour}:{minute} {distance}CM FN {plane}"


_fonts = threading.local()  # a FreeType face must not be shared between threads


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    cache = _fonts.__dict__.setdefault("by_size", {})
    if size not in cache:
        cache[size] = ImageFont.load_default(size=size)
    return cache[size]


def _cross(draw: ImageDraw.ImageDraw, row: int, col: int, half: int = 4) -> None:
    draw.line([(col - half, row), (col + half, row)], fill=INK)
    draw.line([(col, row - half), (col, row + half)], fill=INK)


def _dotted(draw: ImageDraw.ImageDraw, start: tuple[int, int], end: tuple[int, int]) -> None:
    (r0, c0), (r1, c1) = start, end
    steps = int(max(abs(r1 - r0), abs(c1 - c0)) // 4)
    for k in range(1, steps):
        r, c = r0 + (r1 - r0) * k / steps, c0 + (c1 - c0) * k / steps
        draw.point((round(c), round(r)), fill=INK)


def caliper_points(mask: np.ndarray) -> tuple[tuple[int, int], ...]:
    """Ends of the widest horizontal and the tallest vertical chord of the mask."""
    rows, cols = np.nonzero(mask)
    left, right = (int(rows[cols.argmin()]), int(cols.min())), (
        int(rows[cols.argmax()]), int(cols.max()))
    centre_col = int(np.median(cols))
    column = rows[cols == centre_col]
    top, bottom = (int(column.min()), centre_col), (int(column.max()), centre_col)
    return left, right, top, bottom


def burn_in(image: np.ndarray, geometry: Geometry, mask: np.ndarray, calipers: bool,
            text: str | None, depth_scale: bool) -> np.ndarray:
    """Return a copy of ``image`` with the chosen annotations drawn in light grey."""
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    height, width = image.shape
    if calipers and mask.any():
        left, right, top, bottom = caliper_points(mask)
        for point in (left, right, top, bottom):
            _cross(draw, *point)
        _dotted(draw, left, right)
        _dotted(draw, top, bottom)
        mm = geometry.mm_per_px
        d1 = np.hypot(right[0] - left[0], right[1] - left[1]) * mm / 10
        d2 = (bottom[0] - top[0]) * mm / 10
        draw.text((width - 92, height - 30), f"D1 {d1:.2f}cm\nD2 {d2:.2f}cm", fill=INK,
                  font=_font(10))
    if text:
        draw.text((6, height - 16), text, fill=INK, font=_font(10))
    if depth_scale:
        px_per_cm = 10 / geometry.mm_per_px
        for k in range(int(geometry.depth_mm // 5) + 1):
            row = round(k * px_per_cm / 2)
            length = 6 if k % 2 == 0 else 3
            draw.line([(width - 1 - length, row), (width - 1, row)], fill=INK)
            if k % 2 == 0 and 0 < row < height - 8:
                draw.text((width - 18, row - 5), str(k // 2), fill=INK, font=_font(9))
    return np.asarray(canvas)
