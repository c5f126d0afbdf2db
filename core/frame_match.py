"""Whether two ultrasound frames show the same scan: the split's second, finer test on the
pixels for image pairs whose perceptual hashes are close but not close enough to decide.

Each frame is shrunk to :data:`MATCH_WIDTH` px wide (aspect kept), median-filtered (thin caliper
marks and text strokes mostly vanish at that size), band-passed (the frame's brightness layout,
bright skin on top and dark depth below, is shared by nearly every breast scan and says nothing)
and contrast-normalised locally (a cyst's strong rim would otherwise outweigh the tissue texture
around it). The score is the best normalised cross-correlation of one frame's central part (a
:data:`MARGIN` border cut off, which allows shifts up to that much) slid over the other frame,
with that part also enlarged by each of :data:`ZOOMS` (a copy re-cropped or zoomed in), both ways.

Thresholds, from BUSI (780 images). The 12 639 image pairs 12-22 bits apart in pHash fall in
8399 pairs of pHash groups (score of a group pair: its best image pair). 91.5 % of them score
below 0.25 and 98.9 % below 0.30. Judged side by side by eye: all 54 group pairs 12-14 bits
apart (46 distinct lesions, the highest of them benign (62)/(80), two cysts, at 0.385) and the
top 40 of the ranking. The score then reads:

- 0.44-0.99 (12 group pairs, 31 image pairs): all the same scan or lesion. Malignant (4)/(5)
  with (6)-(9), next frames (0.48-0.72); (77)/(78) with benign (333), (106)/(107), (80)/(81)
  and benign (141)/(64), re-cropped (0.70-0.94); (65)/(66), (95)/(96)/(97), (98)/(99), a
  sector frame and its zoomed copy (0.84-0.99); (120)/(122), (69)/(70) and benign (238),
  (240), (255), (277), (300) and (204), (206), (249), (282), (303), one lesion with calipers
  and text drawn or not, frame to frame (0.41-0.58 per image pair).
- 0.30-0.40 (82 group pairs): 6 judged distinct lesions (up to 0.385, a cyst beside a cyst)
  and 3 same lesions seen in another frame: benign (399)/(406) 0.374 and (433)/(435) 0.349
  (both in groups already excluded as filed under two labels), malignant (83)/(84) 0.309.
- Over 18 bits apart distinct scans are many more (294 pairs at 16 bits, 2968 at 20, 8405 at
  22), and the best-scoring of them, benign (49)/(98), two large cysts 22 bits apart, reaches
  0.434; the same-scan pairs there are re-crops at 0.70 and 0.83.

So :data:`SAME_SCAN_SCORE` 0.40 up to 18 bits and :data:`FAR_SAME_SCAN_SCORE` 0.55 beyond
join every pair judged the same scan down to 0.41 and no pair judged distinct. Other frames of
one lesion score like look-alike lesions (0.30-0.40): from :data:`ONE_SIDE_SCORE` up the split
does not call a pair the same scan (no label conflict, no shared group) but keeps it on one side
of train/test and lists it for a person to check. On BUSI that ties 83 pairs of groups, 582
groups into 500 units of at most 26 images: a small price in balance for no lesion leaking
through another frame of it.

Not for look-alike datasets: the phantoms, drawn from one anatomy model with a central dark
lesion, score up to 0.52 between distinct cases (70 of their 10 442 candidates over 0.40), so
the split never asks this test about two cases that both carry patient IDs.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MATCH_WIDTH = 96
MEDIAN_SIZE = 3
BAND_SIGMA = 4.0        # px at MATCH_WIDTH: removes the frame's brightness layout
CONTRAST_SIGMA = 6.0    # px: window of the local contrast normalisation
CONTRAST_FLOOR = 4.0    # grey levels: flat regions (black padding) are not blown up to noise
MARGIN = 0.125
ZOOMS = (1.0, 1.12, 1.25, 1.4)
SAME_SCAN_SCORE = 0.40
FAR_SAME_SCAN_SCORE = 0.55  # for pairs over 18 bits apart, where distinct scans are many more
ONE_SIDE_SCORE = 0.30   # rejected pairs from this score up: listed and kept on one side


@dataclass(frozen=True)
class Frame:
    """A frame prepared for matching: the whole of it, and its central part at each zoom."""
    whole: np.ndarray
    centres: tuple[np.ndarray, ...]


def _band(image: np.ndarray) -> np.ndarray:
    pixels = cv2.medianBlur(image, MEDIAN_SIZE).astype(np.float32)
    band = pixels - cv2.GaussianBlur(pixels, (0, 0), BAND_SIGMA)
    contrast = np.sqrt(cv2.GaussianBlur(band * band, (0, 0), CONTRAST_SIGMA))
    return band / (contrast + CONTRAST_FLOOR)


def prepare(grey: np.ndarray) -> Frame:
    """A grey (H, W) uint8 image ready for :func:`similarity`."""
    height = max(round(MATCH_WIDTH * grey.shape[0] / grey.shape[1]), 8)
    part_h, part_w = round(height * (1 - 2 * MARGIN)), round(MATCH_WIDTH * (1 - 2 * MARGIN))
    centres = []
    for zoom in ZOOMS:
        size_w, size_h = round(MATCH_WIDTH * zoom), round(height * zoom)
        band = _band(cv2.resize(grey, (size_w, size_h), interpolation=cv2.INTER_AREA))
        top, left = (size_h - part_h) // 2, (size_w - part_w) // 2
        centres.append(band[top:top + part_h, left:left + part_w])
    return Frame(_band(cv2.resize(grey, (MATCH_WIDTH, height), interpolation=cv2.INTER_AREA)),
                 tuple(centres))


def _slide(centre: np.ndarray, whole: np.ndarray) -> float:
    """Best correlation of ``centre`` over ``whole`` (``centre`` cut to fit if it is taller or
    wider, as when the two frames' aspects differ)."""
    cut_h, cut_w = (max(0, c - w + 2) for c, w in zip(centre.shape, whole.shape))
    centre = centre[cut_h // 2:centre.shape[0] - (cut_h - cut_h // 2),
                    cut_w // 2:centre.shape[1] - (cut_w - cut_w // 2)]
    if centre.std() < 1e-6:
        return 0.0
    scores = cv2.matchTemplate(whole, centre, cv2.TM_CCOEFF_NORMED)
    return float(np.nan_to_num(scores, nan=0.0).max())


def similarity(a: Frame, b: Frame) -> float:
    """Same-scan score, about -1 to 1 (symmetric): at or above :data:`SAME_SCAN_SCORE` the two
    frames show the same scan (or the next frame of one sweep)."""
    return max(max(_slide(centre, y.whole) for centre in x.centres) for x, y in ((a, b), (b, a)))
