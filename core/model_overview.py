"""What is trained with which settings, and how far each model's heatmaps are computed: the
admin's tables, as stored and as a person reads them (readable model names and columns, the
training time as a duration, the reason beside a count of 0 scored maps)."""
from __future__ import annotations

import json

import pandas as pd

from core.display_names import duration_text, readable_columns, text_or_none
from core.heatmaps import describe_default, method_title
from core.heatmaps.unscored import unscored_reason
from core.store import Store

NOT_SCORED = "Note on the scores"

MODEL_COLUMNS = ("model_id", "arch", "dataset", "init", "profile", "image_size", "framing",
                 "epochs", "seed", "seconds", "device", "threshold", "cv_auc", "test_auc",
                 "created_at")


def trained_models(store: Store) -> pd.DataFrame:
    """Every model with its training settings and scores, newest first, and its default
    heatmap in words (``heatmap``: layer, method and the faithfulness that chose them)."""
    with store.read() as cur:
        models = cur.execute(f"SELECT {', '.join(MODEL_COLUMNS)}, config FROM models "
                             "ORDER BY created_at DESC, model_id").df()
    models["heatmap"] = [describe_default(json.loads(config) if config else None)
                         for config in models.pop("config")]
    return models


def heatmap_coverage(store: Store) -> pd.DataFrame:
    """Per model and heatmap method: maps cached over the cases the model predicted, in all
    and on the test split (``test coverage``: share of predicted test cases with a map), the
    maps with quality scores (``with_lesion_score``) and ``blank_maps`` (scored maps of cases
    with a mask that put no heat in the lesion's box: empty maps among them, counted as
    misses). A model without any map has one row with no method."""
    with store.read() as cur:
        return cur.execute("""
            WITH predicted AS (
                SELECT p.model_id, count(*) AS predicted,
                       count(*) FILTER (WHERE s.split = 'test') AS predicted_test
                FROM predictions p LEFT JOIN splits s ON s.case_id = p.case_id GROUP BY 1),
            maps AS (
                SELECT h.model_id, h.method, count(*) AS maps,
                       count(*) FILTER (WHERE s.split = 'test') AS test_maps,
                       count(h.faithfulness_metric) AS scored,
                       count(*) FILTER (WHERE h.faithfulness_metric IS NOT NULL
                                        AND c.mask_path IS NOT NULL
                                        AND h.energy_box = 0) AS blank
                FROM heatmaps h LEFT JOIN splits s ON s.case_id = h.case_id
                LEFT JOIN cases c ON c.case_id = h.case_id GROUP BY 1, 2)
            SELECT m.model_id, maps.method, coalesce(maps.maps, 0) AS maps,
                   coalesce(p.predicted, 0) AS predicted, coalesce(maps.test_maps, 0) AS test_maps,
                   coalesce(p.predicted_test, 0) AS predicted_test,
                   CASE WHEN p.predicted_test > 0
                        THEN coalesce(maps.test_maps, 0) / p.predicted_test END AS test_coverage,
                   coalesce(maps.scored, 0) AS with_lesion_score,
                   coalesce(maps.blank, 0) AS blank_maps
            FROM models m LEFT JOIN predicted p ON p.model_id = m.model_id
            LEFT JOIN maps ON maps.model_id = m.model_id
            ORDER BY m.model_id, maps.method""").df()


def models_view(models: pd.DataFrame, names: dict[str, str], stale: set[str]) -> pd.DataFrame:
    """:func:`trained_models` as the admin reads it: the readable name first, the id (for the
    command line) beside it, the test split it was evaluated on, the training time as a
    duration, every column in words."""
    shown = models.assign(seconds=models["seconds"].map(duration_text))
    shown.insert(0, "model", shown["model_id"].map(names).fillna(shown["model_id"]))
    shown.insert(2, "evaluated_on", ["an earlier split" if m in stale else "the current split"
                                     for m in shown["model_id"]])
    return readable_columns(shown)


def coverage_view(coverage: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """:func:`heatmap_coverage` as the admin reads it: readable model and method names ("—"
    where a model has no map yet, never "None"), and why a row has no localisation score."""
    shown = coverage.assign(
        model_id=coverage["model_id"].map(names).fillna(coverage["model_id"]),
        method=[method_title(m) if isinstance(m, str) else text_or_none(None)
                for m in coverage["method"]])
    shown[NOT_SCORED] = [unscored_reason(m if isinstance(m, str) else None, int(maps),
                                         int(scored), int(blank))
                         for m, maps, scored, blank in zip(
                             coverage["method"], coverage["maps"],
                             coverage["with_lesion_score"], coverage["blank_maps"])]
    return readable_columns(shown.drop(columns="blank_maps").rename(
        columns={"model_id": "model"}))
