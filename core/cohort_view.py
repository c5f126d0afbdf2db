"""The cohort table as a supervisor reads it: few, narrow columns that fit a 1400 px window
beside the sidebar without sideways scrolling (short headers whose tooltips say the rest, a CI
beside its value, sensitivity and specificity together, helpful and harmful changes together,
the struggling flag's reason in two words), under the labels of :mod:`core.display_names`. The full table, every CI bound apart,
is the CSV download (:func:`cohort_csv_frame`)."""
from __future__ import annotations

import pandas as pd

from core.display_names import NONE_TEXT, readable_columns

TRAINEE, PRACTICE, STUDY = "Trainee", "Practice", "Study"
LAST_ACTIVE, ACCURACY = "Last active", "Accuracy"
SENS_SPEC, AUC = "Sens / spec", "BI-RADS AUC"
CHANGE, CHANGES, ATTENTION = "Change with AI", "Help / harm", "Struggling"
COLUMNS = (TRAINEE, PRACTICE, STUDY, LAST_ACTIVE, ACCURACY, SENS_SPEC, AUC, CHANGE, CHANGES,
           ATTENTION)


def _percent(value: float) -> str:
    return NONE_TEXT if pd.isna(value) else f"{value:.0%}"


def _with_ci(value: float, low: float, high: float) -> str:
    if pd.isna(value):
        return NONE_TEXT
    return f"{value:.0%} ({low * 100:.0f}–{high:.0%})" if pd.notna(low) else f"{value:.0%}"


def _auc_cell(text: str) -> str:
    """An AUC cell narrow enough for its column: "too few cases" without the counts (the CSV
    and the trainee's own page give them)."""
    return "too few cases" if text.startswith("too few cases") else text


def cohort_view(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`core.progress.cohort_table` as the page shows it (unaided metrics unless the
    column says "with AI")."""
    change = table["accuracy_change"]
    return pd.DataFrame({
        TRAINEE: table["trainee"],
        PRACTICE: table["cases_read"],
        STUDY: table["study_reads"],
        LAST_ACTIVE: pd.to_datetime(table["last_active"]),
        ACCURACY: [_with_ci(*values) for values in zip(
            table["unaided_accuracy"], table["unaided_accuracy_lo"],
            table["unaided_accuracy_hi"])],
        SENS_SPEC: [f"{_percent(sens)} / {_percent(spec)}" for sens, spec in zip(
            table["unaided_sensitivity"], table["unaided_specificity"])],
        AUC: [_auc_cell(text) for text in table["unaided_birads_auc_text"]],
        CHANGE: [NONE_TEXT if pd.isna(value) else f"{value * 100:+.0f} points"
                 for value in change],
        CHANGES: [f"{helpful} / {harmful}" for helpful, harmful in zip(
            table["helpful_changes"], table["harmful_changes"])],
        ATTENTION: [short if flagged else "" for flagged, short in zip(
            table["struggling"], table["flag_short"])],
    }, columns=list(COLUMNS))


def cohort_csv_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The whole cohort table for the CSV download, every column under its readable label
    (no user ids, no short flag: the full reason is there)."""
    return readable_columns(table.drop(columns=["user_id", "flag_short"]))
