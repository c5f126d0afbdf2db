"""The words a person reads for internal names: column labels, durations, model names."""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from core import display_names as names


def test_listed_columns_get_their_label_and_others_read_as_words():
    frame = pd.DataFrame(columns=["with_lesion_score", "image_size", "accuracy_lo",
                                  "aided_birads_auc_text", "split_seed", "seconds"])
    shown = list(names.readable_columns(frame).columns)
    assert shown == ["Maps with quality scores", "Image size (px)",
                     "Accuracy 95% CI low", "BI-RADS AUC (95% CI) (with AI)", "Split seed", "Training time"]
    assert not any("_" in label for label in shown)


def test_durations_read_as_minutes_and_hours():
    assert names.duration_text(834.7043) == "13 min 55 s"
    assert names.duration_text(45.2) == "45 s"
    assert names.duration_text(7500) == "2 h 05 min"
    assert names.duration_text(None) == names.duration_text(float("nan")) == "—"


def test_missing_values_never_read_none():
    assert [names.text_or_none(v) for v in (None, float("nan"), pd.NA, "gradcam")] == [
        "—", "—", "—", "gradcam"]


def test_model_names_are_readable_and_unique_without_ids():
    day = datetime(2026, 12, 3, 9, 30)
    rows = [("resnet50-quick-a-s0", "resnet50", "quick", "lesion", day, 0),
            ("vgg16-quick-a-s0", "vgg16", "quick", "full", day, 0),
            ("resnet50-quick-a-s1", "resnet50", "quick", "lesion", day.replace(hour=11), 1),
            ("resnet50-paper-a-s0", "resnet50", "paper", "lesion", day, 0),
            ("resnet50-paper-a-s1", "resnet50", "paper", "lesion", day, 1)]
    got = names.unique_model_names(rows)
    assert got["vgg16-quick-a-s0"] == "VGG16 (quick, whole image, 2026-12-03)"
    assert got["resnet50-quick-a-s0"] == "ResNet50 (quick, lesion, 2026-12-03, 09:30)"
    assert got["resnet50-quick-a-s1"] == "ResNet50 (quick, lesion, 2026-12-03, 11:30)"
    assert got["resnet50-paper-a-s1"] == "ResNet50 (paper, lesion, 2026-12-03, 09:30, seed 1)"
    assert len(set(got.values())) == len(rows)
    assert not any(model_id in name for model_id, name in got.items())
