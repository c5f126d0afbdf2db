"""The words a person reads for the app's internal names: table columns, durations, models.

One place maps column names (``with_lesion_score``, ``image_size``, ``cv_auc``...) to the
labels every table and CSV download shows, so the same column reads the same everywhere and
no snake_case name reaches a person. A column not listed reads as its name in words
("split_seed" -> "Split seed"). Models are named by their architecture as the paper writes it
and what tells them apart ("ResNet50 (quick, lesion, 2026-12-03)"), never by their id.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

import pandas as pd

from core.store import Store

# The paper's order, with ``core.models.registry``'s titles (kept here so that pages do not
# import torch; a test checks they agree).
ARCH_NAMES = {"vgg16": "VGG16", "googlenet": "GoogLeNet", "alexnet": "AlexNet",
              "resnet50": "ResNet50", "vit_b_16": "ViT-B/16", "densenet121": "DenseNet121"}
FRAMING_WORDS = {"lesion": "lesion", "full": "whole image"}
NONE_TEXT = "—"

COLUMN_LABELS = {
    # people and reads
    "user_id": "User id", "trainee": "Trainee", "reader": "Reader", "username": "User name",
    "display_name": "Display name", "role": "Role", "active": "Active",
    "must_change_password": "Must change password", "created_at": "Created (UTC)",
    "cases_read": "Practice cases", "study_reads": "Study reads",
    "last_active": "Last active (UTC)", "struggling": "Struggling", "flag_reason": "Why",
    "accuracy_change": "Change in accuracy with AI", "helpful_changes": "Helpful changes",
    "harmful_changes": "Harmful changes", "phase": "Phase", "unaided_read": "Unaided reads",
    "aided_read": "Aided reads", "washout_until": "Washout until (UTC)",
    # datasets and splits
    "dataset": "Dataset", "kind": "Kind", "source": "Source", "cases": "Cases",
    "label": "Label", "split": "Split", "split_seed": "Split seed", "imported": "Imported (UTC)",
    "benign": "Benign", "malignant": "Malignant", "normal": "Normal", "train": "Train",
    "test": "Test", "excluded": "Excluded", "group": "Group", "case_id": "Case",
    # models
    "model": "Model", "model_id": "Model id", "evaluated_on": "Evaluated on",
    "arch": "Architecture", "init": "Started from", "profile": "Profile",
    "image_size": "Image size (px)", "framing": "Framing", "epochs": "Epochs", "seed": "Seed",
    "seconds": "Training time", "device": "Device", "threshold": "Threshold",
    "cv_auc": "Cross-validated AUC", "test_auc": "Test AUC", "n": "Cases (n)", "n_test":
    "Test cases", "truth": "Truth (1 malignant)", "prob": "Probability of malignancy",
    "heatmap": "Default heatmap (chosen by faithfulness on validation cases)",
    # heatmaps
    "method": "CAM method", "maps": "Maps stored", "predicted": "Cases predicted",
    "test_maps": "Test-split maps", "predicted_test": "Test-split cases predicted",
    "test_coverage": "Test-split coverage",
    "with_lesion_score": "Maps with quality scores",
    "blank_maps": "Maps with no heat on the lesion", "pointing_game": "Pointing game hit rate",
    "energy_inside": "Share of the map inside the lesion",
    "chance": "Chance (lesion's share of the area)",
    # statistics
    "birads_auc": "BI-RADS AUC", "auc": "AUC", "auc_low": "AUC 95% CI low", "auc_high": "AUC 95% CI high",
    "auc_note": "AUC note", "accuracy": "Accuracy", "sensitivity": "Sensitivity",
    "specificity": "Specificity", "precision": "Precision", "f1": "F1", "brier": "Brier score",
    "diff": "AUC difference", "ci_low": "95% CI low", "ci_high": "95% CI high", "z": "z",
    "p": "p", "p_holm": "p (Holm)", "note": "Note", "tp": "True positives",
    "fp": "False positives", "tn": "True negatives", "fn": "False negatives",
    "fpr": "1 - specificity (false-positive rate)",
    "tpr": "Sensitivity (true-positive rate)",
    # jobs and backups
    "job": "Job", "status": "Status", "progress": "Progress", "message": "Message",
    "started": "Started", "finished": "Finished",
}
_MODES = {"unaided_": " (unaided)", "aided_": " (with AI)"}
_ENDS = {"_lo": " 95% CI low", "_hi": " 95% CI high", "_low": " 95% CI low",
         "_high": " 95% CI high", "_text": " (95% CI)"}


def column_label(name: str) -> str:
    """The label of a column: listed in ``COLUMN_LABELS``, else built from a listed stem with
    a CI end ("accuracy_lo" -> "Accuracy 95% CI low") and a reading mode ("aided_accuracy" ->
    "Accuracy (with AI)"), else the name in words."""
    if name in COLUMN_LABELS:
        return COLUMN_LABELS[name]
    for start, words in _MODES.items():
        if name.startswith(start):
            return column_label(name.removeprefix(start)) + words
    for end, words in _ENDS.items():
        stem = name.removesuffix(end)
        if stem != name and stem in COLUMN_LABELS:
            return COLUMN_LABELS[stem] + words
    words = str(name).replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def readable_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every column named by :func:`column_label` (for tables and CSVs a person
    reads); the values are left as they are."""
    return frame.rename(columns={column: column_label(column) for column in frame.columns})


def duration_text(seconds: float | None) -> str:
    """A duration as a person reads it: "45 s", "13 min 55 s", "2 h 05 min"; "—" for none."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return NONE_TEXT
    total = round(float(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def text_or_none(value: object) -> str:
    """A missing value (None, NaN) as "—", anything else as its text (never "None")."""
    return NONE_TEXT if value is None or value is pd.NA or (
        isinstance(value, float) and math.isnan(value)) else str(value)


def arch_name(arch: str) -> str:
    """The architecture as the paper writes it (ResNet50, ViT...)."""
    return ARCH_NAMES.get(arch, arch)


def model_name(arch: str, profile: str, framing: str | None, created_at: datetime) -> str:
    """A model as a person reads it: "ResNet50 (quick, lesion, 2026-12-03)"."""
    framed = FRAMING_WORDS.get(framing or "full", framing)
    return f"{arch_name(arch)} ({profile}, {framed}, {created_at:%Y-%m-%d})"


def unique_model_names(rows: Iterable[tuple]) -> dict[str, str]:
    """Each model's readable name from (model_id, arch, profile, framing, created_at, seed)
    rows; where two would read alike the time is added, then the seed, then the id."""
    rows = list(rows)
    names = {row[0]: model_name(*row[1:5]) for row in rows}
    for extra in (lambda row: f"{row[4]:%H:%M}",
                  lambda row: None if row[5] is None else f"seed {row[5]}",
                  lambda row: str(row[0])):
        counts = Counter(names.values())
        clashing = {row[0]: extra(row) for row in rows if counts[names[row[0]]] > 1}
        if not clashing:
            break
        names.update({model_id: names[model_id][:-1] + f", {more})"
                      for model_id, more in clashing.items() if more is not None})
    return names


def model_names(store: Store) -> dict[str, str]:
    """Every model's readable name by id, read from the store on each call (a model that has
    just finished training is there at once)."""
    with store.read() as cur:
        rows = cur.execute("SELECT model_id, arch, profile, framing, created_at, seed"
                           " FROM models ORDER BY created_at, model_id").fetchall()
    return unique_model_names(rows)
