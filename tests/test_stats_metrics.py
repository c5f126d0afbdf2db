"""Threshold metrics with CIs, Youden's threshold, calibration, McNemar."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportion_confint

from core.errors import UserError
from core.stats.mcnemar import mcnemar, mcnemar_table
from core.stats.metrics import (brier, confusion, percent_text, reliability_curve,
                                threshold_metrics, wilson_ci, youden_threshold)
from core.stats.roc import roc_points


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.floats(0.5, 0.999))
def test_wilson_matches_statsmodels_and_contains_estimate(kn, level):
    k, n = kn
    low, high = wilson_ci(k, n, level)
    expected = proportion_confint(k, n, alpha=1 - level, method="wilson")
    assert (low, high) == pytest.approx(expected, abs=1e-12)
    assert low <= k / n <= high


def test_wilson_without_cases_is_undefined():
    assert all(np.isnan(wilson_ci(0, 0)))


def test_threshold_metrics_by_hand():
    y = np.array([1] * 10 + [0] * 20)
    pred = np.array([1] * 8 + [0] * 2 + [1] * 5 + [0] * 15)
    assert confusion(y, pred) == {"tp": 8, "fp": 5, "tn": 15, "fn": 2}
    metrics = threshold_metrics(y, pred)
    assert metrics["accuracy"].value == pytest.approx(23 / 30)
    assert (metrics["sensitivity"].k, metrics["sensitivity"].n) == (8, 10)
    assert metrics["specificity"].value == pytest.approx(15 / 20)
    assert metrics["precision"].value == pytest.approx(8 / 13)
    assert metrics["npv"].value == pytest.approx(15 / 17)
    assert metrics["f1"].value == pytest.approx(16 / 23)
    assert metrics["balanced_accuracy"].value == pytest.approx((0.8 + 0.75) / 2)
    assert (metrics["sensitivity"].ci_low, metrics["sensitivity"].ci_high) == wilson_ci(8, 10)
    for estimate in metrics.values():
        assert estimate.ci_low <= estimate.value <= estimate.ci_high


def test_bootstrap_is_seeded_and_matches_a_case_resampling_bootstrap():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    pred = np.where(rng.random(300) < 0.8, y, 1 - y)
    first, again = threshold_metrics(y, pred, seed=4), threshold_metrics(y, pred, seed=4)
    assert first["f1"] == again["f1"]
    # The same interval from resampling cases within each class (slow, by definition).
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    f1s = []
    for _ in range(2000):
        sample = np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]
        c = confusion(y[sample], pred[sample])
        f1s.append(2 * c["tp"] / (2 * c["tp"] + c["fp"] + c["fn"]))
    low, high = np.percentile(f1s, [2.5, 97.5])
    assert first["f1"].ci_low == pytest.approx(low, abs=0.01)
    assert first["f1"].ci_high == pytest.approx(high, abs=0.01)


def test_metrics_without_positives_are_nan_not_errors():
    metrics = threshold_metrics([0, 0, 0], [0, 1, 0])
    assert np.isnan(metrics["sensitivity"].value) and np.isnan(metrics["balanced_accuracy"].value)
    assert metrics["specificity"].value == pytest.approx(2 / 3)
    assert metrics["f1"].value == 0.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6)), min_size=4, max_size=40))
def test_youden_threshold_reaches_the_best_operating_point(pairs):
    y, score = np.array(pairs).T
    if y.min() == y.max():
        y[0], y[1] = 0, 1
    fpr, tpr, _ = roc_points(y, score)
    threshold = youden_threshold(y, score)
    called = (score >= threshold).astype(int)
    metrics = threshold_metrics(y, called, n_boot=10)
    achieved = metrics["sensitivity"].value + metrics["specificity"].value - 1
    assert achieved == pytest.approx(np.max(tpr - fpr), abs=1e-12)


def test_brier_and_reliability_curve():
    y = np.array([0, 0, 1, 1, 1, 0])
    prob = np.array([0.05, 0.15, 0.95, 1.0, 0.55, 0.5])
    assert brier(y, prob) == pytest.approx(np.mean((prob - y) ** 2))
    curve = reliability_curve(y, prob, bins=2)
    assert curve["n"].tolist() == [2, 4]
    assert curve["observed"].tolist() == [0.0, 0.75]
    assert curve["mean_predicted"].tolist() == pytest.approx([0.1, 0.75])
    assert (curve["ci_low"] <= curve["observed"]).all()
    assert (curve["observed"] <= curve["ci_high"]).all()
    with pytest.raises(UserError, match="divide percentages"):
        brier(y, prob * 100)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=1, max_size=60))
def test_mcnemar_matches_statsmodels(pairs):
    a, b = np.array(pairs).T
    result = mcnemar(a, b)
    assert result["b"] == int(((a == 1) & (b == 0)).sum())
    assert result["c"] == int(((a == 0) & (b == 1)).sum())
    table = np.array(result["table"])
    exact = sm_mcnemar(table, exact=True)
    assert result["p_exact"] == pytest.approx(min(1.0, exact.pvalue), abs=1e-12)
    if result["b"] + result["c"] and result["b"] != result["c"]:
        corrected = sm_mcnemar(table, exact=False, correction=True)
        assert result["chi2"] == pytest.approx(corrected.statistic)
        assert result["p_corrected"] == pytest.approx(corrected.pvalue)
        plain = sm_mcnemar(table, exact=False, correction=False)
        assert result["chi2_uncorrected"] == pytest.approx(plain.statistic)


def test_mcnemar_without_discordant_pairs():
    result = mcnemar([1, 0, 1], [1, 0, 1])
    assert (result["chi2"], result["p_corrected"], result["p_exact"]) == (0.0, 1.0, 1.0)


def test_mcnemar_refuses_bad_tables():
    with pytest.raises(UserError, match="2 x 2"):
        mcnemar_table([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(UserError, match="non-negative"):
        mcnemar_table([[1, -2], [3, 4]])


def test_percent_text_shows_each_proportion_with_its_ci():
    metrics = threshold_metrics([1, 1, 1, 0, 0], [1, 1, 0, 0, 0])
    low, high = wilson_ci(2, 3)
    assert percent_text(metrics["sensitivity"]) == f"67% ({low:.0%}–{high:.0%})"
    assert percent_text(threshold_metrics([0, 0], [0, 1])["sensitivity"]) == "-"  # no positives
