"""Does a heatmap point at the lesion? Three named measures, each beside two baselines scored
the same way, over the maps of cases with a lesion mask.

- **pointing game** (Zhang et al. 2018, "Top-down neural attention by excitation backprop"): a
  hit when the map's maximum, on the map pasted back onto the stored image (its original
  resolution), lies within ``TOLERANCE_PX`` = 15 px of the lesion mask. Tied maxima (a flat
  map) are broken at random with a fixed seed, so a uniform map points at a random pixel of
  its region: the chance level.
- **energy in the lesion's box** (Score-CAM's energy-based pointing game, Wang et al. 2020):
  the share of the map's total inside the lesion's bounding box.
- **energy in the lesion**: the share of the map's total inside the mask itself.

An all-zero map is a miss with zero energy: it is counted, never dropped.

Baselines, over the region the model read (its framing box, :mod:`core.models.framing`; the
whole image for a full-frame model), pasted back and stored at float16 exactly as a map is:

- **centre**: a centred Gaussian blob, sigma ``CENTRE_SIGMA`` = 1/4 of the region's height
  (rows) and width (columns), so it falls to e^-2 (14%) at the middle of each edge. A
  lesion-framed model's box lies about the lesion, so this blob looks at nothing and still
  scores well: it is the score a map must beat.
- **uniform**: a constant map over the region.

:func:`compare` tests the map against the centre baseline over the same cases: the exact
McNemar test (statsmodels) for the pointing game, the Wilcoxon signed-rank test (scipy) for
the energies. Rates carry a Wilson 95% CI, mean energies a t interval (statsmodels), both at
the number of cases shown.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage, stats

from core.models.framing import Box, lesion_bounds, paste_map

TOLERANCE_PX = 15
CENTRE_SIGMA = 0.25   # of the region's height and width
ALPHA = 0.05          # two-sided level of the paired tests; CIs are 1 - ALPHA
MEASURES = ("pointing_hit", "energy_box", "energy_inside")
BASELINES = ("centre", "uniform")
SCORE_COLUMNS = (*MEASURES, *(f"{b}_{m}" for b in BASELINES for m in MEASURES))
TIE_SEED = 0


def as_stored(cam: np.ndarray) -> np.ndarray:
    """A map at the precision it is stored at (float16), as float32."""
    return np.asarray(cam).astype(np.float16).astype(np.float32)


def baseline_maps(region: Box, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """The centre and uniform baselines over ``region`` of an image of ``shape``, pasted back
    and rounded to the stored precision the way a model's map is."""
    rows = (np.arange(region.height) + 0.5 - region.height / 2) / (CENTRE_SIGMA * region.height)
    cols = (np.arange(region.width) + 0.5 - region.width / 2) / (CENTRE_SIGMA * region.width)
    blob = np.exp(-0.5 * (rows[:, None] ** 2 + cols[None, :] ** 2))
    return {"centre": as_stored(paste_map(blob, region, shape)),
            "uniform": as_stored(paste_map(np.ones_like(blob), region, shape))}


class Lesion:
    """A case's lesion mask with what scoring needs, computed once per case: each pixel's
    distance to the lesion and its bounding box."""

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = np.asarray(mask, dtype=bool)
        self.distance = ndimage.distance_transform_edt(~self.mask)
        top, bottom, left, right = lesion_bounds(self.mask)
        self.box = (slice(top, bottom), slice(left, right))


def peak(cam: np.ndarray) -> int | None:
    """The flat index of the map's maximum (ties broken at random, seeded), or None for an
    all-zero map."""
    top = float(cam.max()) if cam.size else 0.0
    if top <= 0:
        return None
    ties = np.flatnonzero(cam == top)
    if len(ties) == 1:
        return int(ties[0])
    return int(np.random.default_rng(TIE_SEED).choice(ties))


def map_scores(cam: np.ndarray, lesion: Lesion) -> dict[str, bool | float]:
    """Pointing hit and the two energy shares of one map (same shape as the mask)."""
    if cam.shape != lesion.mask.shape:
        raise ValueError(f"map {cam.shape} and mask {lesion.mask.shape} differ in shape")
    where = peak(cam)
    total = float(cam.sum(dtype=np.float64))
    if where is None or total <= 0:
        return {"pointing_hit": False, "energy_box": 0.0, "energy_inside": 0.0}
    return {"pointing_hit": bool(lesion.distance.flat[where] <= TOLERANCE_PX),
            "energy_box": float(cam[lesion.box].sum(dtype=np.float64) / total),
            "energy_inside": float(cam[lesion.mask].sum(dtype=np.float64) / total)}


def case_scores(cam: np.ndarray, mask: np.ndarray | None, region: Box) -> dict:
    """Every column of :data:`SCORE_COLUMNS` for a map (pasted back, at the stored precision)
    of a case with ``mask`` whose model read ``region``; all None where the case has no
    lesion."""
    if mask is None or not np.asarray(mask).any():
        return dict.fromkeys(SCORE_COLUMNS)
    lesion = Lesion(mask)
    scores = map_scores(cam, lesion)
    for name, baseline in baseline_maps(region, lesion.mask.shape).items():
        scores.update({f"{name}_{k}": v for k, v in map_scores(baseline, lesion).items()})
    return scores


# ---- summaries over cases --------------------------------------------------------------------

def rate_with_ci(hits: np.ndarray) -> dict:
    """Share of hits with its Wilson interval."""
    from statsmodels.stats.proportion import proportion_confint  # summaries only: slow import

    n, k = len(hits), int(np.sum(hits))
    if not n:
        return {"value": None, "low": None, "high": None}
    low, high = proportion_confint(k, n, alpha=ALPHA, method="wilson")
    return {"value": k / n, "low": float(low), "high": float(high)}


def mean_with_ci(values: np.ndarray) -> dict:
    """Mean with its t interval (no interval below two cases)."""
    from statsmodels.stats.weightstats import DescrStatsW

    values = np.asarray(values, dtype=float)
    if not len(values):
        return {"value": None, "low": None, "high": None}
    mean = float(values.mean())
    if len(values) < 2:
        return {"value": mean, "low": None, "high": None}
    if np.ptp(values) == 0:  # every case the same: no spread to make an interval from
        return {"value": mean, "low": mean, "high": mean}
    low, high = DescrStatsW(values).tconfint_mean(alpha=ALPHA)
    return {"value": mean, "low": float(low), "high": float(high)}


def paired_test(ours: np.ndarray, centre: np.ndarray, binary: bool) -> dict:
    """Is the map better than the centre baseline over the same cases? Exact McNemar
    (``binary``) or Wilcoxon signed-rank, two-sided; ``better``: higher and p < ALPHA."""
    from statsmodels.stats.contingency_tables import mcnemar

    ours, centre = np.asarray(ours, dtype=float), np.asarray(centre, dtype=float)
    if not len(ours):
        return {"test": None, "p": None, "better": None}
    if binary:
        a, b = ours == 1, centre == 1
        table = [[int(np.sum(a & b)), int(np.sum(a & ~b))],
                 [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
        p, test = float(mcnemar(table, exact=True).pvalue), "exact McNemar"
    else:
        test = "Wilcoxon signed-rank"
        p = 1.0 if np.all(ours == centre) else float(stats.wilcoxon(ours, centre).pvalue)
    return {"test": test, "p": p, "better": bool(ours.mean() > centre.mean() and p < ALPHA)}


def compare(scores: pd.DataFrame) -> dict:
    """Summary of per-case scores (columns :data:`SCORE_COLUMNS`, one row per case with a
    lesion): per measure the map's value, the two baselines' (each with a CI) and the paired
    test against the centre baseline."""
    summary: dict = {"cases": len(scores)}
    for measure in MEASURES:
        binary = measure == "pointing_hit"
        describe = rate_with_ci if binary else mean_with_ci
        columns = {"map": measure, **{b: f"{b}_{measure}" for b in BASELINES}}
        values = {k: scores[c].astype(float).to_numpy() for k, c in columns.items()}
        summary[measure] = {**{k: describe(v) for k, v in values.items()},
                            "versus_centre": paired_test(values["map"], values["centre"],
                                                         binary)}
    return summary
