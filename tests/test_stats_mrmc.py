"""Obuchowski-Rockette MRMC: independent re-computations, invariances, missing readings, bad
input. (The published Van Dyke figures are checked in test_stats_reference.py.)"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import UserError
from core.stats.mrmc import as_paired_test, or_analysis
from core.stats.roc import auc_mw, delong


def simulated_study(readers: int = 4, cases: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, cases)
    truth[:2], truth[2:4] = 0, 1
    case_effect = rng.normal(size=cases)
    rows = [{"reader": f"r{r}", "modality": modality, "case": f"c{c}", "truth": truth[c],
             "rating": float(np.round(truth[c] * (1.0 + 0.6 * (modality == "aided"))
                                      + 0.5 * case_effect[c] + rng.normal(), 1))}
            for r in range(readers) for modality in ("aided", "unaided") for c in range(cases)]
    return pd.DataFrame(rows)


def brute_force_jackknife(frame: pd.DataFrame) -> np.ndarray:
    """Covariance of the t*r AUCs by actually leaving out each case and recomputing."""
    keys = sorted({(m, r) for m, r in zip(frame["modality"], frame["reader"])})
    cases = sorted(frame["case"].unique())

    def aucs(subset):
        return np.array([auc_mw(part["truth"], part["rating"])
                         for key in keys
                         for part in [subset[(subset["modality"] == key[0])
                                             & (subset["reader"] == key[1])].sort_values("case")]])

    left_out = np.array([aucs(frame[frame["case"] != case]) for case in cases])
    deviations = left_out - left_out.mean(axis=0)
    return (len(cases) - 1) / len(cases) * deviations.T @ deviations


def test_jackknife_covariances_equal_leaving_each_case_out():
    frame = simulated_study(readers=2, cases=16)
    result = or_analysis(frame)
    cov = brute_force_jackknife(frame).reshape(2, 2, 2, 2)
    variances = [cov[i, j, i, j] for i in range(2) for j in range(2)]
    assert result["var_error"] == pytest.approx(np.mean(variances))
    assert result["cov1"] == pytest.approx(np.mean([cov[0, j, 1, j] for j in range(2)]))
    assert result["cov2"] == pytest.approx(np.mean([cov[i, 0, i, 1] for i in range(2)]))
    assert result["cov3"] == pytest.approx(np.mean([cov[0, 0, 1, 1], cov[0, 1, 1, 0]]))


def test_delong_covariances_equal_the_delong_matrix():
    frame = simulated_study(readers=3, cases=40)
    result = or_analysis(frame, cov="delong")
    wide = frame.pivot(index="case", columns=["modality", "reader"], values="rating")
    wide = wide.sort_index(axis=1)
    truth = frame.drop_duplicates("case").set_index("case").loc[wide.index, "truth"]
    aucs, cov = delong(truth.to_numpy(), wide.to_numpy().T)
    assert result["var_error"] == pytest.approx(np.diag(cov).mean())
    assert result["auc"]["aided"]["r0"] == pytest.approx(aucs[0])
    assert result["cov1"] == pytest.approx(np.mean([cov[j, 3 + j] for j in range(3)]))


def test_statistics_follow_the_or_formulas():
    result = or_analysis(simulated_study(readers=5))
    theta = np.array([[result["auc"][m][r] for r in result["readers"]]
                      for m in result["modalities"]])
    t, r = theta.shape
    interaction = theta - theta.mean(1, keepdims=True) - theta.mean(0) + theta.mean()
    ms_tr = (interaction ** 2).sum() / (r - 1)
    den = ms_tr + r * max(result["cov2"] - result["cov3"], 0)
    assert result["ms_tr"] == pytest.approx(ms_tr)
    assert result["f"] == pytest.approx(result["ms_t"] / den)
    assert result["df_den"] == pytest.approx(den ** 2 / (ms_tr ** 2 / (r - 1)))
    assert result["diff"] == pytest.approx(theta[0].mean() - theta[1].mean())
    assert result["ci"][0] < result["diff"] < result["ci"][1]
    for modality in result["modalities"]:
        block = result["modality"][modality]
        assert block["ci"][0] < block["auc"] < block["ci"][1]
    assert 0 <= result["p"] <= 1 and 0 <= result["fixed_readers"]["p"] <= 1


def test_row_order_and_modality_names_do_not_change_the_answer():
    frame = simulated_study()
    base = or_analysis(frame)
    shuffled = or_analysis(frame.sample(frac=1, random_state=1))
    assert shuffled["f"] == pytest.approx(base["f"])
    assert shuffled["var_error"] == pytest.approx(base["var_error"])
    swapped = frame["modality"].map({"aided": "z", "unaided": "a"})
    renamed = or_analysis(frame.assign(modality=swapped))
    assert renamed["diff"] == pytest.approx(-base["diff"])
    assert renamed["f"] == pytest.approx(base["f"]) and renamed["p"] == pytest.approx(base["p"])


def test_cases_not_read_by_everyone_are_dropped_and_reported():
    frame = simulated_study()
    unread = (frame["reader"] == "r1") & (frame["modality"] == "unaided") & (frame["case"] == "c7")
    partial = or_analysis(frame[~unread])
    complete = or_analysis(frame[frame["case"] != "c7"])
    assert partial["dropped"] == 1 and partial["dropped_cases"] == ["c7"]
    assert partial["n_cases"] == 59
    assert partial["f"] == pytest.approx(complete["f"]) and partial["auc"] == complete["auc"]
    assert "complete cases" in partial["missing_policy"]


@pytest.mark.parametrize("change, message", [
    (lambda f: f[f["reader"] == "r0"], "at least two readers"),
    (lambda f: f[~((f["reader"] == "r2") & (f["modality"] == "aided"))], "one modality only"),
    (lambda f: pd.concat([f, f.head(1)]), "twice"),
    (lambda f: f.assign(modality=np.where(f.index % 3 == 0, "third", f["modality"])),
     "exactly two"),
    (lambda f: f.assign(truth=np.where(f.index == 0, 1 - f["truth"], f["truth"])),
     "different truth"),
    (lambda f: f.assign(rating=np.where(f.index == 5, np.nan, f["rating"])), "missing values"),
    (lambda f: f.drop(columns="rating"), "missing column"),
    (lambda f: f.assign(truth=0), "at least 2 positive"),
])
def test_bad_studies_are_refused_clearly(change, message):
    with pytest.raises(UserError, match=message):
        or_analysis(change(simulated_study(readers=3, cases=20)))


def test_the_multi_reader_difference_replaces_a_pooled_test_in_either_direction():
    result = or_analysis(simulated_study(readers=3, cases=40))  # modalities: aided, unaided
    test = as_paired_test(result, "aided", "unaided")
    assert (test["auc_a"], test["auc_b"]) == (result["modality"]["aided"]["auc"],
                                              result["modality"]["unaided"]["auc"])
    assert test["diff"] == pytest.approx(test["auc_a"] - test["auc_b"])
    assert test["p"] == result["p"] and [test["ci_low"], test["ci_high"]] == result["ci"]
    assert "3 readers" in test["method"] and np.isnan(test["z"])
    reverse = as_paired_test(result, "unaided", "aided")
    assert reverse["diff"] == -test["diff"] and reverse["p"] == test["p"]
    assert (reverse["ci_low"], reverse["ci_high"]) == (-test["ci_high"], -test["ci_low"])
    with pytest.raises(UserError, match="compares aided and unaided"):
        as_paired_test(result, "aided", "AI")
