"""ROC curves and the area under them, with DeLong's nonparametric variance.

Convention everywhere: a higher score means "more likely positive"; ``y`` is 0/1 (1 =
positive). The AUC is the Mann-Whitney statistic with ties counted one half (the trapezoidal
area under the empirical ROC). Variances and covariances follow DeLong, DeLong & Clarke-Pearson
(Biometrics 1988), computed with the fast midrank algorithm of Sun & Xu (IEEE SPL 2014); the
tests are pROC's ``roc.test(method="delong")``.

Two confidence intervals of one AUC (``CI_METHODS``): "delong" is pROC's (normal approximation on
the AUC scale, clipped to [0, 1]); it covers far less than its level at small samples (about 70%
at 10+10 cases and AUC 0.95) and has zero width at AUC 1. "logit" is the DeLong interval on the
logit scale (Pepe 2003, 5.2.4; Qin & Hotilovac, Stat Methods Med Res 2008) with a half-pair
continuity adjustment, near its level from 10+10 cases on and never of zero width
(``bench/auc_ci_coverage.py`` prints the coverage of both). The app shows the logit interval,
and no AUC at all below ``MIN_PER_CLASS`` cases of either class (:func:`shown_auc`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import combinations
from statistics import NormalDist
from typing import Any

import numpy as np
from scipy import stats

from core.errors import UserError
from core.stats import inputs

CI_METHODS = ("logit", "delong")
MIN_PER_CLASS = 5  # the app shows no AUC with fewer positive or negative cases than this


@dataclass(frozen=True)
class AucResult:
    auc: float
    var: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, Any]:
        return {"auc": self.auc, "var": self.var, "ci": [self.ci_low, self.ci_high]}


@dataclass(frozen=True)
class PairedResult:
    """DeLong's test of two correlated AUCs (same cases); ``diff`` = AUC(a) - AUC(b)."""
    auc_a: float
    auc_b: float
    diff: float
    var: float
    z: float
    p: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class UnpairedResult:
    """DeLong's test of two AUCs on different cases; ``d`` follows Student's t with ``df``."""
    auc_a: float
    auc_b: float
    diff: float
    d: float
    df: float
    p: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise UserError(f"confidence level must lie between 0 and 1, got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2)  # stdlib: as exact as scipy, far faster


def roc_points(y: Any, score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The empirical ROC: (fpr, tpr, thresholds), calling ``score >= threshold`` positive.

    Thresholds are the distinct scores in decreasing order, preceded by +inf (the point (0, 0)),
    so the last point is (1, 1).
    """
    y = inputs.binary(y)
    score = inputs.scores(score)
    inputs.same_length(y=y, score=score)
    n_pos, n_neg = inputs.both_classes(y)
    order = np.argsort(-score, kind="mergesort")
    ranked_score, ranked_y = score[order], y[order]
    last_of_value = np.r_[ranked_score[1:] != ranked_score[:-1], True]
    tp = np.cumsum(ranked_y)[last_of_value]
    fp = np.cumsum(1 - ranked_y)[last_of_value]
    fpr = np.r_[0.0, fp / n_neg]
    tpr = np.r_[0.0, tp / n_pos]
    return fpr, tpr, np.r_[np.inf, ranked_score[last_of_value]]


def auc_mw(y: Any, score: Any) -> float:
    """AUC as the Mann-Whitney statistic, P(score_pos > score_neg) + P(tie) / 2."""
    y = inputs.binary(y)
    score = inputs.scores(score)
    inputs.same_length(y=y, score=score)
    n_pos, n_neg = inputs.both_classes(y)
    ranks = midranks(score[None, :])[0]
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def midranks(matrix: np.ndarray) -> np.ndarray:
    """Ranks 1..n along each row, tied values sharing the mean of their ranks (Sun & Xu's
    midranks); the same as ``scipy.stats.rankdata(matrix, axis=1)``, with less overhead."""
    order = np.argsort(matrix, axis=1, kind="mergesort")
    ranked = np.take_along_axis(matrix, order, axis=1)
    position = np.broadcast_to(np.arange(matrix.shape[1]), matrix.shape)
    starts = np.ones(matrix.shape, dtype=bool)
    starts[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    ends = np.ones(matrix.shape, dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    backwards = np.where(ends, position, matrix.shape[1])[:, ::-1]
    last = np.minimum.accumulate(backwards, axis=1)[:, ::-1]
    result = np.empty(matrix.shape)
    np.put_along_axis(result, order, (first + last) / 2 + 1, axis=1)
    return result


def placements(y: np.ndarray, scores_2d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components by midranks (Sun & Xu 2014), one row per model.

    Returns (v10, v01): v10[k, i] is the share of negatives that positive i outranks under model
    k (ties one half), v01[k, j] the share of positives that outrank negative j. Their means
    over cases are the AUCs. ``y`` must already be a checked 0/1 array.
    """
    positives, negatives = scores_2d[:, y == 1], scores_2d[:, y == 0]
    n_pos, n_neg = positives.shape[1], negatives.shape[1]
    rank_pos = midranks(positives)
    rank_neg = midranks(negatives)
    rank_all = midranks(np.concatenate([positives, negatives], axis=1))
    v10 = (rank_all[:, :n_pos] - rank_pos) / n_neg
    v01 = 1.0 - (rank_all[:, n_pos:] - rank_neg) / n_pos
    return v10, v01


def _checked_matrix(y: Any, rows: Any) -> tuple[np.ndarray, np.ndarray]:
    """Checked 0/1 truth and a (models x cases) float matrix from a 1-D score, a 2-D table or
    a list of 1-D scores."""
    y = inputs.binary(y)
    if isinstance(rows, np.ndarray) and rows.ndim == 2:
        rows = list(rows)
    elif not isinstance(rows, (list, tuple)) or (rows and np.ndim(rows[0]) == 0):
        rows = [rows]
    checked = [inputs.scores(row, f"score {k + 1}") for k, row in enumerate(rows)]
    inputs.same_length(truth=y, **{f"score_{k + 1}": row for k, row in enumerate(checked)})
    inputs.both_classes(y, at_least=2)
    return y, np.vstack(checked)


def delong(y: Any, scores_2d: Any) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of k models scored on the same cases and DeLong's k x k covariance matrix.

    ``scores_2d`` has one row per model (a 1-D array is one model; a list of 1-D arrays is one
    model each). Needs at least two positive and two negative cases. A constant score has AUC
    0.5 and variance 0; so has a perfect one (AUC 1).
    """
    y, matrix = _checked_matrix(y, scores_2d)
    v10, v01 = placements(y, matrix)
    n_pos, n_neg = v10.shape[1], v01.shape[1]
    cov = np.atleast_2d(np.cov(v10)) / n_pos + np.atleast_2d(np.cov(v01)) / n_neg
    return v10.mean(axis=1), cov


def auc_ci(y: Any, score: Any, level: float = 0.95, method: str = "delong") -> AucResult:
    """The AUC, its DeLong variance and confidence interval: "delong" (pROC's, normal on the AUC
    scale, clipped to [0, 1]) or "logit" (:func:`with_logit_ci`)."""
    if method not in CI_METHODS:
        raise UserError(f"CI method must be one of {', '.join(CI_METHODS)}, not {method!r}")
    aucs, cov = delong(y, score)
    auc, var = float(aucs[0]), float(cov[0, 0])
    if method == "delong":
        return with_normal_ci(auc, var, level)
    n_pos = int(inputs.binary(y).sum())
    return with_logit_ci(auc, var, n_pos, len(y) - n_pos, level)


def with_normal_ci(auc: float, var: float, level: float = 0.95) -> AucResult:
    """An AUC and its variance with pROC's CI: auc +- z * sd, clipped to [0, 1]."""
    var = max(var, 0.0)
    low, high = normal_cis(np.asarray(auc), np.asarray(var), level)
    return AucResult(auc, var, float(low), float(high))


def auc_from_counts(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong variances (as :func:`delong`) from counts per score level, many
    sets at once: ``pos[..., l]``/``neg[..., l]`` count the positives/negatives at the l-th
    lowest score. For an ordinal score (BI-RADS) this replaces a pass over the cases with one
    over its few levels. The AUC is NaN without both classes, the variance without two of
    each; :func:`normal_cis` turns them into CIs."""
    pos, neg = np.asarray(pos, dtype=float), np.asarray(neg, dtype=float)
    n_pos, n_neg = pos.sum(-1), neg.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        # a positive at level l outranks the negatives below it, ties one half (v10), and a
        # negative is outranked by the positives above it, ties one half (v01)
        v10 = (np.cumsum(neg, -1) - neg / 2) / n_neg[..., None]
        v01 = (n_pos[..., None] - np.cumsum(pos, -1) + pos / 2) / n_pos[..., None]
        auc = (pos * v10).sum(-1) / n_pos
        var10 = ((pos * v10 ** 2).sum(-1) - n_pos * auc ** 2) / (n_pos - 1)
        var01 = ((neg * v01 ** 2).sum(-1) - n_neg * auc ** 2) / (n_neg - 1)
    auc = np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)
    return auc, np.where((n_pos >= 2) & (n_neg >= 2), var10 / n_pos + var01 / n_neg, np.nan)


def normal_cis(auc: np.ndarray, var: np.ndarray, level: float = 0.95
               ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`with_normal_ci`'s interval for arrays of AUCs and variances (NaN where the
    variance is)."""
    half = _z(level) * np.sqrt(np.maximum(var, 0.0))
    defined = ~np.isnan(var)
    return (np.where(defined, np.maximum(auc - half, 0.0), np.nan),
            np.where(defined, np.minimum(auc + half, 1.0), np.nan))


def with_logit_ci(auc: float, var: float, n_pos: int, n_neg: int,
                  level: float = 0.95) -> AucResult:
    """An AUC and its DeLong variance with the logit-scale interval, never of zero width.

    logit(A) +- z * sd / (A (1 - A)), transformed back (the delta method), so the interval stays
    inside (0, 1) and is asymmetric near its ends. Continuity adjustment: an AUC of 1 (or 0) is
    moved half a positive-negative pair toward 0.5, A = 1 - 0.5 / (n_pos n_neg), and the
    variance is at least 0.5 / (n_pos n_neg)^2, DeLong's variance of a perfect separation with
    that one half pair tied; the end on the estimate's side is then 1 (or 0), as Wilson's
    interval does at k = n. The returned ``auc`` and ``var`` are the unadjusted estimates.
    """
    if n_pos * n_neg < 1:
        raise UserError("an AUC needs at least one positive and one negative case")
    low, high = logit_cis(np.asarray(auc), np.asarray(var), n_pos, n_neg, level)
    return AucResult(auc, max(var, 0.0), float(low), float(high))


def logit_cis(auc: np.ndarray, var: np.ndarray, n_pos: Any, n_neg: Any,
              level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """:func:`with_logit_ci`'s interval for arrays of AUCs, variances and class sizes (NaN
    where the AUC or the variance is)."""
    auc, var = np.asarray(auc, dtype=float), np.asarray(var, dtype=float)
    pairs = np.asarray(n_pos, dtype=float) * np.asarray(n_neg, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        half = 0.5 / pairs
        adjusted = np.clip(auc, half, 1.0 - half)
        sd = np.sqrt(np.maximum(var, 0.5 / pairs ** 2))
        centre = np.log(adjusted / (1.0 - adjusted))
        spread = _z(level) * sd / (adjusted * (1.0 - adjusted))
        low = np.where(auc == 0.0, 0.0, 1.0 / (1.0 + np.exp(-(centre - spread))))
        high = np.where(auc == 1.0, 1.0, 1.0 / (1.0 + np.exp(-(centre + spread))))
    undefined = np.isnan(auc) | np.isnan(var) | (pairs < 1)
    return np.where(undefined, np.nan, low), np.where(undefined, np.nan, high)


@dataclass(frozen=True)
class TooFewCases:
    """The state shown instead of an AUC when a class has fewer than ``minimum`` cases."""
    n_pos: int
    n_neg: int
    minimum: int = MIN_PER_CLASS

    def __str__(self) -> str:
        return (f"too few cases for an AUC ({self.n_pos} positive, {self.n_neg} negative; "
                f"needs {self.minimum} of each)")

    def as_dict(self) -> dict[str, Any]:
        return {"auc": float("nan"), "var": float("nan"), "ci": [float("nan"), float("nan")],
                "too_few": str(self)}


def shown_auc(y: Any, score: Any, level: float = 0.95,
              minimum: int = MIN_PER_CLASS) -> AucResult | TooFewCases:
    """The AUC as the app shows it: with the logit interval, or :class:`TooFewCases` when
    either class has fewer than ``minimum`` cases (an AUC from 3 + 3 cases misleads)."""
    y = inputs.binary(y)
    n_pos = int(y.sum())
    if min(n_pos, len(y) - n_pos) < minimum:
        return TooFewCases(n_pos, len(y) - n_pos, minimum)
    return auc_ci(y, score, level, method="logit")


def auc_text(result: AucResult | TooFewCases, digits: int = 3) -> str:
    """An AUC as shown: "0.812 (0.701–0.893)", or "too few cases (3 + 4)"."""
    if isinstance(result, TooFewCases):
        return f"too few cases ({result.n_pos} + {result.n_neg})"
    return f"{result.auc:.{digits}f} ({result.ci_low:.{digits}f}–{result.ci_high:.{digits}f})"


def _paired_from(aucs: np.ndarray, cov: np.ndarray, a: int, b: int, z_crit: float) -> PairedResult:
    diff = float(aucs[a] - aucs[b])
    var = max(float(cov[a, a] + cov[b, b] - 2 * cov[a, b]), 0.0)
    sd = np.sqrt(var)
    if sd > 0:
        z = diff / sd
        p = float(2 * stats.norm.sf(abs(z)))
    elif diff == 0:  # identical placements: no difference and no evidence of one (as pROC)
        z, p = 0.0, 1.0
    else:  # both AUCs estimated without variance (e.g. perfect separation): test undefined
        z, p = float("nan"), float("nan")
    return PairedResult(float(aucs[a]), float(aucs[b]), diff, var, float(z), p,
                        float(diff - z_crit * sd), float(diff + z_crit * sd))


def paired_test(y: Any, score_a: Any, score_b: Any, level: float = 0.95) -> PairedResult:
    """DeLong's test that two models scored on the same cases have the same AUC.

    z = (AUC_a - AUC_b) / sd, two-sided normal p; the CI of the difference is diff +- z * sd.
    When the variance of the difference is 0, z = 0 and p = 1 if the AUCs are equal, else both
    are NaN (the test is undefined).
    """
    aucs, cov = delong(y, [score_a, score_b])
    return _paired_from(aucs, cov, 0, 1, _z(level))


def unpaired_test(y_a: Any, score_a: Any, y_b: Any, score_b: Any) -> UnpairedResult:
    """DeLong's test of two AUCs measured on different cases (pROC's unpaired test).

    D = (AUC_a - AUC_b) / sqrt(V_a + V_b), referred to Student's t with
    df = (V_a + V_b)^2 / (V_a^2 / (N_a - 1) + V_b^2 / (N_b - 1)), N the number of cases.
    """
    (auc_a,), ((var_a,),) = delong(y_a, score_a)
    (auc_b,), ((var_b,),) = delong(y_b, score_b)
    n_a, n_b = len(y_a), len(y_b)
    diff = float(auc_a - auc_b)
    total = var_a + var_b
    if total == 0:
        d, df, p = (0.0, float("nan"), 1.0) if diff == 0 else (float("nan"),) * 3
    else:
        d = diff / np.sqrt(total)
        df = total ** 2 / (var_a ** 2 / (n_a - 1) + var_b ** 2 / (n_b - 1))
        p = float(2 * stats.t.sf(abs(d), df))
    return UnpairedResult(float(auc_a), float(auc_b), diff, float(d), float(df), p)


def holm(p_values: Any) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    m = len(finite)
    order = finite[np.argsort(p[finite], kind="mergesort")]
    running = 0.0
    for step, index in enumerate(order):
        running = max(running, min(1.0, (m - step) * p[index]))
        adjusted[index] = running
    return adjusted


def compare_all(y: Any, scores: dict[str, Any], level: float = 0.95) -> list[dict[str, Any]]:
    """Every pair of models by DeLong's paired test, with Holm's correction across the pairs.

    One dict per pair (a before b in the order given): a, b, diff (= AUC_a - AUC_b), z, p,
    p_holm and ci (of the difference).
    """
    names = list(scores)
    if len(names) < 2:
        return []
    aucs, cov = delong(y, [scores[name] for name in names])
    z_crit = _z(level)
    pairs = []
    for a, b in combinations(range(len(names)), 2):
        result = _paired_from(aucs, cov, a, b, z_crit)
        pairs.append({"a": names[a], "b": names[b], "diff": result.diff, "z": result.z,
                      "p": result.p, "ci": [result.ci_low, result.ci_high]})
    for pair, adjusted in zip(pairs, holm([pair["p"] for pair in pairs])):
        pair["p_holm"] = float(adjusted)
    return pairs
