"""Trainee progress: learning curves of one trainee and the cohort table for supervisors.

Only practice-quiz reads count (reader-study reads are analysed by the study). A trainee may
see only their own data; supervisors and admins see everybody's (:func:`check_access`).

Learning curve: the Bernoulli CUSUM of unaided wrong calls (BI-RADS 4A and above called
malignant) with an acceptable error rate of 20 % and an unacceptable one of 40 % (alpha = beta
= 0.05). A trainee is flagged as struggling, once they have read at least 20 cases unaided, when
the CUSUM's latest signal is "unacceptable" or when the upper end of the 95 % Wilson interval
of their unaided accuracy over their last 50 cases is below 70 %.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from core.auth import STAFF_ROLES, User
from core.errors import UserError
from core.lexicon import BIRADS_CATEGORIES, called_malignant
from core.quiz.scoring import PhaseSummary, phase_summary
from core.shown_model import quiz_model
from core.stats.curves import cusum, rolling_metrics
from core.stats.metrics import threshold_metrics, wilson_ci
from core.stats.readers import change_ledger
from core.stats.roc import AucResult, TooFewCases, auc_text, shown_auc
from core.store import Store

ACCEPTABLE_ERROR = 0.20
UNACCEPTABLE_ERROR = 0.40
MIN_READS_TO_FLAG = 20
RECENT_READS = 50
ACCURACY_FLOOR = 0.70
MODES = ("unaided", "aided")
BIRADS_RANKS = {category: rank for rank, category in enumerate(BIRADS_CATEGORIES)}


def check_access(viewer: User, user_id: int) -> None:
    """Refuse a trainee who asks for anybody's data but their own."""
    if viewer.role not in STAFF_ROLES and viewer.user_id != user_id:
        raise UserError("a trainee can see only their own progress")


def _require_supervisor(viewer: User) -> None:
    if viewer.role not in STAFF_ROLES:
        raise UserError("only supervisors and admins can see the cohort")


_READS = (
    "SELECT r.user_id, r.read_id, r.session_id, r.case_id, r.mode, r.birads, r.probability,"
    " r.seconds, r.model_id, r.created_at, c.label FROM reads r JOIN cases c USING (case_id)"
    " JOIN quiz_sessions s USING (session_id)"
    " WHERE s.kind = 'practice' AND c.label IN ('benign', 'malignant')")


def _with_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds truth (1 malignant), pred (1 called malignant: BI-RADS 4A or above), score (BI-RADS
    rank, as ``core.stats.readers.birads_scores``) and correct."""
    truth = (frame["label"] == "malignant").astype(int)
    score = frame["birads"].map(BIRADS_RANKS).astype(float)
    pred = called_malignant(frame["birads"])
    return frame.assign(truth=truth, pred=pred, score=score, correct=(truth == pred).astype(int))


def trainee_reads(store: Store, viewer: User, user_id: int) -> pd.DataFrame:
    """A user's practice reads in the order made, with truth, call, BI-RADS rank, correct."""
    check_access(viewer, user_id)
    with store.read() as cur:
        frame = cur.execute(_READS + " AND r.user_id = ? ORDER BY r.read_id", [user_id]).df()
    return _with_scores(frame)


def curves(reads: pd.DataFrame, window: int = 20, by: str = "attempt") -> pd.DataFrame:
    """Rolling accuracy, sensitivity, specificity and BI-RADS AUC with CIs, for each mode
    (column ``mode``); ``by`` "attempt" (x = position) or "date" (window in days)."""
    parts = [rolling_metrics(reads[reads["mode"] == mode], window=window, by=by)
             .assign(mode=mode) for mode in MODES if (reads["mode"] == mode).any()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def learning_curve(reads: pd.DataFrame) -> pd.DataFrame:
    """The CUSUM of unaided wrong calls (see the module's docstring)."""
    unaided = reads[reads["mode"] == "unaided"]
    return cusum(1 - unaided["correct"].to_numpy(), ACCEPTABLE_ERROR, UNACCEPTABLE_ERROR)


@dataclass(frozen=True)
class ModelLevel:
    """The quiz model's performance on the cases a trainee read (a reference line). ``auc`` is
    NaN, and ``auc_text`` says so, with too few cases of a class (``shown_auc``)."""

    model_id: str
    n: int
    accuracy: float
    sensitivity: float
    specificity: float
    auc: float
    auc_low: float
    auc_high: float
    auc_text: str


def model_level(store: Store, reads: pd.DataFrame) -> ModelLevel | None:
    """How the model the quiz shows does on the same cases (None without model or cases)."""
    model_id = quiz_model(store).model_id
    case_ids = sorted(set(reads["case_id"].tolist())) if len(reads) else []
    if model_id is None or not case_ids:
        return None
    with store.read() as cur:
        threshold = cur.execute("SELECT coalesce(threshold, 0.5) FROM models WHERE model_id = ?",
                                [model_id]).fetchone()[0]
        rows = cur.execute(
            "SELECT p.prob_malignant, c.label = 'malignant' FROM predictions p"
            " JOIN cases c USING (case_id) WHERE p.model_id = ?"
            " AND p.case_id IN (SELECT unnest(?))", [model_id, case_ids]).fetchall()
    if not rows:
        return None
    prob = np.array([p for p, _ in rows])
    truth = np.array([int(m) for _, m in rows])
    metrics = threshold_metrics(truth, (prob >= threshold).astype(int))
    auc = shown_auc(truth, prob)
    return ModelLevel(model_id, len(rows), metrics["accuracy"].value,
                      metrics["sensitivity"].value, metrics["specificity"].value,
                      *_auc_numbers(auc), auc_text(auc, 2))


def _auc_numbers(auc: AucResult | TooFewCases | None) -> tuple[float, float, float]:
    """(AUC, low, high); NaN for too few cases or none."""
    if isinstance(auc, AucResult):
        return auc.auc, auc.ci_low, auc.ci_high
    return np.nan, np.nan, np.nan


def _phase(part: pd.DataFrame) -> PhaseSummary:
    """The quiz's phase summary, its BI-RADS AUC as the app shows AUCs (``shown_auc``)."""
    seconds = [None if np.isnan(value) else float(value)
               for value in part["seconds"].to_numpy(dtype=float)]
    summary = phase_summary(part["truth"].tolist(), part["birads"].tolist(), seconds)
    return replace(summary, birads_auc=shown_auc(part["truth"], part["score"]))


def phases(reads: pd.DataFrame) -> dict[str, PhaseSummary]:
    """Unaided and aided summaries over all of a trainee's reads (modes without reads left out)."""
    return {mode: _phase(part) for mode in MODES
            if len(part := reads[reads["mode"] == mode])}


@dataclass(frozen=True)
class Flag:
    struggling: bool
    reason: str


def _flag(correct: np.ndarray) -> Flag:
    """The struggling flag from the unaided reads' correctness (1 right, 0 wrong), in order."""
    if len(correct) < MIN_READS_TO_FLAG:
        return Flag(False, f"fewer than {MIN_READS_TO_FLAG} cases read")
    signals = [s for s in cusum(1 - correct, ACCEPTABLE_ERROR, UNACCEPTABLE_ERROR)["signal"]
               if s]
    if signals and signals[-1] == "unacceptable":
        return Flag(True, f"the learning curve signals an error rate near "
                          f"{UNACCEPTABLE_ERROR:.0%}")
    recent = correct[-RECENT_READS:]
    high = wilson_ci(int(recent.sum()), len(recent))[1]
    if high < ACCURACY_FLOOR:
        return Flag(True, f"accuracy over the last {len(recent)} cases is below "
                          f"{ACCURACY_FLOOR:.0%} (95% CI up to {high:.0%})")
    return Flag(False, "")


def struggling(reads: pd.DataFrame) -> Flag:
    """The struggling flag and its reason in plain words (see the module's docstring)."""
    return _flag(reads.loc[reads["mode"] == "unaided", "correct"].to_numpy(dtype=int))


def trainees(store: Store, viewer: User) -> list[User]:
    """Every trainee account (supervisors and admins only)."""
    _require_supervisor(viewer)
    with store.read() as cur:
        rows = cur.execute("SELECT user_id, username, coalesce(display_name, username), role"
                           " FROM users WHERE role = 'trainee' ORDER BY username").fetchall()
    return [User(*row) for row in rows]


def _paired_change(unaided: pd.DataFrame, aided: pd.DataFrame) -> tuple[float, int, int]:
    """(aided minus unaided accuracy, helpful, harmful changes) over cases read both ways."""
    first = dict(zip(zip(unaided["session_id"], unaided["case_id"]),
                     zip(unaided["truth"], unaided["pred"])))
    pairs = [(*first[key], pred) for key, pred in
             zip(zip(aided["session_id"], aided["case_id"]), aided["pred"]) if key in first]
    if not pairs:
        return float("nan"), 0, 0
    truth, before, after = (np.array(column) for column in zip(*pairs))
    ledger = change_ledger(truth, before, after)
    return (float(np.mean(after == truth) - np.mean(before == truth)), ledger["helpful"],
            ledger["harmful"])


def _estimate_columns(prefix: str, summary: PhaseSummary | None) -> dict[str, float | str]:
    columns: dict[str, float] = {}
    for name in ("accuracy", "sensitivity", "specificity"):
        estimate = getattr(summary, name) if summary else None
        columns[f"{prefix}_{name}"] = estimate.value if estimate else np.nan
        columns[f"{prefix}_{name}_lo"] = estimate.ci_low if estimate else np.nan
        columns[f"{prefix}_{name}_hi"] = estimate.ci_high if estimate else np.nan
    auc = summary.birads_auc if summary else None
    (columns[f"{prefix}_birads_auc"], columns[f"{prefix}_birads_auc_lo"],
     columns[f"{prefix}_birads_auc_hi"]) = _auc_numbers(auc)
    columns[f"{prefix}_birads_auc_text"] = auc_text(auc, 2) if auc else "-"
    return columns


def cohort_table(store: Store, viewer: User) -> pd.DataFrame:
    """One row per trainee: cases read, last active, unaided and aided metrics with 95% CIs,
    the change from unaided to aided accuracy on the same cases, and the struggling flag."""
    people = trainees(store, viewer)
    with store.read() as cur:
        every = _with_scores(cur.execute(_READS + " ORDER BY r.read_id").df())
    groups = dict(tuple(every.groupby(["user_id", "mode"]))) if len(every) else {}
    rows = []
    for person in people:
        unaided = groups.get((person.user_id, "unaided"), every.iloc[:0])
        aided = groups.get((person.user_id, "aided"), every.iloc[:0])
        change, helpful, harmful = _paired_change(unaided, aided)
        flag = _flag(unaided["correct"].to_numpy(dtype=int))
        active = [part["created_at"].max() for part in (unaided, aided) if len(part)]
        rows.append({"user_id": person.user_id, "trainee": person.display_name,
                     "cases_read": len(unaided), "last_active": max(active, default=None),
                     **_estimate_columns("unaided", _phase(unaided) if len(unaided) else None),
                     **_estimate_columns("aided", _phase(aided) if len(aided) else None),
                     "accuracy_change": change, "helpful_changes": helpful,
                     "harmful_changes": harmful, "struggling": flag.struggling,
                     "flag_reason": flag.reason})
    return pd.DataFrame(rows)


def compare(store: Store, viewer: User, user_ids: list[int], metric: str = "accuracy",
            mode: str = "unaided", window: int = 20) -> pd.DataFrame:
    """Rolling ``metric`` of several trainees for one mode, long format with a ``trainee``
    column (supervisors and admins only)."""
    _require_supervisor(viewer)
    names = {person.user_id: person.display_name for person in trainees(store, viewer)}
    parts = []
    for user_id in user_ids:
        if user_id not in names:
            raise UserError(f"no trainee with id {user_id}")
        reads = trainee_reads(store, viewer, user_id)
        reads = reads[reads["mode"] == mode]
        if len(reads):
            frame = rolling_metrics(reads, window=window)
            parts.append(frame[["position", metric, f"{metric}_lo", f"{metric}_hi"]]
                         .assign(trainee=names[user_id]))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
