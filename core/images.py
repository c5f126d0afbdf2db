"""Case images as the pages show them: the stored grey image, the lesion outline drawn over it
(for the truth step), and fast encodings for the browser."""
from __future__ import annotations

import io
import logging

import numpy as np
from PIL import Image

from core.errors import UserError
from core.models.framing import Box, crop
from core.store import Store

OUTLINE_COLOUR = (0, 230, 118)
log = logging.getLogger(__name__)


def _unreadable(store: Store, relative_path: str, error: OSError) -> UserError:
    """The page's message names the image as the store does; the log has the full path."""
    log.warning("cannot read the image %s: %s", store.data_dir / relative_path, error)
    reason = error.strerror or "not a readable image"
    return UserError(f"cannot read the image {relative_path}: {reason}")


def load_grey(store: Store, relative_path: str) -> np.ndarray:
    """A stored image (or mask) as 8-bit grey (H, W); UserError if the file is gone."""
    path = store.resolve(relative_path)
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L"))
    except OSError as error:  # gone, or not an image any more
        raise _unreadable(store, relative_path, error) from None


def stored_png(store: Store, relative_path: str) -> bytes:
    """A stored PNG's bytes as they are: sent to the browser without decoding or re-encoding
    (lossless, and no encoding time)."""
    try:
        return store.resolve(relative_path).read_bytes()
    except OSError as error:
        raise _unreadable(store, relative_path, error) from None


def jpeg_bytes(rgb: np.ndarray, quality: int = 95) -> bytes:
    """An RGB (or grey) image as a high-quality JPEG without chroma subsampling: sharp to the
    eye, and some 20 times faster to encode than a PNG of a speckled ultrasound image."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def enlarge(image: np.ndarray, side: int) -> np.ndarray:
    """An 8-bit image (grey or RGB) scaled up (Lanczos) so its longer side is at least
    ``side`` pixels, or a boolean mask (nearest neighbour); one that is already as large comes
    back unchanged."""
    longer = max(image.shape[:2])
    if longer >= side:
        return image
    size = (round(image.shape[1] * side / longer), round(image.shape[0] * side / longer))
    if image.dtype == bool:
        grey = Image.fromarray(image.astype(np.uint8) * 255)
        return np.array(grey.resize(size, Image.Resampling.NEAREST)) > 127
    return np.array(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def zoom(image: np.ndarray, box: Box, side: int) -> np.ndarray:
    """The part of an image or mask inside ``box`` (beyond the image: black or outside the
    mask), enlarged (:func:`enlarge`) to ``side`` pixels; draw outlines after zooming, so they
    stay thin."""
    return enlarge(crop(image, box), side)


def to_rgb(grey: np.ndarray) -> np.ndarray:
    """An 8-bit grey image as RGB."""
    return np.repeat(grey[:, :, None], 3, axis=2)


def mask_edge(mask: np.ndarray, thickness: int = 1) -> np.ndarray:
    """The boolean border of a mask's regions, ``thickness`` pixels wide (inside the mask):
    the mask less its erosion by a 4-neighbour cross (scipy.ndimage), the image's edge counting
    as outside."""
    from scipy import ndimage  # a second's import: only once something is outlined

    inside = np.asarray(mask, dtype=bool)
    eroded = ndimage.binary_erosion(inside, ndimage.generate_binary_structure(2, 1),
                                    iterations=max(1, thickness), border_value=0)
    return inside & ~eroded


def outline(image: np.ndarray, mask: np.ndarray,
            colour: tuple[int, int, int] = OUTLINE_COLOUR) -> np.ndarray:
    """The image (grey or RGB) in RGB with the lesion's outline drawn over it (line width
    about 1/250 of the image's shorter side, at least one pixel)."""
    if mask.shape != image.shape[:2]:
        raise UserError(f"the mask ({mask.shape}) does not match the image ({image.shape[:2]})")
    rgb = to_rgb(image) if image.ndim == 2 else image.copy()
    rgb[mask_edge(mask, max(1, round(min(mask.shape) / 250)))] = colour
    return rgb
