"""Decisions at a threshold (confusion matrix, accuracy ... F1, with CIs), Youden's threshold
and calibration (Brier score, reliability curve)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from core.errors import UserError
from core.stats import inputs
from core.stats.roc import roc_points

METRIC_NAMES = ("accuracy", "sensitivity", "specificity", "precision", "npv", "f1",
                "balanced_accuracy")


@dataclass(frozen=True)
class Estimate:
    """A metric with its confidence interval; ``k`` of ``n`` for a proportion (else None).
    Undefined values (e.g. sensitivity without positive cases) are NaN."""
    value: float
    ci_low: float
    ci_high: float
    k: int | None = None
    n: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percent_text(estimate: Estimate) -> str:
    """A proportion as shown: "62% (36–82%)"; "-" where it is undefined (no cases)."""
    if np.isnan(estimate.value):
        return "-"
    if np.isnan(estimate.ci_low):
        return f"{estimate.value:.0%}"
    return f"{estimate.value:.0%} ({estimate.ci_low:.0%}–{estimate.ci_high:.0%})"


def wilson_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for k successes out of n; (NaN, NaN) when n = 0."""
    if n and not 0 <= k <= n:
        raise UserError(f"need 0 <= k <= n, got k={k}, n={n}")
    low, high = wilson_arrays(np.array([k]), np.array([n]), level)
    return float(low[0]), float(high[0])


def wilson_arrays(k: np.ndarray, n: np.ndarray, level: float = 0.95
                  ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`wilson_ci` for arrays of counts at once (NaN where n = 0)."""
    if not 0 < level < 1:
        raise UserError(f"confidence level must lie between 0 and 1, got {level}")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denominator = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denominator
        half = z / denominator * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        low = np.where(k == 0, 0.0, np.maximum(centre - half, 0.0))  # exact ends: no
        high = np.where(k == n, 1.0, np.minimum(centre + half, 1.0))  # rounding past 0 or 1
    empty = n == 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def confusion(y: Any, pred: Any) -> dict[str, int]:
    """Counts of true/false positives/negatives for 0/1 truth and 0/1 decisions."""
    y = inputs.binary(y)
    pred = inputs.binary(pred, "decision")
    inputs.same_length(truth=y, decision=pred)
    return {"tp": int(((y == 1) & (pred == 1)).sum()), "fp": int(((y == 0) & (pred == 1)).sum()),
            "tn": int(((y == 0) & (pred == 0)).sum()), "fn": int(((y == 1) & (pred == 0)).sum())}


def _proportion(k: int, n: int, level: float) -> Estimate:
    low, high = wilson_ci(k, n, level)
    return Estimate(k / n if n else float("nan"), low, high, k, n)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def _bootstrapped(value: float, samples: np.ndarray, level: float) -> Estimate:
    finite = samples[~np.isnan(samples)]
    if np.isnan(value) or len(finite) == 0:
        return Estimate(value, float("nan"), float("nan"))
    low, high = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    return Estimate(value, float(low), float(high))


def threshold_metrics(y: Any, pred: Any, level: float = 0.95, n_boot: int = 2000,
                      seed: int = 0) -> dict[str, Estimate]:
    """Accuracy, sensitivity, specificity, precision (PPV), NPV, F1 and balanced accuracy.

    Proportions carry Wilson intervals. F1 and balanced accuracy carry percentile intervals
    from a seeded bootstrap stratified by truth (cases resampled within each class, as pROC
    does): within a class the resampled number of correct decisions is exactly binomial, so
    the bootstrap draws those counts directly.
    """
    counts = confusion(y, pred)
    tp, fp, tn, fn = counts["tp"], counts["fp"], counts["tn"], counts["fn"]
    n_pos, n_neg = tp + fn, tn + fp
    result = {
        "accuracy": _proportion(tp + tn, n_pos + n_neg, level),
        "sensitivity": _proportion(tp, n_pos, level),
        "specificity": _proportion(tn, n_neg, level),
        "precision": _proportion(tp, tp + fp, level),
        "npv": _proportion(tn, tn + fn, level),
    }
    rng = np.random.default_rng(seed)
    boot_tp = rng.binomial(n_pos, tp / n_pos, n_boot) if n_pos else np.zeros(n_boot, int)
    boot_tn = rng.binomial(n_neg, tn / n_neg, n_boot) if n_neg else np.zeros(n_boot, int)
    boot_fp, boot_fn = n_neg - boot_tn, n_pos - boot_tp
    f1 = float(_ratio(np.array(2 * tp), np.array(2 * tp + fp + fn)))
    result["f1"] = _bootstrapped(f1, _ratio(2 * boot_tp, 2 * boot_tp + boot_fp + boot_fn), level)
    balanced = (result["sensitivity"].value + result["specificity"].value) / 2
    boot_balanced = (_ratio(boot_tp, np.full(n_boot, n_pos))
                     + _ratio(boot_tn, np.full(n_boot, n_neg))) / 2
    result["balanced_accuracy"] = _bootstrapped(balanced, boot_balanced, level)
    return result


def youden_threshold(y: Any, score: Any) -> float:
    """The cut-off maximising sensitivity + specificity - 1 (``score >= t`` is positive).

    Placed halfway between the two adjacent observed scores, as pROC does; among equal maxima
    the highest cut-off wins. +inf if calling nothing positive is best.
    """
    fpr, tpr, thresholds = roc_points(y, score)
    best = int(np.argmax(tpr - fpr))
    if best == 0 or best == len(thresholds) - 1:
        return float(thresholds[best])
    return float((thresholds[best] + thresholds[best + 1]) / 2)


def _probabilities(y: Any, prob: Any) -> tuple[np.ndarray, np.ndarray]:
    y = inputs.binary(y)
    prob = inputs.scores(prob, "probability")
    inputs.same_length(truth=y, probability=prob)
    if len(y) == 0:
        raise UserError("no cases")
    if ((prob < 0) | (prob > 1)).any():
        raise UserError("probability: values must lie in [0, 1] (divide percentages by 100)")
    return y, prob


def brier(y: Any, prob: Any) -> float:
    """Mean squared difference between predicted probability and outcome (0 is perfect)."""
    y, prob = _probabilities(y, prob)
    return float(np.mean((prob - y) ** 2))


def reliability_curve(y: Any, prob: Any, bins: int = 10, level: float = 0.95) -> pd.DataFrame:
    """Observed share of positives against mean predicted probability, in equal-width bins.

    Columns: bin_low, bin_high, n, mean_predicted, observed, ci_low, ci_high (Wilson). Empty
    bins are left out; a probability of exactly 1 falls in the last bin.
    """
    if bins < 1:
        raise UserError(f"bins must be at least 1, got {bins}")
    y, prob = _probabilities(y, prob)
    index = np.minimum((prob * bins).astype(int), bins - 1)
    rows = []
    for b in np.unique(index):
        in_bin = index == b
        k, n = int(y[in_bin].sum()), int(in_bin.sum())
        low, high = wilson_ci(k, n, level)
        rows.append({"bin_low": b / bins, "bin_high": (b + 1) / bins, "n": n,
                     "mean_predicted": float(prob[in_bin].mean()), "observed": k / n,
                     "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)
