"""Trainee progress: learning curves of one trainee and the cohort table for supervisors.

Only practice-quiz reads count in the curves and metrics (reader-study reads are analysed by
the study); the cohort table counts a trainee's study reads apart. A trainee may
see only their own data; supervisors and admins see everybody's (:func:`check_access`).

Learning curve: the Bernoulli CUSUM of unaided wrong calls (BI-RADS 4A and above called
malignant) with an acceptable error rate of 20 % and an unacceptable one of 40 % (alpha = beta
= 0.05). A trainee is flagged as struggling, once they have read at least 20 cases unaided, when
the CUSUM's latest signal is "unacceptable" or when the upper end of the 95 % Wilson interval
of their unaided accuracy over their last 50 cases is below 70 %.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.auth import STAFF_ROLES, User
from core.errors import UserError
from core.lexicon import BIRADS_CATEGORIES, called_malignant, calls_malignant
from core.quiz.scoring import PhaseSummary, phase_summary
from core.reads import ai_outputs
from core.shown_model import quiz_model
from core.stats.curves import cusum, last_signal, rolling_metrics
from core.stats.metrics import threshold_metrics, wilson_arrays, wilson_ci
from core.stats.roc import (MIN_PER_CLASS, AucResult, TooFewCases, auc_from_counts, auc_text,
                            logit_cis, shown_auc)
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
    """How the model the quiz shows does on the same cases, counting only outputs it could
    honestly show (never a case it trained on; None without model or such cases)."""
    model_id = quiz_model(store).model_id
    case_ids = sorted(set(reads["case_id"].tolist())) if len(reads) else []
    if model_id is None or not case_ids:
        return None
    with store.read() as cur:
        outputs = ai_outputs(cur, model_id, case_ids)
        labels = dict(cur.execute("SELECT case_id, label = 'malignant' FROM cases"
                                  " WHERE case_id IN (SELECT unnest(?))",
                                  [sorted(outputs)]).fetchall())
    if not outputs:
        return None
    prob = np.array([output.probability for output in outputs.values()])
    truth = np.array([int(labels[case_id]) for case_id in outputs])
    called = np.array([int(output.malignant) for output in outputs.values()])
    metrics = threshold_metrics(truth, called)
    auc = shown_auc(truth, prob)
    return ModelLevel(model_id, len(outputs), metrics["accuracy"].value,
                      metrics["sensitivity"].value, metrics["specificity"].value,
                      *_auc_numbers(auc), auc_text(auc, 2))


def _auc_numbers(auc: AucResult | TooFewCases | None) -> tuple[float, float, float]:
    """(AUC, low, high); NaN for too few cases or none."""
    if isinstance(auc, AucResult):
        return auc.auc, auc.ci_low, auc.ci_high
    return np.nan, np.nan, np.nan


def _phase(part: pd.DataFrame) -> PhaseSummary:
    """The quiz's phase summary of a trainee's reads in one mode."""
    seconds = [None if np.isnan(value) else float(value)
               for value in part["seconds"].to_numpy(dtype=float)]
    return phase_summary(part["truth"].tolist(), part["birads"].tolist(), seconds)


def phases(reads: pd.DataFrame) -> dict[str, PhaseSummary]:
    """Unaided and aided summaries over all of a trainee's reads (modes without reads left out)."""
    return {mode: _phase(part) for mode in MODES
            if len(part := reads[reads["mode"] == mode])}


@dataclass(frozen=True)
class Flag:
    struggling: bool
    reason: str
    short: str = ""  # the reason in two or three words, for a narrow table column


def _flag(correct: np.ndarray) -> Flag:
    """The struggling flag from the unaided reads' correctness (1 right, 0 wrong), in order."""
    if len(correct) < MIN_READS_TO_FLAG:
        return Flag(False, f"fewer than {MIN_READS_TO_FLAG} cases read")
    if last_signal(1 - correct, ACCEPTABLE_ERROR, UNACCEPTABLE_ERROR) == "unacceptable":
        return Flag(True, f"the learning curve signals an error rate near "
                          f"{UNACCEPTABLE_ERROR:.0%}", "learning curve")
    recent = correct[-RECENT_READS:]
    high = wilson_ci(int(recent.sum()), len(recent))[1]
    if high < ACCURACY_FLOOR:
        return Flag(True, f"accuracy over the last {len(recent)} cases is below "
                          f"{ACCURACY_FLOOR:.0%} (95% CI up to {high:.0%})",
                    "recent accuracy")
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


_POSITIVE = tuple(filter(calls_malignant, BIRADS_CATEGORIES))
_PRACTICE = ("FROM reads r JOIN cases c USING (case_id) JOIN quiz_sessions s USING (session_id)"
             " WHERE s.kind = 'practice' AND c.label IN ('benign', 'malignant')")
_LEVEL_COUNTS = (  # reads per trainee, mode, truth and BI-RADS: every metric comes from these
    "SELECT r.user_id, r.mode, (c.label = 'malignant')::INTEGER AS truth, r.birads,"
    " count(*) AS n " + _PRACTICE + " GROUP BY ALL")
_ACTIVITY = ("SELECT r.user_id, r.mode, max(r.created_at) AS last_active " + _PRACTICE +
             " GROUP BY ALL")
_CHANGES = (  # unaided and aided reads of the same case in the same session
    "WITH calls AS (SELECT r.user_id, r.session_id, r.case_id, r.mode,"
    "  (c.label = 'malignant') AS truth, list_contains(?, r.birads) AS called " + _PRACTICE + ")"
    " SELECT u.user_id, count(*) AS pairs,"
    "  sum((a.called = a.truth)::INTEGER) - sum((u.called = u.truth)::INTEGER) AS gained,"
    "  sum((u.called <> u.truth AND a.called = a.truth)::INTEGER) AS helpful,"
    "  sum((u.called = u.truth AND a.called <> a.truth)::INTEGER) AS harmful"
    " FROM calls u JOIN calls a ON a.session_id = u.session_id AND a.case_id = u.case_id"
    "  AND a.mode = 'aided' WHERE u.mode = 'unaided' GROUP BY u.user_id")
_STUDY_READS = ("SELECT r.user_id, count(*) AS study_reads FROM reads r"
                " JOIN quiz_sessions s USING (session_id) WHERE s.kind <> 'practice'"
                " GROUP BY r.user_id")
_UNAIDED_CALLS = ("SELECT r.user_id, (list_contains(?, r.birads) = (c.label = 'malignant'))"
                  "::INTEGER AS correct " + _PRACTICE + " AND r.mode = 'unaided'"
                  " ORDER BY r.user_id, r.read_id")


def _cohort_phases(counts: pd.DataFrame, activity: pd.DataFrame) -> pd.DataFrame:
    """Per trainee and mode: cases read, last active and the quiz summaries' metric columns,
    all from the counts per truth and BI-RADS level (no pass over the reads); the AUC and its
    logit DeLong CI from the same counts (``auc_from_counts``), none below ``MIN_PER_CLASS``
    cases of a class, as ``shown_auc``."""
    if counts.empty:
        return pd.DataFrame(columns=["user_id", "mode"])
    levels = pd.Categorical(counts["birads"], categories=BIRADS_CATEGORIES)
    table = counts.assign(birads=levels).pivot_table(
        index=["user_id", "mode"], columns=["truth", "birads"], values="n", aggfunc="sum",
        fill_value=0, observed=False)
    table = table.reindex(columns=pd.MultiIndex.from_product([[0, 1], BIRADS_CATEGORIES]),
                          fill_value=0)
    neg, pos = table[0].to_numpy(float), table[1].to_numpy(float)
    called = np.isin(BIRADS_CATEGORIES, _POSITIVE)
    tp, tn = pos[:, called].sum(1), neg[:, ~called].sum(1)
    n_pos, n_neg = pos.sum(1), neg.sum(1)
    out = pd.DataFrame(index=table.index)
    out["n"] = (n_pos + n_neg).astype(int)
    for name, k, n in (("accuracy", tp + tn, n_pos + n_neg), ("sensitivity", tp, n_pos),
                       ("specificity", tn, n_neg)):
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(n > 0, k / n, np.nan)
        out[f"{name}_lo"], out[f"{name}_hi"] = wilson_arrays(k, n)
    auc, var = auc_from_counts(pos, neg)
    enough = (n_pos >= MIN_PER_CLASS) & (n_neg >= MIN_PER_CLASS)
    low, high = logit_cis(auc, var, n_pos, n_neg)
    out["birads_auc"] = np.where(enough, auc, np.nan)
    out["birads_auc_lo"] = np.where(enough, low, np.nan)
    out["birads_auc_hi"] = np.where(enough, high, np.nan)
    out["birads_auc_text"] = [
        auc_text(AucResult(a, v, lo, hi) if ok else TooFewCases(int(p), int(n)), 2)
        for a, v, lo, hi, ok, p, n in zip(auc, var, low, high, enough, n_pos, n_neg)]
    return out.join(activity.set_index(["user_id", "mode"])).reset_index()


def _cohort_flags(calls: pd.DataFrame) -> dict[int, Flag]:
    """The struggling flag of every trainee from their unaided calls in order."""
    if calls.empty:
        return {}
    correct = calls["correct"].to_numpy(dtype=int)
    bounds = np.flatnonzero(np.diff(calls["user_id"].to_numpy())) + 1
    return {int(user_id): _flag(part) for user_id, part in
            zip(calls["user_id"].to_numpy()[np.r_[0, bounds]], np.split(correct, bounds))}


def cohort_table(store: Store, viewer: User) -> pd.DataFrame:
    """One row per trainee: practice cases read, reads in reader studies (``study_reads``,
    unaided and aided: counted apart, never in the metrics), last active, unaided and aided
    metrics with 95% CIs, the change from unaided to aided accuracy on the same cases, and
    the struggling flag (``struggling``, ``flag_reason``, ``flag_short``).

    Counted in DuckDB (reads per trainee, mode, truth and BI-RADS; the unaided/aided pairs),
    so the cost grows with the trainees, not their reads; only the CUSUM behind the flag
    walks each trainee's unaided calls, in one query."""
    people = trainees(store, viewer)
    positive = list(_POSITIVE)
    with store.read() as cur:
        counts = cur.execute(_LEVEL_COUNTS).df()
        activity = cur.execute(_ACTIVITY).df()
        changes = cur.execute(_CHANGES, [positive]).df().set_index("user_id")
        calls = cur.execute(_UNAIDED_CALLS, [positive]).df()
        study_reads = dict(cur.execute(_STUDY_READS).fetchall())
    phases_of = {(row.user_id, row.mode): row for row in
                 _cohort_phases(counts, activity).itertuples(index=False)}
    flags = _cohort_flags(calls)
    rows = []
    for person in people:
        row: dict[str, object] = {"user_id": person.user_id, "trainee": person.display_name}
        unaided, aided = (phases_of.get((person.user_id, mode)) for mode in MODES)
        row["cases_read"] = int(unaided.n) if unaided is not None else 0
        row["study_reads"] = int(study_reads.get(person.user_id, 0))
        active = [phase.last_active for phase in (unaided, aided) if phase is not None]
        row["last_active"] = max(active, default=None)
        for mode, phase in zip(MODES, (unaided, aided)):
            for column in _METRIC_COLUMNS:
                row[f"{mode}_{column}"] = (getattr(phase, column) if phase is not None
                                           else "-" if column.endswith("_text") else np.nan)
        pairs = changes.loc[person.user_id] if person.user_id in changes.index else None
        row["accuracy_change"] = (float(pairs["gained"]) / pairs["pairs"] if pairs is not None
                                  else np.nan)
        row["helpful_changes"] = int(pairs["helpful"]) if pairs is not None else 0
        row["harmful_changes"] = int(pairs["harmful"]) if pairs is not None else 0
        flag = flags.get(person.user_id, _flag(np.zeros(0, dtype=int)))
        row["struggling"], row["flag_reason"] = flag.struggling, flag.reason
        row["flag_short"] = flag.short
        rows.append(row)
    return pd.DataFrame(rows)


_METRIC_COLUMNS = (*(f"{name}{end}" for name in ("accuracy", "sensitivity", "specificity",
                                                  "birads_auc") for end in ("", "_lo", "_hi")),
                   "birads_auc_text")


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
