"""Learning curves: rolling metrics over attempts and dates; the Bernoulli CUSUM / LC-CUSUM."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core.errors import UserError
from core.stats.curves import (cusum, cusum_limits, lc_cusum_limit, lc_horizon, rolling_metrics,
                               simulate_lc_cusum)
from core.stats.metrics import wilson_ci
from core.stats.roc import MIN_PER_CLASS, auc_ci, auc_mw


def attempts(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.75, truth, 1 - truth)
    return pd.DataFrame({"truth": truth, "pred": pred, "score": pred * 2 + rng.integers(0, 3, n),
                         "created_at": pd.Timestamp("2025-03-01 09:00")
                         + pd.to_timedelta(np.arange(n) * 9, unit="h")})


def test_rolling_by_attempt_uses_the_trailing_window():
    frame = attempts()
    curve = rolling_metrics(frame.sample(frac=1, random_state=3), window=10)  # order by time
    assert curve["position"].tolist() == list(range(1, 41))
    assert curve["n"].tolist() == [min(i, 10) for i in range(1, 41)]
    last = frame.iloc[-10:]
    correct = int((last["truth"] == last["pred"]).sum())
    assert curve["accuracy"].iloc[-1] == pytest.approx(correct / 10)
    assert (curve["accuracy_lo"].iloc[-1], curve["accuracy_hi"].iloc[-1]) == wilson_ci(correct, 10)
    full = curve.dropna(subset=["auc_lo"])
    assert ((full["auc_lo"] < full["auc"]) & (full["auc"] < full["auc_hi"])).all()


def test_rolling_auc_needs_five_cases_of_each_class_and_has_the_logit_ci():
    frame = attempts(14).assign(truth=[1, 0] * 5 + [1] * 4)  # last 10: 7 positive, 3 negative
    curve = rolling_metrics(frame, window=10)
    assert curve["auc"].iloc[:9].isna().all()  # fewer than five of a class so far
    assert np.isnan(curve["auc"].iloc[-1]) and np.isnan(curve["auc_lo"].iloc[-1])
    row, window = curve.iloc[9], frame.iloc[:10]  # five of each
    assert row["auc"] == pytest.approx(auc_mw(window["truth"], window["score"]))
    expected = auc_ci(window["truth"], window["score"], method="logit")
    assert (row["auc_lo"], row["auc_hi"]) == pytest.approx((expected.ci_low, expected.ci_high))
    assert MIN_PER_CLASS == 5


def test_rolling_by_date_covers_the_last_days():
    frame = attempts()
    curve = rolling_metrics(frame, window=3, by="date")
    days = frame["created_at"].dt.normalize()
    assert curve["date"].tolist() == sorted(days.unique())
    last_day = days.max()
    expected = int((days > last_day - pd.Timedelta(days=3)).sum())
    assert curve["n"].iloc[-1] == expected


def test_rolling_marks_undefined_metrics_as_missing():
    frame = attempts(6).assign(truth=[0, 0, 0, 1, 1, 0])
    curve = rolling_metrics(frame.drop(columns="score"), window=3)
    assert np.isnan(curve["sensitivity"].iloc[0])  # no positives yet
    assert "auc" not in curve.columns
    with pytest.raises(UserError, match="missing column"):
        rolling_metrics(frame.drop(columns="pred"))


def test_cusum_score_is_the_log_likelihood_ratio_in_failure_units():
    limits = cusum_limits(0.1, 0.3)
    x = np.array([0, 1, 0, 0, 1, 1, 0, 0, 0, 0])
    curve = cusum(x, 0.1, 0.3)
    llr = np.cumsum(stats.bernoulli.logpmf(x, 0.3) - stats.bernoulli.logpmf(x, 0.1))
    scale = math.log(0.3 / 0.1) + math.log(0.9 / 0.7)
    np.testing.assert_allclose(curve["score"] * scale, llr)
    assert limits["h1"] * scale == pytest.approx(math.log(0.95 / 0.05))
    assert curve.attrs["limits"] == limits | {"horizon": 50,
                                              "h_lc": lc_cusum_limit(0.1, 0.3, 0.05, 50)}


def test_cusum_signals_after_the_predicted_number_of_attempts():
    limits = cusum_limits(0.1, 0.3, alpha=0.05, beta=0.2)
    good = cusum(np.zeros(60, int), 0.1, 0.3, alpha=0.05, beta=0.2)
    first_good = math.ceil(limits["h0"] / limits["s"])
    assert good["signal"].iloc[first_good - 1] == "acceptable"
    assert (good["signal"].iloc[:first_good - 1] == "").all()
    first_competent = math.ceil(good.attrs["limits"]["h_lc"] / limits["s"])
    assert good["competent"].iloc[first_competent - 1]
    assert not good["competent"].iloc[first_competent - 2]
    bad = cusum(np.ones(20, int), 0.1, 0.3, alpha=0.05, beta=0.2)
    first_bad = math.ceil(limits["h1"] / (1 - limits["s"]))
    assert bad["signal"].iloc[first_bad - 1] == "unacceptable"
    assert not bad["competent"].any() and (bad["lc_cusum"] == 0).all()


def test_lc_cusum_never_falls_below_zero_and_competence_persists():
    rng = np.random.default_rng(2)
    x = np.r_[rng.random(40) < 0.4, rng.random(80) < 0.05].astype(int)
    curve = cusum(x, 0.1, 0.3)
    assert (curve["lc_cusum"] >= 0).all()
    competent = curve["competent"].to_numpy()
    assert competent.any() and (np.diff(competent.astype(int)) >= 0).all()


@pytest.mark.parametrize("p0, p1", [(0.3, 0.1), (0.0, 0.2), (0.1, 1.0)])
def test_cusum_refuses_impossible_rates(p0, p1):
    with pytest.raises(UserError, match="p0"):
        cusum([0, 1], p0, p1)


def test_the_competent_limit_keeps_false_competence_below_beta_by_simulation():
    s = cusum_limits(0.2, 0.4)["s"]
    h = lc_cusum_limit(0.2, 0.4, beta=0.05, horizon=100)
    peaks, _ = simulate_lc_cusum(0.4, s, 100, 4000, seed=11)  # not the limit's own seed
    assert (peaks >= h - 1e-9).mean() <= 0.06
    old = cusum_limits(0.2, 0.4)["h0"]  # the SPRT limit the flag used before
    assert (peaks >= old).mean() > 0.2
    _, first = simulate_lc_cusum(0.2, s, 100, 4000, seed=12, h=h)
    assert (first > 0).mean() > 0.9  # a trainee at the acceptable rate still gets there


def test_the_competent_limit_grows_with_the_horizon_of_the_curve():
    assert [lc_horizon(n) for n in (1, 50, 51, 120, 400)] == [50, 50, 100, 200, 400]
    assert lc_cusum_limit(0.2, 0.4, 0.05, 50) < lc_cusum_limit(0.2, 0.4, 0.05, 200)
    short, long = cusum(np.zeros(30, int), 0.2, 0.4), cusum(np.zeros(150, int), 0.2, 0.4)
    assert short["h_lc"].iloc[0] == lc_cusum_limit(0.2, 0.4, 0.05, 50)
    assert long.attrs["limits"]["horizon"] == 200
    assert long["h_lc"].iloc[0] == lc_cusum_limit(0.2, 0.4, 0.05, 200)
