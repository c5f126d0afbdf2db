"""The report of a reader study: per reader and pooled, unaided against aided.

For each reader, over the cases read in both phases: the ordinal BI-RADS ROC AUC and the AUC of
the probability answers, unaided and aided, as the app shows AUCs (logit DeLong CI; "too few
cases" below ``MIN_PER_CLASS`` malignant or benign); DeLong's paired test of the BI-RADS AUCs
(aided minus unaided), only from ``MIN_PER_CLASS`` cases of each class; accuracy, sensitivity,
specificity, PPV and NPV at one cut-off (BI-RADS 4A and above called malignant) with Wilson CIs
and McNemar's test of correctness; the decision-change ledger and the automation-bias rate (the
model's call: probability at or above its threshold). "Pooled" stacks every reader's paired
reads and treats them as independent; with two or more readers who finished both phases the
Obuchowski-Rockette multi-reader analysis (Hillis df, jackknife covariances) treats readers and
cases as random, and its test replaces the pooled DeLong test; the pooled McNemar test, which
has no multi-reader equivalent here, is then dropped. Every figure comes from ``core.stats``;
the paper's published reader figures stand beside ours.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from core.auth import STAFF_ROLES, User
from core.errors import UserError
from core.lexicon import called_malignant
from core.reads import DEFAULT_THRESHOLD, model_threshold, shown_sql
from core.stats.metrics import threshold_metrics
from core.stats.mrmc import as_paired_test, or_analysis
from core.stats.readers import automation_bias, birads_scores, change_ledger, reader_summary
from core.stats.roc import MIN_PER_CLASS, TooFewCases, paired_test, shown_auc
from core.store import Store
from core.studies.definitions import MODES, POOLED, ReaderResult, Study, StudyReport
from core.studies.protocol import get_study, reader_phase

PAIRED_METHOD = "DeLong, paired (one reader's cases)"
_READS = """
    SELECT s.user_id, coalesce(u.display_name, u.username) AS reader, r.case_id,
           CAST(c.label = 'malignant' AS INTEGER) AS truth, r.mode, r.birads, r.probability,
           r.descriptors, r.seconds, r.model_id, r.ai_prob,
           r.ai_threshold, r.checkpoint_sha256, r.created_at AS read_at
    FROM reads r JOIN quiz_sessions s ON s.session_id = r.session_id
    JOIN users u ON u.user_id = s.user_id JOIN cases c ON c.case_id = r.case_id
    WHERE s.study_id = ? AND s.kind IN ('study_unaided', 'study_aided') {only}
    ORDER BY s.user_id, r.read_id
"""


def paired_reads(reads: pd.DataFrame, ai_threshold: float) -> pd.DataFrame:
    """One row per reader and case read in both phases: truth, both reads, the model's
    probability as shown and its call at the threshold shown with it (``ai_threshold`` for
    reads stored before reads kept their threshold)."""
    columns = ["user_id", "reader", "case_id", "truth"]
    unaided = reads[reads["mode"] == "unaided"][columns + ["birads", "probability"]]
    aided = reads[reads["mode"] == "aided"][["user_id", "case_id", "birads", "probability",
                                             "ai_prob", "ai_threshold"]]
    pairs = unaided.merge(aided, on=["user_id", "case_id"], suffixes=("_unaided", "_aided"))
    shown = pairs["ai_threshold"].astype(float).fillna(ai_threshold)
    return pairs.assign(ai_called=(pairs["ai_prob"] >= shown).astype(int))


def analyse(pairs: pd.DataFrame, reader: str, user_id: int | None) -> ReaderResult:
    """The unaided-against-aided analysis of paired reads (see the module's docstring). The
    minimum for AUCs and their test counts distinct cases: pooled reads of four malignant
    cases are still four."""
    readers = int(pairs["user_id"].nunique())
    y = pairs["truth"].to_numpy(dtype=int)
    cases = pairs.drop_duplicates("case_id")["truth"]
    n_pos, n_neg = int(cases.sum()), int(len(cases) - cases.sum())
    so_far = f"so far {n_pos} malignant and {n_neg} benign"
    if min(n_pos, n_neg) == 0:
        return ReaderResult(reader, user_id, readers, len(y), note=(
            f"needs a malignant and a benign case read in both phases; {so_far}"))
    before, after = (pairs[f"birads_{mode}"] for mode in MODES)
    unaided = reader_summary(y, before, pairs["probability_unaided"])
    aided = reader_summary(y, after, pairs["probability_aided"])
    paired, note = None, None
    if min(n_pos, n_neg) >= MIN_PER_CLASS:
        paired = {**paired_test(y, birads_scores(after), birads_scores(before)).as_dict(),
                  "method": PAIRED_METHOD}
    else:
        note = (f"too few cases for AUCs and their paired test (needs {MIN_PER_CLASS} "
                f"malignant and {MIN_PER_CLASS} benign read in both phases; {so_far})")
        too_few = TooFewCases(n_pos, n_neg).as_dict()
        for summary in (unaided, aided):
            summary.update(birads_auc=too_few, probability_auc=too_few)
    ledger = change_ledger(y, called_malignant(before), called_malignant(after))
    bias = automation_bias(y, called_malignant(before), called_malignant(after),
                           pairs["ai_called"].to_numpy(), birads_scores(before),
                           birads_scores(after))
    return ReaderResult(reader, user_id, readers, len(y), unaided, aided, paired, ledger, bias,
                        note)


def _model_alone(store: Store, study: Study, threshold: float) -> dict[str, Any]:
    """The study's model on the study's cases it has an honest output for (never one it trained
    on): AUC (``shown_auc``: logit DeLong CI, or too few cases) and metrics at its threshold."""
    with store.read() as cur:
        rows = cur.execute(
            "SELECT CAST(c.label = 'malignant' AS INTEGER), p.prob_malignant FROM cases c"
            " JOIN predictions p ON p.case_id = c.case_id AND p.model_id = ?"
            f" WHERE {shown_sql()} AND c.case_id IN (SELECT unnest(?)) ORDER BY c.case_id",
            [study.model_id, list(study.case_ids)]).fetchall()
    if not rows:
        return {"n": 0}
    y, prob = (np.array(column) for column in zip(*rows))
    called = (prob >= threshold).astype(int)
    metrics = threshold_metrics(y, called)
    sens, spec = metrics["sensitivity"].value, metrics["specificity"].value
    return {"n": len(y), "n_pos": int(y.sum()), "n_neg": int(len(y) - y.sum()),
            "auc": shown_auc(y, prob).as_dict(),
            "metrics": {name: m.as_dict() for name, m in metrics.items()},
            "single_point_auc": (sens + spec) / 2, "threshold": threshold}


def shown_threshold(reads: pd.DataFrame, current: float) -> float:
    """The cut-off the aided reads were shown with, where they all share one; else (no aided
    read yet, reads stored before reads kept it, or a retrain during the study) ``current``,
    the model's cut-off now. Each read's own call always uses its own stored cut-off."""
    stored = reads.loc[reads["mode"] == "aided", "ai_threshold"].dropna().unique()
    return float(stored[0]) if len(stored) == 1 else current


def _threshold(store: Store, model_id: str) -> float:
    with store.read() as cur:
        threshold = model_threshold(cur, model_id)
    return DEFAULT_THRESHOLD if threshold is None else threshold


def study_reads(store: Store, study_id: int, user_id: int | None = None) -> pd.DataFrame:
    """Every read of the study (of one reader if ``user_id``) with the case's truth (1 for
    malignant) and the read's position in the reader's order for its phase."""
    only = "" if user_id is None else "AND s.user_id = ?"
    params = [study_id] if user_id is None else [study_id, user_id]
    with store.read() as cur:
        reads = cur.execute(_READS.format(only=only), params).df()
        orders = cur.execute("SELECT user_id, unaided_order, aided_order FROM study_readers"
                             " WHERE study_id = ?", [study_id]).fetchall()
    position = {(uid, mode, case_id): index
                for uid, *mode_orders in orders
                for mode, order in zip(MODES, mode_orders)
                for index, case_id in enumerate(json.loads(order), 1)}
    reads.insert(5, "position", [position.get(key) for key in zip(
        reads["user_id"], reads["mode"], reads["case_id"])])
    return reads


def _unique_names(rows: pd.DataFrame) -> pd.Series:
    """Readers' display names, with the user id added where two readers share a name."""
    names = rows.drop_duplicates("user_id").set_index("user_id")["reader"]
    shared = names[names.duplicated(keep=False)].index
    return pd.Series([f"{name} (#{uid})" if uid in shared else name
                      for uid, name in zip(rows["user_id"], rows["reader"])], index=rows.index)


def _mrmc(pairs: pd.DataFrame, total: int) -> tuple[dict[str, Any] | None, str]:
    complete = pairs.groupby("user_id")["case_id"].nunique()
    readers = complete[complete == total].index.tolist()
    if len(readers) < 2:
        return None, (f"The multi-reader analysis needs two or more readers who read every "
                      f"case in both phases; {len(readers)} so far.")
    rows = pairs[pairs["user_id"].isin(readers)]
    truth = rows.drop_duplicates("case_id")["truth"]
    if min(truth.sum(), len(truth) - truth.sum()) < MIN_PER_CLASS:
        return None, (f"The multi-reader analysis needs {MIN_PER_CLASS} malignant and "
                      f"{MIN_PER_CLASS} benign cases; this study has {truth.sum()} malignant "
                      f"and {len(truth) - truth.sum()} benign.")
    long = pd.concat([pd.DataFrame({"reader": _unique_names(rows), "modality": mode,
                                    "case": rows["case_id"], "truth": rows["truth"],
                                    "rating": birads_scores(rows[f"birads_{mode}"])})
                      for mode in MODES], ignore_index=True)
    analysis = or_analysis(long, cov="jackknife")
    return analysis, (f"Obuchowski-Rockette analysis of the BI-RADS ratings of the {len(readers)} "
                      f"readers who read all {total} cases in both phases (Hillis df, jackknife "
                      f"covariances); diff = {analysis['diff_of']}.")


def _with_mrmc_test(pooled: ReaderResult, mrmc: dict[str, Any]) -> ReaderResult:
    """The pooled result with the multi-reader test of aided against unaided in place of the
    pooled DeLong test, and without the pooled McNemar test (both treat the readers' reads as
    independent; the ledger's counts stay)."""
    ledger = {**pooled.ledger, "mcnemar": None} if pooled.ledger else pooled.ledger
    return replace(pooled, paired=as_paired_test(mrmc, "aided", "unaided"), ledger=ledger)


def study_report(store: Store, study_id: int, viewer: User) -> StudyReport:
    """The study's report (supervisors and admins only)."""
    if viewer.role not in STAFF_ROLES:
        raise UserError("only supervisors and admins can see a study's report")
    study = get_study(store, study_id)
    reads = study_reads(store, study_id)
    threshold = shown_threshold(reads, _threshold(store, study.model_id))
    pairs = paired_reads(reads, threshold)
    results = [analyse(pairs[pairs["user_id"] == user_id], name, user_id)
               for user_id, name in _reader_names(store, study).items()]
    pooled = analyse(pairs, POOLED, None)
    mrmc, note = _mrmc(pairs, len(study.case_ids))
    if mrmc is not None:
        pooled = _with_mrmc_test(pooled, mrmc)
    results.append(pooled)
    return StudyReport(study, reads, results, _model_alone(store, study, threshold), mrmc, note,
                       threshold)


def _reader_names(store: Store, study: Study) -> dict[int, str]:
    with store.read() as cur:
        names = dict(cur.execute("SELECT user_id, coalesce(display_name, username) FROM users"
                                 " WHERE user_id IN (SELECT unnest(?))",
                                 [list(study.reader_ids)]).fetchall())
    return {user_id: names[user_id] for user_id in study.reader_ids}


def own_result(store: Store, study_id: int, user: User) -> ReaderResult:
    """A reader's own result, once they have read every case in both phases."""
    if reader_phase(store, study_id, user.user_id).phase != "done":
        raise UserError("your results open once you have read every case in both phases")
    study = get_study(store, study_id)
    pairs = paired_reads(study_reads(store, study_id, user.user_id),
                         _threshold(store, study.model_id))
    return analyse(pairs, user.display_name, user.user_id)
