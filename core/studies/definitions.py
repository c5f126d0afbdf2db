"""What the reader study's modules share: the study as set up, a reader's result, the report,
and the constants (the paper's published reader figures among them). It imports none of them,
so ``protocol``, ``report``, ``tables``, ``figures`` and ``printable`` form no circle."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from core.auth import utcnow
from core.lexicon import DEFAULT_POSITIVE_FROM

MODES = ("unaided", "aided")
POOLED = "All readers (pooled reads)"
MODEL_ALONE = "model alone"
METRICS = ("accuracy", "sensitivity", "specificity", "precision", "npv")
# The paper's junior sonographer on its 126 test images, unaided and after a two-week washout
# with ResNet50 heatmaps. Its reader "AUC" is (sensitivity + specificity) / 2 at one cut-off.
PUBLISHED_READER = {
    "reader": "Junior sonographer (paper)", "n": 126,
    "unaided": {"single_point_auc": 0.597, "accuracy": 0.595, "sensitivity": 0.808,
                "specificity": 0.385},
    "aided": {"single_point_auc": 0.904, "accuracy": 0.905, "sensitivity": 0.849,
              "specificity": 0.959},
}
SINGLE_POINT_NOTE = (
    "The paper's reader \"AUCs\" (0.597 unaided, 0.904 aided) are single-point figures: "
    f"(sensitivity + specificity) / 2 at one cut-off (BI-RADS {DEFAULT_POSITIVE_FROM} and "
    "above called malignant), not areas under ROC curves. Ours are computed the same way in the "
    "column 'single-point (sens+spec)/2'; our real ordinal BI-RADS ROC AUCs, with logit "
    "DeLong 95% CIs, are in the column 'BI-RADS AUC'.")
POOLED_NOTE = ("Pooled: every reader's paired reads stacked and treated as independent; the "
               "multi-reader analysis treats readers and cases as random. Once it exists, its "
               "F test replaces the pooled AUC test, and the pooled McNemar test (no "
               "multi-reader equivalent) is left out.")


@dataclass(frozen=True)
class Study:
    """A study as set up; ``case_ids`` in the set's order, ``reader_ids`` sorted."""

    study_id: int
    name: str
    case_ids: tuple[int, ...]
    washout_days: float
    model_id: str
    created_by: int | None
    created_at: datetime
    reader_ids: tuple[int, ...]


@dataclass(frozen=True)
class ReaderResult:
    """One reader's (or the pooled) analysis over the cases read in both phases. ``unaided``
    and ``aided`` are ``reader_summary`` dicts; ``paired`` the test of the BI-RADS AUCs in the
    keys of ``PairedResult.as_dict()`` plus ``method`` (a = aided, b = unaided): DeLong's, or
    for the pooled reads the multi-reader analysis's (``mrmc.as_paired_test``); ``ledger``
    ``change_ledger`` (its ``mcnemar`` None where the multi-reader test replaced the pooled
    ones); ``bias`` ``automation_bias``. All None without a case of each class, ``paired``
    None below ``MIN_PER_CLASS`` of either, with ``note`` saying why."""

    reader: str
    user_id: int | None
    readers: int
    n_cases: int
    unaided: dict[str, Any] | None = None
    aided: dict[str, Any] | None = None
    paired: dict[str, Any] | None = None
    ledger: dict[str, Any] | None = None
    bias: dict[str, Any] | None = None
    note: str | None = None


@dataclass(frozen=True)
class StudyReport:
    """Everything the study's report shows (``tables.report_frames`` for CSV,
    ``printable.report_html`` to print)."""

    study: Study
    reads: pd.DataFrame
    results: list[ReaderResult]
    model: dict[str, Any]
    mrmc: dict[str, Any] | None
    mrmc_note: str
    ai_threshold: float
    generated_at: datetime = field(default_factory=utcnow)

    def result(self, user_id: int | None) -> ReaderResult:
        """One reader's result (None: the pooled one)."""
        return next(r for r in self.results if r.user_id == user_id)
