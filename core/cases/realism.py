"""How realistic B-mode images with a lesion mask look, in figures that compare phantoms with
real scans (BUSI): the lesion's brightness against its surroundings, the sharpness of its
margin, the speckle in homogeneous tissue, brightness by depth and the posterior feature.

Every image is first brought to a common scale (longer side :data:`COMMON_SIDE` px, as the
BUSI copy under ``../shared/data`` is), so that pixel-based windows mean the same tissue size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

COMMON_SIDE = 320
DEPTH_BINS = 10
PATCH = 16                # px, a homogeneous-speckle window at the common scale
ASSUMED_RANGE_DB = 50.0   # display dynamic range assumed to undo the log compression
RAYLEIGH_SNR = 1.91       # mean/std of a fully developed speckle envelope


@dataclass(frozen=True)
class Figures:
    """The realism figures of one image (NaN where the image cannot give one)."""

    lesion_mean: float          # mean grey (0-255) inside the mask
    contrast: float             # lesion mean / surround mean
    sharpness: float            # mean gradient across the border / local mean grey
    speckle_snr: float          # envelope mean/std in homogeneous patches
    variance_over_mean: float   # grey variance / mean in homogeneous patches
    posterior: float            # mean below the lesion / mean beside it
    depth_profile: tuple[float, ...]  # mean grey per depth decile / the image's mean

    def scalars(self) -> dict[str, float]:
        """Name -> value for every figure, the depth profile as ``depth_1`` ... ``depth_10``."""
        values = {name: getattr(self, name) for name in SCALARS}
        values.update({f"depth_{k + 1}": v for k, v in enumerate(self.depth_profile)})
        return values


SCALARS = ("lesion_mean", "contrast", "sharpness", "speckle_snr", "variance_over_mean",
           "posterior")


def standardise(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grey float image and boolean mask with the longer side :data:`COMMON_SIDE` px (Lanczos for
    the image, nearest neighbour for the mask)."""
    grey = np.asarray(image)
    if grey.ndim == 3:
        grey = np.asarray(Image.fromarray(grey.astype(np.uint8)).convert("L"))
    height, width = grey.shape
    scale = COMMON_SIDE / max(height, width)
    if scale != 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        grey = np.asarray(Image.fromarray(grey.astype(np.uint8)).resize(
            size, Image.Resampling.LANCZOS))
        mask = np.asarray(Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255).resize(
            size, Image.Resampling.NEAREST)) > 127
    return grey.astype(np.float32), np.asarray(mask, dtype=bool)


def _radius_px(mask: np.ndarray) -> float:
    return float(np.sqrt(mask.sum() / np.pi))


def lesion_contrast(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean inside the mask over the mean of a ring around it (3 px out, as wide as half the
    lesion's equivalent radius, at least 6 px), leaving out what lies below the lesion's
    bottom (the posterior feature)."""
    if not mask.any():
        return float("nan")
    outside = ndimage.distance_transform_edt(~mask)
    width = max(6.0, 0.5 * _radius_px(mask))
    ring = (outside > 3) & (outside <= 3 + width)
    ring[np.nonzero(mask)[0].max() + 1:] = False
    surround = image[ring]
    if not surround.size:
        return float("nan")
    return float(image[mask].mean() / max(float(surround.mean()), 1e-6))


def margin_sharpness(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean gradient magnitude (Gaussian, 1 px) within 2 px of the mask's border, over the mean
    grey within 6 px of it: about 1/(edge width in px) for a step edge between grey and black."""
    gradient = ndimage.gaussian_gradient_magnitude(image, 1.0)
    distance = ndimage.distance_transform_edt(~mask) + ndimage.distance_transform_edt(mask)
    border, local = distance <= 2.5, distance <= 6.5
    level = float(image[local].mean()) if local.any() else 0.0
    if not border.any() or level <= 0:
        return float("nan")
    return float(gradient[border].mean() / level)


def homogeneous_patches(image: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    """The most uniform quarter of the :data:`PATCH`-px tiles away from the lesion, the skin line
    and black or saturated areas (ranked by the smoothed image's gradient over its mean)."""
    smooth_gradient = ndimage.gaussian_gradient_magnitude(image, 4.0)
    near_lesion = ndimage.binary_dilation(mask, iterations=8) if mask.any() else mask
    height, width = image.shape
    candidates = []
    for top in range(height // 10, height - PATCH + 1, PATCH):
        for left in range(0, width - PATCH + 1, PATCH):
            window = (slice(top, top + PATCH), slice(left, left + PATCH))
            patch = image[window]
            mean = float(patch.mean())
            if near_lesion[window].any() or not 25 <= mean <= 220 or patch.min() == 0:
                continue
            candidates.append((float(smooth_gradient[window].mean()) / mean, patch))
    candidates.sort(key=lambda item: item[0])
    return [patch for _, patch in candidates[:max(1, len(candidates) // 4)]] if candidates else []


def speckle_statistics(image: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Median over homogeneous patches of the envelope SNR (mean/std after undoing a
    :data:`ASSUMED_RANGE_DB` log compression; 1.91 for fully developed speckle) and of the
    grey variance/mean."""
    patches = homogeneous_patches(image, mask)
    if not patches:
        return float("nan"), float("nan")
    snr, ratio = [], []
    for patch in patches:
        envelope = 10 ** (patch / 255 * ASSUMED_RANGE_DB / 20)
        snr.append(envelope.mean() / max(envelope.std(), 1e-9))
        ratio.append(patch.var() / patch.mean())
    return float(np.median(snr)), float(np.median(ratio))


def depth_profile(image: np.ndarray, mask: np.ndarray) -> tuple[float, ...]:
    """Mean grey of each depth tenth (outside the lesion) over the image's mean outside it."""
    outside = ~mask
    overall = float(image[outside].mean()) if outside.any() else 0.0
    rows = np.array_split(np.arange(image.shape[0]), DEPTH_BINS)
    if overall <= 0:
        return tuple(float("nan") for _ in rows)
    return tuple(float(image[r][outside[r]].mean() / overall) if outside[r].any()
                 else float("nan") for r in rows)


def posterior_ratio(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean grey below the lesion (its middle 60 % of columns, from 2 px under its bottom, as deep
    as 3/4 of its height) over the mean at the same depths beside it (half its width each side)."""
    rows, cols = np.nonzero(mask)
    if not rows.size:
        return float("nan")
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    lesion_width = right - left + 1
    start = bottom + 2
    stop = min(image.shape[0], start + max(8, int(0.75 * (bottom - top + 1))))
    inner = int(0.2 * lesion_width)
    side = max(4, lesion_width // 2)
    below = image[start:stop, left + inner:right + 1 - inner]
    beside = np.concatenate([image[start:stop, max(0, left - side):max(0, left - 2)].ravel(),
                             image[start:stop, right + 3:right + 1 + side].ravel()])
    if stop - start < 4 or not below.size or beside.size < 16:
        return float("nan")
    return float(below.mean() / max(float(beside.mean()), 1e-6))


def measure(image: np.ndarray, mask: np.ndarray) -> Figures:
    """All figures of one image and its lesion mask (at the common scale)."""
    grey, lesion = standardise(image, mask)
    if not lesion.any():
        raise ValueError("the mask is empty: no lesion to measure")
    snr, ratio = speckle_statistics(grey, lesion)
    return Figures(float(grey[lesion].mean()), lesion_contrast(grey, lesion),
                   margin_sharpness(grey, lesion), snr, ratio, posterior_ratio(grey, lesion),
                   depth_profile(grey, lesion))
