"""Decode untrusted image bytes into 8-bit grey arrays, refusing anything unsafe or broken.

Every refusal is a :class:`BadFile` whose message is the reason shown to the user; importers
skip that file and go on. The pixel count is read from the header and checked before any
pixels are decoded, so a decompression bomb never reaches memory.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 50_000_000
MAX_FILE_BYTES = 512 * 1024 * 1024
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class BadFile(ValueError):
    """A file that cannot become (part of) a case; the message says why."""


def check_pixel_count(width: int, height: int, frames: int = 1) -> None:
    """Refuse images over :data:`MAX_PIXELS` (per frame) before their pixels are decoded."""
    if width <= 0 or height <= 0:
        raise BadFile(f"image has no pixels ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise BadFile(f"image is {width}x{height} = {width * height / 1e6:.1f} megapixels, over "
                      f"the {MAX_PIXELS // 1_000_000}-megapixel limit")


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Rescale any numeric array linearly to 0..255 (8-bit input is returned unchanged)."""
    if array.dtype == np.uint8:
        return array
    values = array.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(array.shape, dtype=np.uint8)
    return np.round((values - low) * (255.0 / (high - low))).astype(np.uint8)


def rgb_to_grey(array: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of an (H, W, 3 or 4) array, as 8-bit."""
    luma = array[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    if array.dtype == np.uint8:
        return np.round(luma).clip(0, 255).astype(np.uint8)
    return to_uint8(luma)


def _open(data: bytes) -> Image.Image:
    if not data:
        raise BadFile("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise BadFile(f"image too large (decompression bomb): {error}") from None
    except UnidentifiedImageError:
        raise BadFile("not an image (unrecognised file format)") from None
    except Exception as error:  # PIL plugins raise many kinds on malformed headers
        raise BadFile(f"corrupt image header: {error}") from None
    check_pixel_count(*image.size)
    return image


def _load(image: Image.Image) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
            return ImageOps.exif_transpose(image)
    except Exception as error:  # truncated streams, bad CRCs, broken zlib data...
        raise BadFile(f"corrupt or truncated image: {error}") from None


def _convert(image: Image.Image, mode: str) -> np.ndarray:
    """``image`` in ``mode`` as an array; BadFile for a pixel mode PIL cannot convert (LAB)."""
    try:
        return np.asarray(image.convert(mode))
    except Exception as error:  # ValueError for modes without a conversion, OSError for data
        raise BadFile(f"unsupported pixel mode {image.mode}: {error}") from None


def decode_grey(data: bytes) -> np.ndarray:
    """Image file bytes -> 8-bit grey (H, W). Colour is turned to luma, 16-bit rescaled."""
    image = _load(_open(data))
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return to_uint8(np.asarray(image))
    return _convert(image, "L")


def decode_mask(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    """Mask file bytes -> boolean (H, W) of the image's ``shape``.

    Foreground is above half the mask's maximum in any channel, so 0/255, 0/1 and coloured
    masks all work.
    """
    image = _load(_open(data))
    if image.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LA", "PA"):
        values = _convert(image, "RGB").max(axis=2)
    else:
        values = np.asarray(image)
        if values.ndim == 3:
            values = values.max(axis=2)
    if values.shape != tuple(shape):
        raise BadFile(f"mask is {values.shape[1]}x{values.shape[0]} pixels but its image is "
                      f"{shape[1]}x{shape[0]}")
    peak = float(values.max())
    return values > peak / 2 if peak > 0 else np.zeros(values.shape, dtype=bool)
