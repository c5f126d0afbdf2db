"""What part of an ultrasound image a model reads: the whole frame, or the lesion's region.

``lesion`` framing crops a square around the lesion mask, as a sonographer frames a nodule:
the lesion fills most of it, with a rim of surrounding tissue (margin, echogenicity against
fat and gland) and room below it (posterior shadowing or enhancement). A square keeps the
lesion's proportions, so orientation (taller than wide) survives the resize. At a small input
size this is what lets a model see margins at all: squeezed whole, a 10 mm lesion in a 40 mm
frame is a dozen pixels wide. Parts of the square beyond the image are black, as outside the
scanned field. ``full`` squeezes the whole image to the input size.

Heatmaps are computed on the framed input and pasted back into the box they came from, so they
always sit on the stored image; outside a lesion box the map is zero.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from core.errors import UserError

FRAMINGS = ("lesion", "full")
FRAMING_CHOICES = ("auto", *FRAMINGS)  # what a user may ask for (see choose_framing)
CONTEXT = 0.2      # tissue shown on each side of the lesion, as a share of its larger extent
POSTERIOR = 0.15   # the square's centre sits this share of the lesion's height below its own
MIN_SIDE_PX = 32   # a tiny lesion still gets some surrounding tissue
ZOOM = 2.0         # a view zoomed on the lesion shows its square widened this many times


@dataclass(frozen=True)
class Box:
    """A region of an image in pixels; it may reach beyond the image's edges."""

    top: int
    left: int
    height: int
    width: int


def lesion_box(mask: np.ndarray) -> Box:
    """The square around the mask's lesion (its bounding box, with context and room below)."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise UserError("the lesion mask is empty")
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    extent = max(bottom - top, right - left)
    side = max(MIN_SIDE_PX, math.ceil(extent * (1 + 2 * CONTEXT)))
    centre_row = (top + bottom) / 2 + POSTERIOR * (bottom - top)
    centre_col = (left + right) / 2
    return Box(round(centre_row - side / 2), round(centre_col - side / 2), side, side)


def zoom_box(square: Box, shape: tuple[int, int], factor: float = ZOOM) -> Box:
    """A view for people of what a model read (``square``: the lesion's, from
    :func:`lesion_box`): the square widened ``factor`` times about the same centre, moved to
    lie inside an image of ``shape`` where it fits, never larger than the image."""
    height, width = shape
    side = min(round(square.height * factor), height, width)
    top = round(square.top + square.height / 2 - side / 2)
    left = round(square.left + square.width / 2 - side / 2)
    return Box(min(max(top, 0), height - side), min(max(left, 0), width - side), side, side)


def frame_box(framing: str, shape: tuple[int, int], mask: np.ndarray | None,
              case: object = None) -> Box:
    """The box a model with ``framing`` reads in an image of ``shape``."""
    if framing == "full":
        return Box(0, 0, int(shape[0]), int(shape[1]))
    if framing != "lesion":
        raise UserError(f"framing must be one of {', '.join(FRAMINGS)} (got {framing!r})")
    which = f"case {case}" if case is not None else "this case"
    if mask is None:
        raise UserError(f"{which} has no lesion mask; a lesion-framed model needs one")
    try:
        return lesion_box(mask)
    except UserError:
        raise UserError(f"{which} has an empty lesion mask; a lesion-framed model needs one") \
            from None


def inside(box: Box, shape: tuple[int, ...]) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """The part of ``box`` that lies within an image of ``shape``: (rows, cols) slices of the
    image, and the same pixels as slices of an array the size of the box."""
    top, left = max(box.top, 0), max(box.left, 0)
    bottom = max(min(box.top + box.height, shape[0]), top)
    right = max(min(box.left + box.width, shape[1]), left)
    return ((slice(top, bottom), slice(left, right)),
            (slice(top - box.top, bottom - box.top), slice(left - box.left, right - box.left)))


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    """``image``'s pixels (grey or RGB) inside ``box``; parts beyond the image are zero
    (black)."""
    out = np.zeros((box.height, box.width, *image.shape[2:]), dtype=image.dtype)
    in_image, in_box = inside(box, image.shape)
    out[in_box] = image[in_image]
    return out


def resize_grey(image: np.ndarray, size: int) -> np.ndarray:
    """An 8-bit grey image squeezed to ``size`` x ``size`` (bilinear, antialiased)."""
    return np.array(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))


def model_input(image: np.ndarray, box: Box, size: int) -> np.ndarray:
    """What the model sees: the box's pixels at ``size`` x ``size`` (uint8)."""
    return resize_grey(crop(image, box), size)


def paste_map(small: np.ndarray, box: Box, shape: tuple[int, int]) -> np.ndarray:
    """A map made on the framed input, (h, w) in [0, 1], placed where its box lies on an image
    of ``shape``; zero elsewhere."""
    resized = np.array(Image.fromarray(small.astype(np.float32))
                       .resize((box.width, box.height), Image.Resampling.BILINEAR))
    full = np.zeros(shape, dtype=np.float32)
    in_image, in_box = inside(box, shape)
    full[in_image] = resized[in_box]
    return np.clip(full, 0, 1)


def choose_framing(requested: str, cases_without_mask: int) -> str:
    """``auto`` frames the lesion when every case has a mask, else the whole image."""
    if requested == "auto":
        return "lesion" if cases_without_mask == 0 else "full"
    if requested not in FRAMINGS:
        raise UserError(f"--framing must be {', '.join(FRAMING_CHOICES)} (got {requested!r})")
    if requested == "lesion" and cases_without_mask:
        raise UserError(f"--framing lesion: {cases_without_mask} case(s) have no lesion mask "
                        "(use --framing full, or import their masks)")
    return requested
