"""The fast paths behind the cohort and progress pages at scale (``bench/scale.py`` times them on
1M reads) give what the plain definitions give: windows counted by cumulative sums, the AUC and
its DeLong CI from counts per BI-RADS level, the CUSUM's last signal in one pass, and the cohort
table counted in DuckDB against each trainee's own summaries."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.scale import build
from core import progress
from core.stats.curves import cusum, last_signal, rolling_metrics
from core.stats.metrics import wilson_ci
from core.stats.roc import MIN_PER_CLASS, auc_ci, auc_from_counts, logit_cis, normal_cis
from core.store import Store


def reference_windows(df: pd.DataFrame, window: int) -> pd.DataFrame:
    """rolling_metrics by attempt, by its definition: each window on its own."""
    rows = []
    for end in range(1, len(df) + 1):
        part = df.iloc[max(0, end - window):end]
        y, pred, score = (part[c].to_numpy() for c in ("truth", "pred", "score"))
        row = {"position": end, "n": len(part)}
        for name, k, n in (("accuracy", (y == pred).sum(), len(y)),
                           ("sensitivity", ((y == 1) & (pred == 1)).sum(), y.sum()),
                           ("specificity", ((y == 0) & (pred == 0)).sum(), (y == 0).sum())):
            row[name] = k / n if n else np.nan
            row[f"{name}_lo"], row[f"{name}_hi"] = wilson_ci(int(k), int(n))
        enough = min(y.sum(), (y == 0).sum()) >= MIN_PER_CLASS
        result = auc_ci(y, score, method="logit") if enough else None
        row["auc"] = result.auc if result else np.nan
        row["auc_lo"] = result.ci_low if result else np.nan
        row["auc_hi"] = result.ci_high if result else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("levels", [6, None])  # BI-RADS ranks; a continuous probability
def test_rolling_windows_match_each_window_computed_alone(levels):
    rng = np.random.default_rng(3)
    n = 120
    truth = rng.integers(0, 2, n)
    score = (rng.integers(0, levels, n) if levels else rng.normal(size=n)).astype(float)
    df = pd.DataFrame({"truth": truth, "pred": rng.integers(0, 2, n), "score": score,
                       "created_at": pd.date_range("2026-01-01", periods=n, freq="h")})
    fast = rolling_metrics(df, window=25)
    slow = reference_windows(df, 25)
    pd.testing.assert_frame_equal(fast[slow.columns], slow, check_dtype=False, atol=1e-12)


def test_auc_from_level_counts_is_delongs_auc():
    rng = np.random.default_rng(5)
    for n_pos, n_neg in ((2, 2), (5, 40), (300, 200)):
        y = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
        score = rng.integers(0, 6, n_pos + n_neg) + y
        pos = np.bincount(score[y == 1], minlength=7)
        neg = np.bincount(score[y == 0], minlength=7)
        auc, var = auc_from_counts(pos, neg)
        for method, cis in (("delong", normal_cis(auc, var)),
                            ("logit", logit_cis(auc, var, n_pos, n_neg))):
            expected = auc_ci(y, score.astype(float), method=method)
            assert (auc, var, *cis) == pytest.approx(
                (expected.auc, expected.var, expected.ci_low, expected.ci_high), abs=1e-12)
    auc, var = auc_from_counts(np.array([[1, 0], [0, 0]]), np.array([[3, 1], [2, 2]]))
    assert auc[0] == 0.375 and np.isnan(var[0]) and np.isnan(auc[1])


def test_the_last_cusum_signal_in_one_pass_is_the_tables():
    rng = np.random.default_rng(7)
    for n in (1, 30, 400):
        for rate in (0.1, 0.3, 0.5):
            failures = (rng.random(n) < rate).astype(int)
            signals = [s for s in cusum(failures, 0.2, 0.4)["signal"] if s]
            assert last_signal(failures, 0.2, 0.4) == (signals[-1] if signals else "")


def test_the_cohort_table_counted_in_duckdb_matches_each_trainees_summary(tmp_path):
    path, users = build(tmp_path, 6, 400, 40)
    with Store(path) as store:
        table = progress.cohort_table(store, users["supervisor"]).set_index("user_id")
        assert table["cases_read"].sum() > 0
        for user_id, row in table.iterrows():
            reads = progress.trainee_reads(store, users["supervisor"], user_id)
            phases = progress.phases(reads)
            for mode, phase in phases.items():
                assert row[f"{mode}_accuracy"] == pytest.approx(phase.accuracy.value)
                assert row[f"{mode}_sensitivity_lo"] == pytest.approx(phase.sensitivity.ci_low)
                assert row[f"{mode}_birads_auc_hi"] == pytest.approx(phase.birads_auc.ci_high)
            assert row["cases_read"] == phases["unaided"].n
            assert (row["struggling"], row["flag_reason"], row["flag_short"]) == tuple(
                vars(progress.struggling(reads)).values())
            unaided = reads[reads["mode"] == "unaided"].set_index(["session_id", "case_id"])
            aided = reads[reads["mode"] == "aided"].set_index(["session_id", "case_id"])
            both = unaided.join(aided, suffixes=("", "_aided"), how="inner")
            assert row["accuracy_change"] == pytest.approx(
                (both["pred_aided"] == both["truth"]).mean() - (both["pred"] == both["truth"])
                .mean())
            assert row["helpful_changes"] == int(((both["pred"] != both["truth"])
                                                  & (both["pred_aided"] == both["truth"])).sum())
