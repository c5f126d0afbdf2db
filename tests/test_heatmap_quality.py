"""Heatmap localisation as named (pointing game within 15 px at the original resolution, energy
in the lesion's box and mask), beside baselines scored the same way, with the paired test
against the centre; empty maps count as misses. No torch here."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core.comparison import quality_table
from core.heatmaps.localisation import (CENTRE_SIGMA, SCORE_COLUMNS, TOLERANCE_PX, as_stored,
                                        baseline_maps, case_scores, compare)
from core.heatmaps.quality import summarise
from core.models.framing import Box, paste_map

SHAPE = (120, 160)


def _mask(top: int, bottom: int, left: int, right: int, shape=SHAPE) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


def test_a_map_that_equals_a_baseline_scores_exactly_what_the_baseline_scores():
    """The baselines go through the same pasting, rounding and scoring as a model's map."""
    mask = _mask(50, 70, 30, 60)
    region = Box(20, 10, 100, 100)  # reaches past the bottom edge, as a marked box may
    baselines = baseline_maps(region, SHAPE)
    for name, baseline in baselines.items():
        scores = case_scores(baseline, mask, region)
        assert [scores[m] for m in ("pointing_hit", "energy_box", "energy_inside")] == [
            scores[f"{name}_{m}"] for m in ("pointing_hit", "energy_box", "energy_inside")]
    centre, uniform = baselines["centre"], baselines["uniform"]
    inside = np.zeros(SHAPE, bool)
    inside[20:120, 10:110] = True  # the part of the region inside the image
    assert (centre[~inside] == 0).all() and (uniform[~inside] == 0).all()
    assert (uniform[inside] == 1).all() and centre.dtype == np.float32
    assert np.array_equal(centre, as_stored(centre))  # stored precision, as maps are
    peak = np.unravel_index(np.argmax(centre), SHAPE)
    assert abs(peak[0] - 70) <= 1 and abs(peak[1] - 60) <= 1  # the region's centre
    # sigma is a quarter of the side: e^-2 of the peak half a side across
    assert centre[69, 10] / centre.max() == pytest.approx(np.exp(-0.5 * (0.5 / CENTRE_SIGMA) ** 2),
                                                          rel=0.05)


def test_an_all_zero_map_is_a_miss_with_no_energy_and_is_counted():
    mask = _mask(50, 70, 30, 60)
    region = Box(0, 0, *SHAPE)
    scores = case_scores(np.zeros(SHAPE, np.float32), mask, region)
    assert (scores["pointing_hit"], scores["energy_box"], scores["energy_inside"]) == (
        False, 0.0, 0.0)
    hit = np.zeros(SHAPE, np.float32)
    hit[60, 45] = 1
    rows = pd.DataFrame([scores, case_scores(hit, mask, region)])
    summary = compare(rows)
    assert summary["cases"] == 2  # the empty map is not dropped
    assert summary["pointing_hit"]["map"]["value"] == 0.5
    assert summary["energy_inside"]["map"]["value"] == pytest.approx(0.5)
    assert case_scores(hit, None, region) == dict.fromkeys(SCORE_COLUMNS)  # no lesion: unscored


@pytest.mark.parametrize("gap, hit", [(10, True), (TOLERANCE_PX, True), (20, False)])
def test_the_pointing_game_allows_15_px_at_the_original_resolution(gap, hit):
    mask = _mask(40, 60, 40, 60)
    cam = np.full(SHAPE, 0.1, np.float32)
    cam[50, 59 + gap] = 1.0  # the peak, gap px right of the lesion's last column
    assert case_scores(cam, mask, Box(0, 0, *SHAPE))["pointing_hit"] is hit


def test_the_tolerance_is_judged_after_the_map_is_pasted_back():
    """One cell of a coarse map is 20 px of the image: a peak one cell right of the lesion's
    edge is a miss, though on the map's own grid it is next to the lesion."""
    mask = np.zeros((100, 100), bool)
    mask[:, :50] = True
    small = np.full((5, 5), 0.1, np.float32)
    region = Box(0, 0, 100, 100)
    small[2, 2] = 1.0  # its cell centre lies on the lesion's edge
    assert case_scores(as_stored(paste_map(small, region, (100, 100))), mask,
                       region)["pointing_hit"] is True
    small[2, 2], small[2, 3] = 0.1, 1.0  # one cell right: about 20 px off the lesion
    assert case_scores(as_stored(paste_map(small, region, (100, 100))), mask,
                       region)["pointing_hit"] is False


def _rows(map_hits, centre_hits, map_energy, centre_energy) -> pd.DataFrame:
    n = len(map_hits)
    return pd.DataFrame({
        "pointing_hit": map_hits, "centre_pointing_hit": centre_hits,
        "uniform_pointing_hit": [False] * n,
        "energy_box": map_energy, "centre_energy_box": centre_energy,
        "uniform_energy_box": [0.3] * n,
        "energy_inside": map_energy, "centre_energy_inside": centre_energy,
        "uniform_energy_inside": [0.2] * n,
        "faithfulness": np.linspace(0.0, 0.1, n), "centre_faithfulness": [-0.2] * n,
        "faithfulness_metric": ["confidence_change"] * n})


def test_the_paired_tests_against_the_centre_and_their_verdict():
    rng = np.random.default_rng(0)
    centre_energy = rng.uniform(0.3, 0.5, 20)
    better = _rows([True] * 20, [True] * 10 + [False] * 10, centre_energy + 0.1, centre_energy)
    summary = summarise(better)
    pointing = summary["localisation"]["pointing_hit"]
    # exact McNemar: 10 discordant pairs, all for the map
    assert pointing["versus_centre"]["test"] == "exact McNemar"
    assert pointing["versus_centre"]["p"] == pytest.approx(stats.binomtest(0, 10).pvalue)
    assert pointing["versus_centre"]["better"] is True
    assert pointing["map"]["value"] == 1.0 and pointing["centre"]["value"] == 0.5
    assert pointing["map"]["low"] < 1.0  # Wilson: not a point at n = 20
    energy = summary["localisation"]["energy_inside"]
    assert energy["versus_centre"]["test"] == "Wilcoxon signed-rank"
    assert energy["versus_centre"]["p"] == pytest.approx(
        stats.wilcoxon(centre_energy + 0.1, centre_energy).pvalue)
    assert energy["uniform"]["value"] == pytest.approx(0.2)
    [row] = quality_table([{"model_id": "m", "method": "gradcam", **summary}],
                          {"m": "ResNet50"}).to_dict("records")
    verdict = row["Energy in the lesion: better than the centre baseline"]
    assert verdict.startswith("yes (Wilcoxon signed-rank, p = ")
    assert row["Faithfulness: confidence change (image x map): better than the centre "
               "baseline"].startswith("yes (")
    worse = summarise(_rows([False] * 20, [True] * 20, centre_energy - 0.1, centre_energy))
    [row] = quality_table([{"model_id": "m", "method": "gradcam", **worse}]).to_dict("records")
    assert row[f"Pointing game (hit within {TOLERANCE_PX} px at the original resolution): "
               "better than the centre baseline"].startswith("no (exact McNemar, p = ")


def test_maps_stored_before_the_scores_are_named_not_hidden():
    rows = _rows([True] * 3, [True] * 3, [0.5] * 3, [0.5] * 3)
    rows.loc[0, "faithfulness_metric"] = None
    summary = summarise(rows)
    assert (summary["maps"], summary["unscored"], summary["localisation"]["cases"]) == (3, 1, 2)
    [row] = quality_table([{"model_id": "m", "method": "gradcam", **summary}]).to_dict("records")
    assert row["Maps of cases with a lesion"] == (
        "2 (1 stored before these scores: compute the heatmaps again)")
    assert row["Energy in the lesion: better than the centre baseline"].startswith(
        "no (Wilcoxon signed-rank, p = 1")  # identical energies: no evidence either way
