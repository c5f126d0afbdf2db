"""What part of an ultrasound image a model reads: the whole frame, or the region an operator
marks around the lesion.

``lesion`` framing reads the box an operator would draw around the nodule, as lesion-level AI
in clinics (S-Detect, Koios DS) reads the region the sonographer marks: loose and off-centre,
never the expert's outline. It is simulated from the lesion mask (:func:`marked_box`): a square
of side 1.3-2.2 times the lesion's extent (its larger side), its centre off the lesion's by up
to 20% of the side across and from 10% above to 20% below (an operator leaves room for
posterior shadowing or enhancement), moved where needed so the whole lesion stays inside (an
operator never cuts the nodule). A square keeps the lesion's proportions, so orientation
(taller than wide) survives the resize. At a small input size this is what lets a model see
margins at all: squeezed whole, a 10 mm lesion in a 40 mm frame is a dozen pixels wide. Parts
of the square beyond the image are black, as outside the scanned field.

Training draws a fresh box for every case in every epoch (an augmentation: the model learns
from many operators); everything else (validation, test, predictions, quiz, heatmaps, zoomed
views) reads each case's own box, :func:`lesion_box`, drawn with a seed from the SHA-256 of the
mask's pixels: fixed per case, the same in any store. ``full`` squeezes the whole image to the
input size.

Heatmaps are computed on the framed input and pasted back into the box they came from, so they
always sit on the stored image; outside a lesion box the map is zero.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from core.errors import UserError

FRAMINGS = ("lesion", "full")
FRAMING_CHOICES = ("auto", *FRAMINGS)  # what a user may ask for (see choose_framing)
SIDE_RATIO = (1.3, 2.2)          # the marked square's side, in lesion extents
OFFSET_ACROSS = 0.2              # its centre left or right of the lesion's, up to this x side
OFFSET_DEPTH = (-0.1, 0.2)       # ... and above (-) or below (+) it, this range x side
MIN_SIDE_PX = 32                 # a tiny lesion still gets some surrounding tissue
ZOOM = 2.0         # a view zoomed on the lesion shows its square widened this many times
REACH = 2 * (0.5 + max(OFFSET_ACROSS, *map(abs, OFFSET_DEPTH)))  # any marked box lies within
# a square this many of its largest sides wide about the lesion's centre (see reach_box)
REGIONS = {
    "full": "reads the whole image",
    "lesion": (f"reads the marked region: a box an operator would draw, "
               f"{SIDE_RATIO[0]:g}-{SIDE_RATIO[1]:g}x the lesion, off-centre up to "
               f"{OFFSET_ACROSS:.0%}"),
}
ORACLE_REGION = ("reads the square around the expert's lesion outline (trained before "
                 "marked regions: an oracle box; retrain it)")


@dataclass(frozen=True)
class Box:
    """A region of an image in pixels; it may reach beyond the image's edges."""

    top: int
    left: int
    height: int
    width: int


Bounds = tuple[int, int, int, int]  # a lesion's top, bottom, left, right (end-exclusive) rows/cols


def lesion_bounds(mask: np.ndarray) -> Bounds:
    """The bounding box of the mask's lesion: top, bottom, left, right (end-exclusive)."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise UserError("the lesion mask is empty")
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def largest_side(bounds: Bounds) -> int:
    """The side of the largest square an operator marks around a lesion with ``bounds``."""
    top, bottom, left, right = bounds
    return max(MIN_SIDE_PX, math.ceil(SIDE_RATIO[1] * max(bottom - top, right - left)))


def marked_box(bounds: Bounds, rng: np.random.Generator) -> Box:
    """A square an operator might draw around a lesion with ``bounds``, drawn from ``rng``
    (see the module's docstring): side and offsets uniform in their ranges, then moved the
    least needed to hold the whole lesion."""
    top, bottom, left, right = bounds
    ratio = rng.uniform(*SIDE_RATIO)
    side = max(MIN_SIDE_PX, round(ratio * max(bottom - top, right - left)))
    centre_row = (top + bottom) / 2 + rng.uniform(*OFFSET_DEPTH) * side
    centre_col = (left + right) / 2 + rng.uniform(-OFFSET_ACROSS, OFFSET_ACROSS) * side
    box_top = min(max(round(centre_row - side / 2), bottom - side), top)
    box_left = min(max(round(centre_col - side / 2), right - side), left)
    return Box(box_top, box_left, side, side)


def case_seed(mask: np.ndarray) -> int:
    """The seed of a case's own marked box: from the SHA-256 of its mask's pixels (and shape),
    so the box is the same in every store that holds the case, whatever its case id."""
    mask = np.ascontiguousarray(mask, dtype=bool)
    digest = hashlib.sha256(f"marked box {mask.shape}".encode())
    digest.update(np.packbits(mask).tobytes())
    return int.from_bytes(digest.digest()[:8], "little")


def lesion_box(mask: np.ndarray) -> Box:
    """The region a lesion-framed model reads of a case: the box its operator marked around the
    mask's lesion (:func:`marked_box` with the case's own seed, :func:`case_seed`). Every
    path but training reads this one box: predictions, heatmaps, zoomed views."""
    return marked_box(lesion_bounds(mask), np.random.default_rng(case_seed(mask)))


def reach_box(bounds: Bounds) -> Box:
    """A square about the lesion's centre that holds every box :func:`marked_box` can draw for
    it (two pixels to spare on each side for rounding): training caches this much of each
    image."""
    top, bottom, left, right = bounds
    side = math.ceil(REACH * largest_side(bounds)) + 4
    return Box(round((top + bottom - side) / 2), round((left + right - side) / 2), side, side)


def describe_region(framing: str, config: dict | None = None) -> str:
    """One line for people on what a model with ``framing`` reads; with the model's stored
    ``config``, a lesion-framed model trained before marked regions is named for what it read."""
    if framing == "lesion" and config is not None and "region" not in config:
        return ORACLE_REGION
    if framing not in REGIONS:
        raise unknown_framing(framing)
    return REGIONS[framing]


def unknown_framing(framing: str) -> UserError:
    return UserError(f"framing must be one of {', '.join(FRAMINGS)} (got {framing!r})")


def region_record(framing: str) -> dict:
    """What a model reads, as its checkpoint and model row record it (``config['region']``)."""
    record = {"description": describe_region(framing)}
    if framing == "lesion":
        record.update(side_ratio=list(SIDE_RATIO), offset_across=OFFSET_ACROSS,
                      offset_depth=list(OFFSET_DEPTH), min_side_px=MIN_SIDE_PX,
                      training="a fresh box per case and epoch",
                      elsewhere="the case's own box, seeded by its mask's SHA-256")
    return record


def zoom_box(square: Box, shape: tuple[int, int], factor: float = ZOOM) -> Box:
    """A view for people of what a model read (``square``: the case's marked box, from
    :func:`lesion_box`): the square widened ``factor`` times about the same centre, moved to
    lie inside an image of ``shape`` where it fits, never larger than the image."""
    height, width = shape
    side = min(round(square.height * factor), height, width)
    top = round(square.top + square.height / 2 - side / 2)
    left = round(square.left + square.width / 2 - side / 2)
    return Box(min(max(top, 0), height - side), min(max(left, 0), width - side), side, side)


def frame_box(framing: str, shape: tuple[int, int], mask: np.ndarray | None,
              case: object = None) -> Box:
    """The box a model with ``framing`` reads in an image of ``shape``: the whole image, or
    the case's marked box (:func:`lesion_box`). Every path but training frames through here."""
    if framing == "full":
        return Box(0, 0, int(shape[0]), int(shape[1]))
    if framing != "lesion":
        raise unknown_framing(framing)
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
