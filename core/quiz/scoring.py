"""A practice session's reads scored against the truth: correct calls, Wilson-CI accuracy,
sensitivity and specificity, the ordinal BI-RADS AUC as the app shows AUCs (logit DeLong CI, or
"too few cases"), the changes the AI step made and the time spent (BI-RADS 4A and above called
malignant)."""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from core.lexicon import calls_malignant
from core.quiz.flow import load
from core.stats.metrics import Estimate, threshold_metrics
from core.stats.readers import birads_scores, change_ledger
from core.stats.roc import AucResult, TooFewCases, shown_auc
from core.store import Store


@dataclass(frozen=True)
class PhaseSummary:
    """One set of reads (unaided or aided) against the truth; BI-RADS 4A and above called
    malignant. ``birads_auc`` is ``shown_auc``'s: ``TooFewCases`` below ``MIN_PER_CLASS``
    malignant or benign cases."""

    n: int
    correct: int
    accuracy: Estimate
    sensitivity: Estimate
    specificity: Estimate
    birads_auc: AucResult | TooFewCases
    median_seconds: float | None


def phase_summary(truth: list[int], birads: list[str],
                  seconds: list[float | None]) -> PhaseSummary:
    """Correct calls, accuracy, sensitivity and specificity (Wilson CIs), the ordinal BI-RADS
    AUC (``shown_auc``: logit DeLong CI) and the median time of a set of reads; ``truth`` 1
    for malignant."""
    called = [int(calls_malignant(b)) for b in birads]
    metrics = threshold_metrics(truth, called)
    auc = shown_auc(truth, birads_scores(birads))
    timed = [s for s in seconds if s is not None]
    return PhaseSummary(len(truth), sum(c == t for c, t in zip(called, truth)),
                        metrics["accuracy"], metrics["sensitivity"], metrics["specificity"], auc,
                        statistics.median(timed) if timed else None)


@dataclass(frozen=True)
class SessionSummary:
    """A session's reads so far. ``aided`` covers the cases where the AI was shown;
    ``helpful``/``harmful``: calls the AI step turned right/wrong; ``no_ai``: cases with no AI
    shown (no aided read stored), with the reasons."""

    cases: int
    unaided: PhaseSummary
    aided: PhaseSummary | None
    helpful: int
    harmful: int
    no_ai: int
    no_ai_reasons: tuple[str, ...]
    median_seconds_per_case: float | None


def session_summary(store: Store, session_id: int, user_id: int) -> SessionSummary | None:
    """The summary of the reads stored in a session (None before the first read)."""
    with store.read() as cur:
        session = load(cur, session_id, user_id)
        labels = dict(cur.execute(
            "SELECT case_id, label FROM cases WHERE case_id IN (SELECT unnest(?))",
            [session.case_ids]).fetchall())
    read = [c for c in session.case_ids if (c, "unaided") in session.reads]
    if not read:
        return None
    aided = [c for c in read if (c, "aided") in session.reads]

    def phase(cases: list[int], mode: str) -> PhaseSummary:
        answers = [session.reads[(c, mode)] for c in cases]
        return phase_summary([int(labels[c] == "malignant") for c in cases],
                             [a.birads for a in answers], [a.seconds for a in answers])

    helpful = harmful = 0
    if aided:
        ledger = change_ledger(
            [int(labels[c] == "malignant") for c in aided],
            [int(session.reads[(c, "unaided")].malignant) for c in aided],
            [int(session.reads[(c, "aided")].malignant) for c in aided])
        helpful, harmful = ledger["helpful"], ledger["harmful"]
    no_ai = [session.steps[(c, "no_ai")][3] for c in read if (c, "no_ai") in session.steps]
    per_case = [sum(answer.seconds for answer in (session.reads.get((c, mode))
                                                  for mode in ("unaided", "aided"))
                    if answer and answer.seconds is not None)
                for c in read if session.reads[(c, "unaided")].seconds is not None]
    return SessionSummary(len(read), phase(read, "unaided"), phase(aided, "aided") if aided
                          else None, helpful, harmful, len(no_ai), tuple(dict.fromkeys(no_ai)),
                          statistics.median(per_case) if per_case else None)
