"""ROC, Mann-Whitney AUC and DeLong: properties (hypothesis) and independent re-computations."""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score, roc_curve
from statsmodels.stats.multitest import multipletests

from core.errors import UserError
from core.stats.roc import (MIN_PER_CLASS, AucResult, TooFewCases, auc_ci, auc_mw, auc_text,
                            compare_all, delong, holm, midranks, paired_test, roc_points,
                            shown_auc, unpaired_test, with_logit_ci)


@st.composite
def labelled_scores(draw, models: int = 1):
    """0/1 truth with at least two cases of each class, and integer-valued scores (many ties)."""
    n = draw(st.integers(4, 40))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    y[:2], y[2:4] = 1, 0
    scores = np.array(draw(st.lists(st.lists(st.integers(-20, 20), min_size=n, max_size=n),
                                    min_size=models, max_size=models)), dtype=float)
    return y, scores


def delong_by_definition(y, scores_2d):
    """DeLong et al. (1988) straight from the kernel psi(x, y) = 1, 1/2, 0: O(n_pos * n_neg)."""
    positives, negatives = scores_2d[:, y == 1], scores_2d[:, y == 0]
    psi = ((positives[:, :, None] > negatives[:, None, :])
           + 0.5 * (positives[:, :, None] == negatives[:, None, :]))
    v10, v01 = psi.mean(axis=2), psi.mean(axis=1)
    aucs = v10.mean(axis=1)
    k = len(aucs)
    s10 = np.array([[np.sum((v10[a] - aucs[a]) * (v10[b] - aucs[b])) for b in range(k)]
                    for a in range(k)]) / (v10.shape[1] - 1)
    s01 = np.array([[np.sum((v01[a] - aucs[a]) * (v01[b] - aucs[b])) for b in range(k)]
                    for a in range(k)]) / (v01.shape[1] - 1)
    return aucs, s10 / v10.shape[1] + s01 / v01.shape[1]


@settings(max_examples=50, deadline=None)
@given(labelled_scores(models=3))
def test_midranks_agree_with_scipy(data):
    _, scores = data
    np.testing.assert_array_equal(midranks(scores), rankdata(scores, axis=1))
    np.testing.assert_array_equal(midranks(scores[:, :1]), [[1.0]] * 3)


@settings(max_examples=50, deadline=None)
@given(labelled_scores())
def test_auc_agrees_with_scikit_learn(data):
    y, scores = data
    assert auc_mw(y, scores[0]) == pytest.approx(roc_auc_score(y, scores[0]), abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(labelled_scores())
def test_auc_unchanged_by_monotone_transform(data):
    y, scores = data
    transformed = np.exp(scores[0] / 7) * 3 - 1
    assert auc_mw(y, transformed) == pytest.approx(auc_mw(y, scores[0]), abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(labelled_scores())
def test_negated_score_gives_one_minus_auc(data):
    y, scores = data
    assert auc_mw(y, -scores[0]) == pytest.approx(1 - auc_mw(y, scores[0]), abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(labelled_scores(models=3))
def test_fast_delong_equals_the_definition(data):
    y, scores = data
    aucs, cov = delong(y, scores)
    expected_aucs, expected_cov = delong_by_definition(y, scores)
    np.testing.assert_allclose(aucs, expected_aucs, atol=1e-12)
    np.testing.assert_allclose(cov, expected_cov, atol=1e-12)
    assert np.linalg.eigvalsh(cov).min() >= -1e-12  # a covariance matrix


@settings(max_examples=50, deadline=None)
@given(labelled_scores(), st.floats(0.5, 0.999))
def test_ci_contains_estimate_and_variance_not_negative(data, level):
    y, scores = data
    result = auc_ci(y, scores[0], level)
    assert result.var >= 0
    assert 0 <= result.ci_low <= result.auc <= result.ci_high <= 1


@settings(max_examples=50, deadline=None)
@given(labelled_scores(models=2))
def test_paired_test_ci_contains_difference(data):
    y, scores = data
    result = paired_test(y, scores[0], scores[1])
    assert result.var >= 0
    assert result.ci_low <= result.diff <= result.ci_high
    assert np.isnan(result.p) or 0 <= result.p <= 1


def test_roc_points_match_scikit_learn_and_the_auc():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    score = np.round(y + rng.normal(size=200), 1)
    fpr, tpr, thresholds = roc_points(y, score)
    sk_fpr, sk_tpr, sk_thresholds = roc_curve(y, score, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thresholds[1:], sk_thresholds[1:])
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc_mw(y, score), abs=1e-12)


def test_constant_score_has_auc_half_and_zero_variance():
    y = np.array([0, 0, 1, 1, 0, 1])
    result = auc_ci(y, np.ones(6))
    assert (result.auc, result.var, result.ci_low, result.ci_high) == (0.5, 0.0, 0.5, 0.5)
    same = paired_test(y, np.ones(6), np.full(6, 2.0))
    assert (same.z, same.p) == (0.0, 1.0)


def test_perfect_against_constant_score_has_undefined_test():
    y = np.array([0, 0, 1, 1])
    result = paired_test(y, np.array([0, 1, 2, 3]), np.ones(4))
    assert result.diff == 0.5 and np.isnan(result.z) and np.isnan(result.p)


def test_unpaired_test_on_disjoint_samples():
    rng = np.random.default_rng(5)
    y_a, y_b = rng.integers(0, 2, 80), rng.integers(0, 2, 120)
    s_a, s_b = y_a * 1.5 + rng.normal(size=80), y_b * 0.5 + rng.normal(size=120)
    result = unpaired_test(y_a, s_a, y_b, s_b)
    var_a, var_b = auc_ci(y_a, s_a).var, auc_ci(y_b, s_b).var
    assert result.diff == pytest.approx(auc_mw(y_a, s_a) - auc_mw(y_b, s_b))
    assert result.d == pytest.approx(result.diff / np.sqrt(var_a + var_b))
    assert 0 < result.p < 1 and result.df > 1


def test_compare_all_covers_every_pair_with_holm():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 150)
    scores = {name: y * effect + rng.normal(size=150)
              for name, effect in (("a", 2.0), ("b", 1.0), ("c", 0.5), ("d", 0.0))}
    pairs = compare_all(y, scores)
    assert [(p["a"], p["b"]) for p in pairs] == list(combinations("abcd", 2))
    expected = multipletests([p["p"] for p in pairs], method="holm")[1]
    np.testing.assert_allclose([p["p_holm"] for p in pairs], expected)
    for pair in pairs:
        single = paired_test(y, scores[pair["a"]], scores[pair["b"]])
        assert pair["diff"] == pytest.approx(single.diff) and pair["z"] == pytest.approx(single.z)
        assert pair["ci"] == pytest.approx([single.ci_low, single.ci_high])


@pytest.mark.parametrize("seed", range(4))
def test_holm_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.2, 3 + 3 * seed) ** (1 + seed)
    p[::4] = np.nan
    finite = ~np.isnan(p)
    adjusted = holm(p)
    assert np.isnan(adjusted[~finite]).all()
    np.testing.assert_allclose(adjusted[finite],
                               multipletests(p[finite], method="holm")[1], atol=1e-12)


@pytest.mark.parametrize("y, score, message", [
    ([0, 1, 2], [1, 2, 3], "0/1"),
    ([0, 1, 1], [1, float("nan"), 3], "missing"),
    ([0, 1, 1], ["a", "b", "c"], "non-numeric"),
    ([1, 1, 1], [1, 2, 3], "negative"),
    ([0, 1], [1, 2, 3], "lengths differ"),
])
def test_bad_input_is_refused_clearly(y, score, message):
    with pytest.raises(UserError, match=message):
        auc_mw(y, score)


def test_delong_needs_two_cases_of_each_class():
    with pytest.raises(UserError, match="at least 2 positive"):
        delong([0, 0, 1], [1, 2, 3])


@pytest.mark.parametrize("n", [5, 10, 25])
def test_logit_ci_at_auc_one_is_never_of_zero_width(n):
    y = np.r_[np.ones(n, int), np.zeros(n, int)]
    score = np.r_[np.arange(n) + n, np.arange(n)]  # perfect separation
    wald, logit = auc_ci(y, score), auc_ci(y, score, method="logit")
    assert (wald.auc, wald.ci_low, wald.ci_high) == (1.0, 1.0, 1.0)  # pROC: zero width
    assert logit.auc == 1.0 and logit.var == 0.0
    assert 0.5 < logit.ci_low < 0.99 and logit.ci_high == 1.0
    flipped = auc_ci(y, -score, method="logit")  # AUC 0: the mirror image
    assert (flipped.ci_low, flipped.ci_high) == pytest.approx((1 - logit.ci_high,
                                                               1 - logit.ci_low))


def test_logit_ci_narrows_with_cases_and_stays_inside_zero_one():
    lows = [with_logit_ci(1.0, 0.0, n, n).ci_low for n in (5, 10, 25)]
    assert lows == sorted(lows) and lows[0] > 0.6
    result = with_logit_ci(0.9, 0.004, 10, 10)
    assert 0 < result.ci_low < 0.9 < result.ci_high < 1
    assert result.ci_high - 0.9 < 0.9 - result.ci_low  # asymmetric toward the near end
    constant = auc_ci([1, 1, 0, 0, 1, 0], [3, 3, 3, 3, 3, 3], method="logit")
    assert constant.ci_low < 0.5 < constant.ci_high


def test_ci_method_must_be_known():
    with pytest.raises(UserError, match="logit, delong"):
        auc_ci([1, 1, 0, 0], [1, 2, 3, 4], method="wald")


def test_shown_auc_says_too_few_cases_below_five_of_a_class():
    y = np.r_[np.ones(4, int), np.zeros(9, int)]
    score = np.arange(13)
    few = shown_auc(y, score)
    assert isinstance(few, TooFewCases) and (few.n_pos, few.n_neg) == (4, 9)
    assert auc_text(few) == "too few cases (4 + 9)" and "needs 5 of each" in str(few)
    assert np.isnan(few.as_dict()["auc"]) and few.as_dict()["too_few"] == str(few)
    enough = shown_auc(np.r_[y, 1], np.r_[score, 20])
    assert isinstance(enough, AucResult) and MIN_PER_CLASS == 5
    assert enough == auc_ci(np.r_[y, 1], np.r_[score, 20], method="logit")
    assert auc_text(enough, 2) == f"{enough.auc:.2f} ({enough.ci_low:.2f}–{enough.ci_high:.2f})"
