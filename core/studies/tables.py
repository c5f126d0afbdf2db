"""A reader study's report as tables: raw numbers for CSV (:func:`report_frames`) and the same
figures as text for the page and the printable report (:func:`display_tables`)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.lexicon import called_malignant
from core.stats.roc import MIN_PER_CLASS
from core.studies.definitions import METRICS, MODEL_ALONE, POOLED_NOTE, PUBLISHED_READER, \
    SINGLE_POINT_NOTE, ReaderResult, StudyReport

DASH = "—"
METRIC_TITLES = {"accuracy": "Accuracy", "sensitivity": "Sensitivity",
                 "specificity": "Specificity", "precision": "PPV", "npv": "NPV"}


@dataclass(frozen=True)
class Table:
    """One table of the report as shown: ``key`` names it (CSV file, widget keys)."""

    key: str
    title: str
    frame: pd.DataFrame
    caption: str


# ---- raw numbers ---------------------------------------------------------------------------

def _ci(values: list[float] | None) -> tuple[float, float]:
    return (math.nan, math.nan) if not values else (values[0], values[1])


def _auc_columns(name: str, auc: dict[str, Any] | None) -> dict[str, Any]:
    """An AUC dict (``AucResult``/``TooFewCases.as_dict()``) as columns: the value, its CI
    and ``_too_few``, the reason there is none."""
    auc = auc or {}
    low, high = _ci(auc.get("ci"))
    return {name: auc.get("auc", math.nan), f"{name}_low": low, f"{name}_high": high,
            f"{name}_too_few": auc.get("too_few")}


def _summary_row(result: ReaderResult, phase: str, summary: dict[str, Any]) -> dict[str, Any]:
    row = {"reader": result.reader, "user_id": result.user_id, "phase": phase,
           "n": summary["n"], "n_pos": summary["n_pos"], "n_neg": summary["n_neg"]}
    for name in ("birads_auc", "probability_auc"):
        row.update(_auc_columns(name, summary.get(name)))
    row["single_point_auc"] = summary["single_point_auc"]["value"]
    for name in METRICS:
        metric = summary["metrics"][name]
        row.update({name: metric["value"], f"{name}_low": metric["ci_low"],
                    f"{name}_high": metric["ci_high"], f"{name}_k": metric["k"],
                    f"{name}_n": metric["n"]})
    return row


def _model_row(report: StudyReport) -> dict[str, Any] | None:
    model = report.model
    if not model.get("n"):
        return None
    summary = {"n": model["n"], "n_pos": model["n_pos"], "n_neg": model["n_neg"],
               "probability_auc": model["auc"], "metrics": model["metrics"],
               "single_point_auc": {"value": model["single_point_auc"]}}
    return _summary_row(ReaderResult(f"Model {report.study.model_id}", None, 0, model["n"]),
                        MODEL_ALONE, summary)


def summary_frame(report: StudyReport) -> pd.DataFrame:
    """One row per reader (and pooled) and phase, then the model alone on the study's cases."""
    rows = [_summary_row(result, phase, getattr(result, phase))
            for result in report.results if result.unaided
            for phase in ("unaided", "aided")]
    model = _model_row(report)
    return pd.DataFrame(rows + ([model] if model else []))


def tests_frame(report: StudyReport) -> pd.DataFrame:
    """Per reader (and pooled): the test of the BI-RADS AUCs (aided minus unaided; its
    ``auc_test_method``: DeLong's paired test, or for the pooled reads the multi-reader
    analysis's once it exists) and McNemar's test of correctness (b: right only aided, c: right
    only unaided; NaN where the multi-reader analysis replaced the pooled tests)."""
    rows = []
    for result in report.results:
        if not result.paired:
            continue
        paired, test = result.paired, result.ledger["mcnemar"] or {}
        rows.append({"reader": result.reader, "user_id": result.user_id,
                     "n_cases": result.n_cases, "birads_auc_unaided": paired["auc_b"],
                     "birads_auc_aided": paired["auc_a"], "auc_diff": paired["diff"],
                     "auc_diff_low": paired["ci_low"], "auc_diff_high": paired["ci_high"],
                     "auc_test_method": paired["method"], "auc_test_z": paired["z"],
                     "auc_test_p": paired["p"],
                     "accuracy_unaided": result.unaided["metrics"]["accuracy"]["value"],
                     "accuracy_aided": result.aided["metrics"]["accuracy"]["value"],
                     "mcnemar_b": result.ledger["helpful"], "mcnemar_c": result.ledger["harmful"],
                     **{f"mcnemar_{name}": test.get(key, math.nan) for name, key in
                        (("chi2", "chi2"), ("p", "p_corrected"), ("p_exact", "p_exact"))}})
    return pd.DataFrame(rows)


LEDGER_COLUMNS = ("helpful_fn_to_tp", "helpful_fp_to_tn", "harmful_tp_to_fn", "harmful_tn_to_fp",
                  "unchanged", "helpful", "harmful", "net_helpful", "n")


def ledger_frame(report: StudyReport) -> pd.DataFrame:
    """The decision-change ledger per reader (and pooled)."""
    return pd.DataFrame([{"reader": r.reader, "user_id": r.user_id,
                          **{name: r.ledger[name] for name in LEDGER_COLUMNS}}
                         for r in report.results if r.ledger])


def _share_columns(prefix: str, share: dict[str, Any]) -> dict[str, Any]:
    low, high = share["ci"]
    return {f"{prefix}rate": share["rate"], f"{prefix}k": share["k"], f"{prefix}n": share["n"],
            f"{prefix}low": low, f"{prefix}high": high}


def bias_frame(report: StudyReport) -> pd.DataFrame:
    """Automation bias per reader (and pooled): following the model when it was wrong (all
    AI-wrong cases; only those where the unaided call differed), when it was right, and
    BI-RADS moved toward the wrong model."""
    rows = []
    for r in report.results:
        if not r.bias:
            continue
        rows.append({"reader": r.reader, "user_id": r.user_id, **_share_columns("", r.bias),
                     **_share_columns("disagreed_", r.bias["among_disagreed"]),
                     **_share_columns("ai_right_", r.bias["ai_right"]),
                     **_share_columns("rating_", r.bias["rating_level"])})
    return pd.DataFrame(rows)


def mrmc_frame(report: StudyReport) -> pd.DataFrame:
    """The multi-reader analysis: each phase's mean AUC with its CI (random readers and
    cases), each reader's AUC, then the difference with its F test."""
    analysis = report.mrmc
    if analysis is None:
        return pd.DataFrame()
    rows = []
    for phase in ("unaided", "aided"):
        part = analysis["modality"][phase]
        rows.append({"row": f"{phase}: mean AUC", "estimate": part["auc"],
                     "low": part["ci"][0], "high": part["ci"][1], "df": part["df"]})
        rows += [{"row": f"{phase}: {reader}", "estimate": auc}
                 for reader, auc in analysis["auc"][phase].items()]
    rows.append({"row": f"difference ({analysis['diff_of']})", "estimate": analysis["diff"],
                 "low": analysis["ci"][0], "high": analysis["ci"][1], "f": analysis["f"],
                 "df_num": analysis["df_num"], "df": analysis["df_den"], "p": analysis["p"]})
    fixed = analysis["fixed_readers"]
    rows.append({"row": "difference, readers fixed", "estimate": analysis["diff"],
                 "low": fixed["ci"][0], "high": fixed["ci"][1], "chi2": fixed["chi2"],
                 "df_num": fixed["df"], "p": fixed["p"]})
    return pd.DataFrame(rows)


def published_frame(report: StudyReport) -> pd.DataFrame:
    """The paper's reader beside ours: single-point (sens+spec)/2, accuracy, sensitivity,
    specificity, and (ours only) the ordinal BI-RADS AUC with its logit DeLong CI."""
    rows = [{"source": "paper", "reader": PUBLISHED_READER["reader"], "phase": phase,
             "n": PUBLISHED_READER["n"], **PUBLISHED_READER[phase],
             **_auc_columns("birads_auc", None)}
            for phase in ("unaided", "aided")]
    for result in report.results:
        if not result.unaided:
            continue
        for phase in ("unaided", "aided"):
            summary = getattr(result, phase)
            rows.append({"source": "this study", "reader": result.reader, "phase": phase,
                         "n": summary["n"],
                         "single_point_auc": summary["single_point_auc"]["value"],
                         **{name: summary["metrics"][name]["value"]
                            for name in ("accuracy", "sensitivity", "specificity")},
                         **_auc_columns("birads_auc", summary["birads_auc"])})
    return pd.DataFrame(rows)


def reads_frame(report: StudyReport) -> pd.DataFrame:
    """Every read with its truth, its call at BI-RADS 4A and, for aided reads, the model's
    at the threshold shown with the read."""
    reads = report.reads.copy()
    reads["called_malignant"] = called_malignant(reads["birads"])
    aided = reads["mode"] == "aided"
    shown = reads["ai_threshold"].astype(float).fillna(report.ai_threshold)
    reads["ai_called_malignant"] = pd.array(
        [int(p >= t) if a else None for p, t, a in zip(reads["ai_prob"], shown, aided)],
        dtype="Int64")
    return reads


def report_frames(report: StudyReport) -> dict[str, pd.DataFrame]:
    """Every table of the report as raw numbers, by name (one CSV file each)."""
    frames = {"reads": reads_frame(report), "summary": summary_frame(report),
              "tests": tests_frame(report), "ledger": ledger_frame(report),
              "automation_bias": bias_frame(report), "published": published_frame(report)}
    if report.mrmc is not None:
        frames["mrmc"] = mrmc_frame(report)
    return frames


# ---- as text -------------------------------------------------------------------------------

def fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{value:.{digits}f}"


def fmt_ci(value: float, low: float, high: float, digits: int = 3) -> str:
    if value is None or math.isnan(value):
        return DASH
    if math.isnan(low) or math.isnan(high):
        return fmt(value, digits)
    return f"{value:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def fmt_pct(value: float, low: float | None = None, high: float | None = None,
            k: int | None = None, n: int | None = None) -> str:
    if value is None or math.isnan(value):
        return DASH
    text = f"{value:.1%}"
    if low is not None and not math.isnan(low):
        text += f" ({low:.1%}–{high:.1%})"
    if k is not None and n:
        text += f" {k}/{n}"
    return text


def fmt_p(p: float) -> str:
    if p is None or math.isnan(p):
        return DASH
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _summary_text(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    shown = pd.DataFrame({
        "Reader": frame["reader"], "Phase": frame["phase"],
        "Cases (malignant/benign)": [f"{n} ({p}/{b})" for n, p, b in
                                     zip(frame["n"], frame["n_pos"], frame["n_neg"])],
        **{f"{title} AUC (95% CI)": _auc_texts(frame, name)
           for title, name in (("BI-RADS", "birads_auc"), ("Probability", "probability_auc"))},
        "Single-point (sens+spec)/2": [fmt(v) for v in frame["single_point_auc"]]})
    for name in METRICS:
        shown[f"{METRIC_TITLES[name]} (95% CI)"] = [fmt_pct(*v) for v in zip(
            frame[name], frame[f"{name}_low"], frame[f"{name}_high"], frame[f"{name}_k"],
            frame[f"{name}_n"])]
    return shown


def _auc_texts(frame: pd.DataFrame, name: str) -> list[str]:
    """An AUC column as text: the value and its CI, or why there is none ("too few cases")."""
    return [too_few if isinstance(too_few, str) else fmt_ci(*v) for too_few, *v in zip(
        frame[f"{name}_too_few"], frame[name], frame[f"{name}_low"], frame[f"{name}_high"])]


def _tests_text(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    return pd.DataFrame({
        "Reader": frame["reader"], "Cases": frame["n_cases"],
        "BI-RADS AUC unaided → aided": [f"{fmt(a)} → {fmt(b)}" for a, b in
                                        zip(frame["birads_auc_unaided"],
                                            frame["birads_auc_aided"])],
        "Difference (95% CI)": [fmt_ci(*v) for v in zip(
            frame["auc_diff"], frame["auc_diff_low"], frame["auc_diff_high"])],
        "p (AUC test)": [fmt_p(p) for p in frame["auc_test_p"]],
        "AUC test": frame["auc_test_method"],
        "Accuracy unaided → aided": [f"{fmt_pct(a)} → {fmt_pct(b)}" for a, b in
                                     zip(frame["accuracy_unaided"], frame["accuracy_aided"])],
        "McNemar b / c": [f"{b} / {c}" for b, c in zip(frame["mcnemar_b"], frame["mcnemar_c"])],
        "McNemar p (exact)": [fmt_p(p) for p in frame["mcnemar_p_exact"]]})


def _ledger_text(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    return pd.DataFrame({
        "Reader": frame["reader"], "Helpful FN → TP": frame["helpful_fn_to_tp"],
        "Helpful FP → TN": frame["helpful_fp_to_tn"],
        "Harmful TP → FN": frame["harmful_tp_to_fn"],
        "Harmful TN → FP": frame["harmful_tn_to_fp"], "Unchanged": frame["unchanged"],
        "Net helpful": frame["net_helpful"], "Cases": frame["n"]})


def _bias_text(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame

    def share(prefix: str) -> list[str]:
        return [fmt_pct(*v) for v in zip(frame[f"{prefix}rate"], frame[f"{prefix}low"],
                                         frame[f"{prefix}high"], frame[f"{prefix}k"],
                                         frame[f"{prefix}n"])]

    return pd.DataFrame({
        "Reader": frame["reader"], "Followed the model when it was wrong": share(""),
        "… among cases where the unaided call differed": share("disagreed_"),
        "Followed the model when it was right": share("ai_right_"),
        "BI-RADS moved toward a wrong model": share("rating_")})


def _mrmc_text(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    return pd.DataFrame({
        "Quantity": frame["row"],
        "Estimate (95% CI)": [fmt_ci(*v) for v in zip(
            frame["estimate"], frame.get("low", pd.Series(math.nan, frame.index)),
            frame.get("high", pd.Series(math.nan, frame.index)))],
        "Test": [_test_text(row) for _, row in frame.iterrows()]})


def _test_text(row: pd.Series) -> str:
    if not pd.isna(row.get("f", math.nan)):
        return (f"F = {row['f']:.3f} on ({row['df_num']:.0f}, {row['df']:.1f}) df, "
                f"p {fmt_p(row['p'])}")
    if not pd.isna(row.get("chi2", math.nan)):
        return f"χ² = {row['chi2']:.3f} on {row['df_num']:.0f} df, p {fmt_p(row['p'])}"
    return ""


def _published_text(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Source": frame["source"], "Reader": frame["reader"], "Phase": frame["phase"],
        "Cases": frame["n"],
        "Single-point (sens+spec)/2": [fmt(v) for v in frame["single_point_auc"]],
        **{METRIC_TITLES[name]: [fmt_pct(v) for v in frame[name]]
           for name in ("accuracy", "sensitivity", "specificity")},
        "BI-RADS AUC (95% CI)": [text if source != "paper" else "not reported" for source, text
                                 in zip(frame["source"], _auc_texts(frame, "birads_auc"))]})


def display_tables(report: StudyReport) -> list[Table]:
    """The report's tables as text, in the order shown, with what each one means."""
    frames = report_frames(report)
    tables = [
        Table("published", "The paper's reader beside ours", _published_text(frames["published"]),
              SINGLE_POINT_NOTE),
        Table("summary", "Unaided against aided, per reader",
              _summary_text(frames["summary"]),
              "Over the cases each reader read in both phases; BI-RADS 4A and above called "
              "malignant; proportions with Wilson 95% CIs, AUCs with logit DeLong 95% CIs; the "
              f"model alone at its threshold ({report.ai_threshold:.2f}) on every study case. "
              + POOLED_NOTE),
        Table("tests", "Paired tests", _tests_text(frames["tests"]),
              "The test of the BI-RADS AUCs (difference = aided − unaided): DeLong's paired "
              "test per reader; for the pooled reads, once two readers have finished, the "
              "multi-reader analysis's F test (readers and cases random), and no McNemar p. "
              "McNemar's test of correct calls (b: right only aided, c: right only unaided). "
              f"No AUC test below {MIN_PER_CLASS} malignant and {MIN_PER_CLASS} benign cases."),
        Table("ledger", "Decision changes", _ledger_text(frames["ledger"]),
              "How the call (BI-RADS 4A and above = malignant) changed from the unaided to the "
              "aided read of the same case."),
        Table("automation_bias", "Automation bias", _bias_text(frames["automation_bias"]),
              "Of the cases where the model's call was wrong, the share where the reader "
              "changed their call to the model's (Wilson 95% CI, k/n); beside it the same share "
              "when the model was right, and how often the BI-RADS moved toward a wrong "
              "model."),
    ]
    tables.append(Table("mrmc", "Multi-reader analysis",
                        _mrmc_text(frames.get("mrmc", pd.DataFrame())), report.mrmc_note))
    return tables
