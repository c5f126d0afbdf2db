"""Multi-reader multi-case ROC analysis of two modalities (e.g. unaided vs AI-aided reading):
Obuchowski & Rockette (1995) with Hillis' (2007, 2008) denominator degrees of freedom.

AUCs are trapezoidal (Mann-Whitney, ties one half). The error covariances of the t x r AUCs
come from the jackknife over cases (as the Iowa OR-DBM MRMC program) or from DeLong's method,
and are averaged into Var (same reader, same modality), Cov1 (same reader, different
modalities), Cov2 (different readers, same modality) and Cov3 (different readers, different
modalities).

Missing readings: every reader must have read in both modalities; the analysis then uses the
cases that every reader read in both modalities (a complete-case analysis) and reports how
many, and which, cases were dropped. This is unbiased when a reading is missing for reasons
unrelated to the case's difficulty; it loses power, which the output makes visible.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from core.errors import UserError
from core.stats import inputs
from core.stats.inputs import plain
from core.stats.roc import placements

MISSING_POLICY = ("complete cases: only cases read by every reader in both modalities are "
                  "analysed; the others are counted in 'dropped' and listed in 'dropped_cases'")


def _check_frame(df: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    missing = [name for name in columns.values() if name not in df.columns]
    if missing:
        raise UserError(f"missing column(s): {', '.join(missing)} "
                        f"(columns present: {', '.join(map(str, df.columns))})")
    frame = df[list(columns.values())].copy()
    frame.columns = list(columns)
    empty = frame.isna().any()
    if empty.any():
        names = ", ".join(columns[key] for key in empty[empty].index)
        raise UserError(f"missing values in column(s): {names}; leave out unread cases instead")
    frame["truth"] = inputs.binary(frame["truth"].to_numpy(), f"truth column {columns['truth']!r}")
    frame["rating"] = inputs.scores(frame["rating"].to_numpy(),
                                    f"rating column {columns['rating']!r}")
    duplicated = frame.duplicated(["reader", "modality", "case"])
    if duplicated.any():
        first = {column: plain(frame.loc[duplicated, column].iloc[0])
                 for column in ("reader", "case", "modality")}
        raise UserError(f"reader {first['reader']!r} rated case {first['case']!r} twice in "
                        f"modality {first['modality']!r}")
    conflicting = frame.groupby("case")["truth"].nunique()
    if (conflicting > 1).any():
        raise UserError(f"case {plain(conflicting[conflicting > 1].index[0])!r} has different "
                        f"truth values in different rows")
    return frame


def _cov_matrix(y: np.ndarray, matrix: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (one per row of ``matrix``) and their error covariance matrix."""
    v10, v01 = placements(y, matrix)
    aucs = v10.mean(axis=1)
    n_pos, n_neg = v10.shape[1], v01.shape[1]
    if method == "delong":
        return aucs, np.cov(v10) / n_pos + np.cov(v01) / n_neg
    # Leaving out one case changes only that case's placement term, so every jackknife AUC
    # follows exactly from the placements: no refitting.
    left_out = np.concatenate([(n_pos * aucs[:, None] - v10) / (n_pos - 1),
                               (n_neg * aucs[:, None] - v01) / (n_neg - 1)], axis=1)
    n_cases = n_pos + n_neg
    return aucs, np.cov(left_out, bias=True) * (n_cases - 1)


def _average_covariances(cov: np.ndarray, t: int, r: int) -> dict[str, float]:
    grid = cov.reshape(t, r, t, r)
    same_mod = np.eye(t, dtype=bool)[:, None, :, None]
    same_reader = np.eye(r, dtype=bool)[None, :, None, :]
    return {"var_error": float(grid[same_mod & same_reader].mean()),
            "cov1": float(grid[~same_mod & same_reader].mean()),
            "cov2": float(grid[same_mod & ~same_reader].mean()),
            "cov3": float(grid[~same_mod & ~same_reader].mean())}


def _t_interval(centre: float, se: float, df: float, level: float) -> list[float]:
    half = stats.t.ppf(0.5 + level / 2, df) * se  # df = inf gives the normal quantile
    return [float(centre - half), float(centre + half)]


def _z_interval(centre: float, se: float, level: float) -> list[float]:
    half = stats.norm.ppf(0.5 + level / 2) * se
    return [float(centre - half), float(centre + half)]


def _ratio(numerator: float, denominator: float) -> float:
    if denominator > 0:
        return numerator / denominator
    return 0.0 if numerator == 0 else float("inf")


def _f_p(f: float, df_num: float, df_den: float) -> float:
    if not np.isfinite(df_den):
        return float(stats.chi2.sf(f * df_num, df_num))
    return float(stats.f.sf(f, df_num, df_den))


def _per_modality(theta: np.ndarray, cov: np.ndarray, level: float) -> list[dict[str, Any]]:
    """Each modality's mean AUC with CIs for random readers and cases (Hillis 2007's
    single-modality analysis) and for fixed readers."""
    t, r = theta.shape
    grid = cov.reshape(t, r, t, r)
    other_reader = ~np.eye(r, dtype=bool)
    results = []
    for i in range(t):
        mean = float(theta[i].mean())
        ms_r = float(theta[i].var(ddof=1))
        var_i = float(np.diag(grid[i, :, i, :]).mean())
        cov2_i = float(grid[i, :, i, :][other_reader].mean())
        den = ms_r + r * max(cov2_i, 0.0)
        df = _ratio(den ** 2, ms_r ** 2 / (r - 1))
        fixed_se = np.sqrt(max(var_i + (r - 1) * max(cov2_i, 0.0), 0.0) / r)
        results.append({"auc": mean, "var_error": var_i, "cov2": cov2_i, "ms_r": ms_r,
                        "se": float(np.sqrt(den / r)), "df": df,
                        "ci": _t_interval(mean, np.sqrt(den / r), df, level),
                        "fixed_readers_ci": _z_interval(mean, fixed_se, level)})
    return results


def _notes(table: pd.DataFrame, modalities: list, den: float,
           per_modality: list[dict[str, Any]]) -> list[str]:
    """Why some figures are undefined (NaN): constant ratings, AUCs that vary nowhere."""
    notes = []
    constant = [f"{plain(reader)} in {plain(modality)}"
                for (modality, reader), ratings in table.items() if ratings.nunique() == 1]
    if constant:
        notes.append(f"constant ratings (AUC 0.5, no information): {', '.join(constant)}")
    if den <= 0:
        notes.append("the readers' AUCs show no reader-by-modality variation and the cases no "
                     "between-reader covariance, so the random readers-and-cases F test, its "
                     "p, df and the CI of the difference are undefined (nan)")
    for name, modality in zip(modalities, per_modality):
        if not np.isfinite(modality["ci"]).all():
            notes.append(f"modality {plain(name)}: every reader's AUC is the same and cases "
                         f"add no variance, so its random readers-and-cases CI is undefined "
                         f"(nan); see its fixed-readers CI")
    return notes


def or_analysis(df: pd.DataFrame, reader: str = "reader", modality: str = "modality",
                case: str = "case", truth: str = "truth", rating: str = "rating",
                cov: str = "jackknife", level: float = 0.95) -> dict[str, Any]:
    """Obuchowski-Rockette analysis of two modalities read by the same readers on the same cases.

    ``df`` has one row per reading: reader, modality, case, truth (0/1, constant per case) and
    rating (higher = more suspicious; BI-RADS via ``readers.birads_scores``). Modalities are
    taken in sorted order and ``diff`` = mean AUC of the first minus the second.

    Random readers and cases (Hillis): F = MS(T) / [MS(T*R) + r max(Cov2 - Cov3, 0)] on
    (t - 1, ddf_H) df, ddf_H = [MS(T*R) + r max(Cov2 - Cov3, 0)]^2 / {MS(T*R)^2 / [(t-1)(r-1)]};
    the CI of diff uses se = sqrt(2/r [MS(T*R) + r max(Cov2 - Cov3, 0)]) and t on ddf_H.
    Fixed readers: chi2 = (t - 1) MS(T) / [Var - Cov1 + (r - 1) max(Cov2 - Cov3, 0)] on t - 1 df.
    Fixed cases (random readers): F = MS(T) / MS(T*R) on (t - 1, (t - 1)(r - 1)) df.
    Missing readings: see the module docstring (complete cases; 'dropped' in the output).
    ``notes`` says why any figure is undefined (NaN), e.g. for constant ratings.
    """
    if not 0 < level < 1:
        raise UserError(f"confidence level must lie between 0 and 1, got {level}")
    if cov not in ("jackknife", "delong"):
        raise UserError(f"covariance method must be 'jackknife' or 'delong', not {cov!r}")
    frame = _check_frame(df, {"reader": reader, "modality": modality, "case": case,
                              "truth": truth, "rating": rating})
    modalities = sorted(frame["modality"].unique())
    readers = sorted(frame["reader"].unique())
    if len(modalities) != 2:
        raise UserError(f"the analysis compares exactly two modalities; column {modality!r} has "
                        f"{len(modalities)}: {', '.join(map(str, modalities))}")
    if len(readers) < 2:
        raise UserError(f"need at least two readers in column {reader!r}, found {len(readers)}")
    read_in = frame.groupby("reader")["modality"].nunique()
    if (read_in < 2).any():
        lacking = read_in[read_in < 2].index[0]
        raise UserError(f"reader {plain(lacking)!r} has readings in one modality only; every "
                        f"reader must read in both")

    table = frame.pivot(index="case", columns=["modality", "reader"], values="rating")
    table = table.reindex(columns=pd.MultiIndex.from_product([modalities, readers]))
    complete = table.notna().all(axis=1)
    dropped = table.index[~complete].tolist()
    table = table[complete]
    y = frame.drop_duplicates("case").set_index("case").loc[table.index, "truth"].to_numpy()
    n_pos, n_neg = inputs.both_classes(y, at_least=2)

    t, r = len(modalities), len(readers)
    aucs, cov_matrix = _cov_matrix(y, table.to_numpy().T, cov)
    theta = aucs.reshape(t, r)
    averages = _average_covariances(cov_matrix, t, r)
    grand = theta.mean()
    ms_t = r * float(((theta.mean(axis=1) - grand) ** 2).sum()) / (t - 1)
    interaction = theta - theta.mean(axis=1, keepdims=True) - theta.mean(axis=0) + grand
    ms_tr = float((interaction ** 2).sum()) / ((t - 1) * (r - 1))
    reader_cov = r * max(averages["cov2"] - averages["cov3"], 0.0)
    den = ms_tr + reader_cov
    df_den = _ratio(den ** 2, ms_tr ** 2 / ((t - 1) * (r - 1)))
    f = _ratio(ms_t, den)
    diff = float(theta[0].mean() - theta[1].mean())
    fixed_den = (averages["var_error"] - averages["cov1"]
                 + (r - 1) * max(averages["cov2"] - averages["cov3"], 0.0))
    chi2 = _ratio((t - 1) * ms_t, fixed_den)
    f_cases = _ratio(ms_t, ms_tr)
    per_modality = _per_modality(theta, cov_matrix, level)

    return {
        "modalities": [str(m) for m in modalities],
        "readers": [str(x) for x in readers],
        "auc": {str(m): {str(x): float(theta[i, j]) for j, x in enumerate(readers)}
                for i, m in enumerate(modalities)},
        "modality": {str(m): per_modality[i] for i, m in enumerate(modalities)},
        **averages,
        "ms_t": ms_t, "ms_tr": ms_tr,
        "f": f, "df_num": t - 1, "df_den": df_den, "p": _f_p(f, t - 1, df_den),
        "diff": diff, "diff_of": f"{modalities[0]} - {modalities[1]}",
        "ci": _t_interval(diff, np.sqrt(2 / r * den), df_den, level),
        "fixed_readers": {"chi2": chi2, "df": t - 1, "p": float(stats.chi2.sf(chi2, t - 1)),
                          "ci": _z_interval(diff, np.sqrt(2 / r * max(fixed_den, 0.0)), level)},
        "fixed_cases": {"f": f_cases, "df_num": t - 1, "df_den": (t - 1) * (r - 1),
                        "p": _f_p(f_cases, t - 1, (t - 1) * (r - 1)),
                        "ci": _t_interval(diff, np.sqrt(2 * ms_tr / r), (t - 1) * (r - 1), level)},
        "cov": cov, "auc_method": "trapezoidal (Mann-Whitney, ties count one half)",
        "level": level,
        "n_readers": r, "n_cases": int(len(y)), "n_pos": n_pos, "n_neg": n_neg,
        "dropped": len(dropped), "dropped_cases": [str(c) for c in dropped],
        "missing_policy": MISSING_POLICY,
        "notes": _notes(table, modalities, den, per_modality),
    }


def as_paired_test(analysis: dict[str, Any], first: str, second: str) -> dict[str, Any]:
    """The analysis's difference ``first`` - ``second`` of mean AUCs (readers and cases
    random: CI and F test with Hillis df) in the keys of ``roc.PairedResult.as_dict()``, plus
    ``f``, ``df_num``, ``df_den`` and ``method``; ``var`` and ``z`` are NaN (an F test). A report
    shows it in place of a pooled test that treats the readers' reads as independent."""
    modalities = analysis["modalities"]
    if sorted([first, second]) != sorted(modalities) or first == second:
        raise UserError(f"the analysis compares {' and '.join(modalities)}, not {first} and "
                        f"{second}")
    sign = 1.0 if modalities[0] == first else -1.0
    low, high = sorted(sign * bound for bound in analysis["ci"])
    return {"auc_a": analysis["modality"][first]["auc"],
            "auc_b": analysis["modality"][second]["auc"], "diff": sign * analysis["diff"],
            "var": float("nan"), "z": float("nan"), "p": analysis["p"], "ci_low": low,
            "ci_high": high, "f": analysis["f"], "df_num": analysis["df_num"],
            "df_den": analysis["df_den"],
            "method": f"Obuchowski-Rockette, readers and cases random (Hillis df), "
                      f"{analysis['n_readers']} readers"}
