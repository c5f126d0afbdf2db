"""How often an AUC interval covers the true AUC: a seeded simulation with binormal scores.

Negatives score N(0, 1) and positives N(mu, 1) with mu = sqrt(2) * Phi^-1(AUC), so the true
AUC is known exactly. The placements of all replications come from one vectorised call; each
interval is then the project's own function (``with_normal_ci``, ``with_logit_ci``), so the
simulation checks what the app and the CLI compute. ``bench/auc_ci_coverage.py`` prints it.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from core.stats.roc import placements, with_logit_ci, with_normal_ci

INTERVALS = {"delong": lambda auc, var, n_pos, n_neg, level: with_normal_ci(auc, var, level),
             "logit": with_logit_ci}


@dataclass(frozen=True)
class Coverage:
    """Share of replications whose interval holds the true AUC, and the mean width."""
    method: str
    n_pos: int
    n_neg: int
    auc: float
    reps: int
    coverage: float
    mean_width: float
    zero_width: float


def binormal_scores(n_pos: int, n_neg: int, auc: float, reps: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Truth (positives first) and a (reps x cases) score matrix with the given true AUC."""
    mu = np.sqrt(2.0) * NormalDist().inv_cdf(auc)
    scores = np.concatenate([rng.normal(mu, 1.0, (reps, n_pos)),
                             rng.normal(0.0, 1.0, (reps, n_neg))], axis=1)
    return np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)], scores


def auc_ci_coverage(n_pos: int, n_neg: int, auc: float, reps: int, seed: int = 0,
                    level: float = 0.95) -> dict[str, Coverage]:
    """Coverage of each interval in ``INTERVALS`` over ``reps`` seeded binormal samples."""
    y, scores = binormal_scores(n_pos, n_neg, auc, reps, np.random.default_rng(seed))
    v10, v01 = placements(y, scores)
    estimates = v10.mean(axis=1)
    variances = v10.var(axis=1, ddof=1) / n_pos + v01.var(axis=1, ddof=1) / n_neg
    result = {}
    for method, interval in INTERVALS.items():
        bounds = np.array([[r.ci_low, r.ci_high] for r in (
            interval(float(a), float(v), n_pos, n_neg, level)
            for a, v in zip(estimates, variances))])
        width = bounds[:, 1] - bounds[:, 0]
        result[method] = Coverage(method, n_pos, n_neg, auc, reps,
                                  float(np.mean((bounds[:, 0] <= auc) & (auc <= bounds[:, 1]))),
                                  float(width.mean()), float(np.mean(width <= 0)))
    return result
