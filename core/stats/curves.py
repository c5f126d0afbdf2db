"""Learning curves: rolling metrics with CIs, and the CUSUM against an acceptable error rate."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from core.errors import UserError
from core.stats import inputs
from core.stats.metrics import wilson_arrays
from core.stats.roc import MIN_PER_CLASS, auc_from_counts, logit_cis, placements, with_logit_ci


MAX_COUNTED_LEVELS = 64  # scores with at most this many values: AUCs from counts per level


def _window_sums(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Sums of ``values`` (along the last axis) over each window ``[start, end)``."""
    total = np.concatenate([np.zeros(values.shape[:-1] + (1,)), np.cumsum(values, -1)], -1)
    return total[..., ends] - total[..., starts]


def _window_aucs(y: np.ndarray, score: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The AUC and its logit DeLong CI of each window (NaN below ``MIN_PER_CLASS`` cases of a
    class): from counts per score level (cumulative sums, all windows at once) for an ordinal
    score such as BI-RADS; window by window from the placements otherwise."""
    levels, index = np.unique(score, return_inverse=True)
    if len(levels) <= MAX_COUNTED_LEVELS:
        at_level = index[None, :] == np.arange(len(levels))[:, None]
        pos = _window_sums(at_level & (y == 1), starts, ends).T
        neg = _window_sums(at_level & (y == 0), starts, ends).T
        auc, var = auc_from_counts(pos, neg)
        enough = np.minimum(pos.sum(-1), neg.sum(-1)) >= MIN_PER_CLASS
        return tuple(np.where(enough, values, np.nan) for values in
                     (auc, *logit_cis(auc, var, pos.sum(-1), neg.sum(-1), level)))
    auc, low, high = (np.full(len(starts), np.nan) for _ in range(3))
    for row, (start, end) in enumerate(zip(starts, ends)):
        truth, values = y[start:end], score[start:end]
        n_pos, n_neg = int(truth.sum()), int(len(truth) - truth.sum())
        if min(n_pos, n_neg) >= MIN_PER_CLASS:
            v10, v01 = placements(truth, values[None, :])
            variance = float(v10.var(ddof=1) / n_pos + v01.var(ddof=1) / n_neg)
            result = with_logit_ci(float(v10.mean()), variance, n_pos, n_neg, level)
            auc[row], low[row], high[row] = result.auc, result.ci_low, result.ci_high
    return auc, low, high


def _windows(y: np.ndarray, pred: np.ndarray, score: np.ndarray | None, starts: np.ndarray,
             ends: np.ndarray, level: float) -> dict[str, np.ndarray]:
    """The metric columns of the windows ``[start, end)`` of the time-ordered attempts."""
    n_pos = _window_sums(y, starts, ends)
    n = (ends - starts).astype(float)
    n_neg = n - n_pos
    columns: dict[str, np.ndarray] = {"n": ends - starts, "n_pos": n_pos.astype(int),
                                      "n_neg": n_neg.astype(int)}
    for name, hits, of in (("accuracy", y == pred, n),
                           ("sensitivity", (y == 1) & (pred == 1), n_pos),
                           ("specificity", (y == 0) & (pred == 0), n_neg)):
        k = _window_sums(hits, starts, ends)
        with np.errstate(invalid="ignore", divide="ignore"):
            columns[name] = np.where(of > 0, k / of, np.nan)
        columns[f"{name}_lo"], columns[f"{name}_hi"] = wilson_arrays(k, of, level)
    if score is not None:
        columns["auc"], columns["auc_lo"], columns["auc_hi"] = _window_aucs(
            y, score, starts, ends, level)
    return columns


def rolling_metrics(df: pd.DataFrame, window: int = 20, by: str = "attempt",
                    level: float = 0.95) -> pd.DataFrame:
    """Accuracy, sensitivity and specificity (Wilson CIs) and AUC (logit DeLong CI) over a trailing
    window, for a trainee's attempts in time order.

    Input columns: truth (0/1), pred (0/1), created_at, and optionally score (BI-RADS rank or
    probability) for the AUC. ``by="attempt"``: one row per attempt (``position`` 1, 2, ...)
    over the last ``window`` attempts, fewer at the start (``n`` says how many). ``by="date"``:
    one row per calendar day with attempts (``date``) over the attempts of the last ``window``
    days. Each metric has ``_lo``/``_hi`` columns; a metric is NaN where its window lacks the
    cases it needs (sensitivity without positives; the AUC and its CI with fewer than
    ``MIN_PER_CLASS`` cases of either class: too few cases).
    """
    if window < 1:
        raise UserError(f"window must be at least 1, got {window}")
    if by not in ("attempt", "date"):
        raise UserError(f"by must be 'attempt' or 'date', not {by!r}")
    missing = {"truth", "pred", "created_at"} - set(df.columns)
    if missing:
        raise UserError(f"missing column(s): {', '.join(sorted(missing))}")
    created = pd.to_datetime(df["created_at"]).to_numpy()
    order = np.argsort(created, kind="mergesort")  # time order; ties keep the given order
    created = created[order]
    y = inputs.binary(df["truth"])[order]
    pred = inputs.binary(df["pred"], "pred")[order]
    score = inputs.scores(df["score"])[order] if "score" in df.columns else None
    # every window is a run of consecutive attempts: counted all at once by cumulative sums
    if by == "attempt":
        ends = np.arange(1, len(y) + 1)
        starts = np.maximum(0, ends - window)
        head = {"position": ends, "created_at": created}
    else:
        days = pd.DatetimeIndex(created).normalize()
        unique = days.unique()
        ends = days.searchsorted(unique, side="right")
        starts = days.searchsorted(unique - pd.Timedelta(days=window), side="right")
        head = {"date": unique}
    return pd.DataFrame({**head, **_windows(y, pred, score, starts, ends, level)})


def cusum_limits(p0: float, p1: float, alpha: float = 0.05, beta: float = 0.05) -> dict[str, float]:
    """The Bernoulli CUSUM / SPRT design (Bolsin & Colson 2000; Biau et al. 2008).

    P = ln(p1/p0), Q = ln((1-p0)/(1-p1)); each success lowers the score by s = Q / (P + Q), each
    failure raises it by 1 - s. Unacceptable rate (p1) is signalled when the score rises h1 =
    ln((1-beta)/alpha) / (P + Q) above its start; acceptable rate (p0) when it falls h0 =
    ln((1-alpha)/beta) / (P + Q) below. alpha: risk of signalling unacceptable when the true
    rate is p0; beta: risk of signalling acceptable when it is p1.
    """
    if not 0 < p0 < p1 < 1:
        raise UserError(f"need 0 < acceptable rate p0 < unacceptable rate p1 < 1, "
                        f"got p0={p0}, p1={p1}")
    if not (0 < alpha < 1 and 0 < beta < 1):
        raise UserError(f"alpha and beta must lie between 0 and 1, got {alpha}, {beta}")
    p, q = np.log(p1 / p0), np.log((1 - p0) / (1 - p1))
    return {"p0": p0, "p1": p1, "alpha": alpha, "beta": beta, "s": float(q / (p + q)),
            "h0": float(np.log((1 - alpha) / beta) / (p + q)),
            "h1": float(np.log((1 - beta) / alpha) / (p + q))}


LC_REPLICATIONS = 20_000
LC_SEED = 2008
LC_MIN_HORIZON = 50
_ROUNDING = 1e-9  # the chart's sums and the simulation's may differ in the last bits


def simulate_lc_cusum(rate: float, s: float, horizon: int, reps: int, seed: int,
                      h: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """LC-CUSUM paths of ``reps`` simulated trainees whose true failure rate is ``rate``, over
    ``horizon`` attempts, as :func:`cusum` computes them. Returns each path's peak and the
    attempt at which it first reached ``h`` (0: not within the horizon, or no ``h``)."""
    rng = np.random.default_rng(seed)
    learning, peak = np.zeros(reps), np.zeros(reps)
    first = np.zeros(reps, dtype=int)
    for attempt in range(1, horizon + 1):
        learning = np.maximum(0.0, learning + s - (rng.random(reps) < rate))
        peak = np.maximum(peak, learning)
        if h is not None:
            first[(first == 0) & (learning >= h - _ROUNDING)] = attempt
    return peak, first


def lc_horizon(attempts: int) -> int:
    """The horizon the LC-CUSUM limit is set for: ``LC_MIN_HORIZON`` doubled until it covers
    ``attempts`` (few distinct limits, each cached)."""
    horizon = LC_MIN_HORIZON
    while horizon < attempts:
        horizon *= 2
    return horizon


@lru_cache(maxsize=64)
def lc_cusum_limit(p0: float, p1: float, beta: float = 0.05, horizon: int = 200,
                   reps: int = LC_REPLICATIONS, seed: int = LC_SEED) -> float:
    """Biau et al.'s (Br J Surg 2008) LC-CUSUM limit, chosen by simulation: the smallest h
    that trainees whose true failure rate is the unacceptable ``p1`` reach within ``horizon``
    attempts so rarely in ``reps`` seeded runs that the one-sided 95% upper bound of that share
    is at most ``beta`` (the risk of declaring an incompetent trainee competent). In the units
    of :func:`cusum`'s lc_cusum.

    The SPRT's h0 is no such limit: the LC-CUSUM restarts from 0 instead of stopping, so with
    h0 it declares 32% of trainees at 40% errors competent within 100 attempts and 57% within
    200 (20% acceptable, alpha = beta = 0.05; ``bench/cusum_error_rates.py``).
    """
    s = cusum_limits(p0, p1, beta=beta)["s"]
    peaks = np.sort(simulate_lc_cusum(p1, s, horizon, reps, seed)[0])
    values = np.unique(peaks)
    reaching = 1.0 - np.searchsorted(peaks, values - _ROUNDING, side="left") / reps
    margin = 1.645 * np.sqrt(beta * (1 - beta) / reps)  # Monte Carlo error of the share
    allowed = values[reaching + margin <= beta]
    return float(allowed[0]) if len(allowed) else float(peaks[-1] + s)


def cusum(failures: Any, p0: float, p1: float, alpha: float = 0.05,
          beta: float = 0.05) -> pd.DataFrame:
    """CUSUM learning curve of a sequence of attempts (1 = failure, e.g. a wrong call).

    Columns: attempt (1, 2, ...), failure, score (the Bolsin & Colson chart: cumulative sum of
    failure - s), h0 and h1 (limits, see ``cusum_limits``), sprt (the score since the last
    signal: a new test starts after each), signal ("acceptable" when sprt <= -h0,
    "unacceptable" when sprt >= h1, else ""), lc_cusum (Biau's LC-CUSUM in the same units:
    max(0, previous + s - failure), which rises with successes and never falls below 0),
    h_lc and competent (lc_cusum has reached h_lc, :func:`lc_cusum_limit` for the horizon
    :func:`lc_horizon` of this many attempts: performance at the acceptable rate p0, with risk
    at most beta of saying so within the horizon when the true rate is p1).
    ``frame.attrs["limits"]`` holds the design, with h_lc and horizon.
    """
    limits = cusum_limits(p0, p1, alpha, beta)
    x = inputs.binary(failures, "failures")
    limits["horizon"] = lc_horizon(len(x))
    limits["h_lc"] = lc_cusum_limit(p0, p1, beta, limits["horizon"])
    s, h0, h1 = limits["s"], limits["h0"], limits["h1"]
    sprt, lc = np.empty(len(x)), np.empty(len(x))
    signal = np.full(len(x), "", dtype=object)
    running = learning = 0.0
    for i, failed in enumerate(x):
        running += failed - s
        learning = max(0.0, learning + s - failed)
        sprt[i], lc[i] = running, learning
        if running >= h1 or running <= -h0:
            signal[i] = "unacceptable" if running >= h1 else "acceptable"
            running = 0.0
    frame = pd.DataFrame({"attempt": np.arange(1, len(x) + 1), "failure": x,
                          "score": np.cumsum(x - s), "h0": h0, "h1": h1, "sprt": sprt,
                          "signal": signal, "lc_cusum": lc, "h_lc": limits["h_lc"],
                          "competent": np.maximum.accumulate(lc >= limits["h_lc"] - _ROUNDING)})
    frame.attrs["limits"] = limits
    return frame


def last_signal(failures: Any, p0: float, p1: float, alpha: float = 0.05,
                beta: float = 0.05) -> str:
    """The ``signal`` :func:`cusum` gives last ("acceptable", "unacceptable", or "" when the
    test has never signalled), without building its table: one tight pass, for a cohort."""
    limits = cusum_limits(p0, p1, alpha, beta)
    s, h0, h1 = limits["s"], limits["h0"], limits["h1"]
    running, last = 0.0, ""
    for failed in inputs.binary(failures, "failures").tolist():
        running += failed - s
        if running >= h1:
            running, last = 0.0, "unacceptable"
        elif running <= -h0:
            running, last = 0.0, "acceptable"
    return last
