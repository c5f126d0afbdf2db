"""The finer same-scan test on the pixels: copies with overlays, zoomed or shifted copies score
above the threshold, other scans (each with a lesion of the same size) below it."""
from __future__ import annotations

import numpy as np

from core.frame_match import SAME_SCAN_SCORE, prepare, similarity
from tests.scan_images import scan, with_calipers, zoomed


def score(a: np.ndarray, b: np.ndarray) -> float:
    return similarity(prepare(a), prepare(b))


def test_copies_of_one_scan_score_above_the_threshold():
    frame = scan(1)
    assert score(frame, with_calipers(frame)) >= SAME_SCAN_SCORE
    assert score(frame, zoomed(frame)) >= SAME_SCAN_SCORE
    assert score(frame, zoomed(frame, 0.7)) >= SAME_SCAN_SCORE
    assert score(frame, np.roll(frame, (2, 3), (0, 1))) >= SAME_SCAN_SCORE


def test_score_is_symmetric_and_one_for_the_same_frame():
    a, b = scan(3), with_calipers(scan(3))
    assert score(a, b) == score(b, a)
    assert score(a, a) > 0.99


def test_other_scans_score_below_the_threshold():
    scores = [score(scan(seed), scan(seed + 100)) for seed in range(12)]
    assert max(scores) < SAME_SCAN_SCORE


def test_flat_and_odd_shaped_frames_do_not_fail():
    flat = np.zeros((40, 60), np.uint8)
    assert score(flat, scan(2)) == 0.0
    assert score(scan(2)[:, :30], scan(2, height=100)) < SAME_SCAN_SCORE  # tall against wide
