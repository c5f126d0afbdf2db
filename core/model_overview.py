"""What is trained with which settings, and how far each model's heatmaps are computed."""
from __future__ import annotations

import pandas as pd

from core.store import Store

MODEL_COLUMNS = ("model_id", "arch", "dataset", "init", "profile", "image_size", "framing",
                 "epochs", "seed", "seconds", "device", "threshold", "cv_auc", "test_auc",
                 "created_at")


def trained_models(store: Store) -> pd.DataFrame:
    """Every model with its training settings and scores, newest first."""
    with store.read() as cur:
        return cur.execute(f"SELECT {', '.join(MODEL_COLUMNS)} FROM models "
                           "ORDER BY created_at DESC, model_id").df()


def heatmap_coverage(store: Store) -> pd.DataFrame:
    """Per model and heatmap method: maps cached over the cases the model predicted, in all
    and on the test split (``test coverage``: share of predicted test cases with a map). A
    model without any map has one row with no method."""
    with store.read() as cur:
        return cur.execute("""
            WITH predicted AS (
                SELECT p.model_id, count(*) AS predicted,
                       count(*) FILTER (WHERE s.split = 'test') AS predicted_test
                FROM predictions p LEFT JOIN splits s ON s.case_id = p.case_id GROUP BY 1),
            maps AS (
                SELECT h.model_id, h.method, count(*) AS maps,
                       count(*) FILTER (WHERE s.split = 'test') AS test_maps,
                       count(h.faithfulness_metric) AS scored
                FROM heatmaps h LEFT JOIN splits s ON s.case_id = h.case_id GROUP BY 1, 2)
            SELECT m.model_id, maps.method, coalesce(maps.maps, 0) AS maps,
                   coalesce(p.predicted, 0) AS predicted, coalesce(maps.test_maps, 0) AS test_maps,
                   coalesce(p.predicted_test, 0) AS predicted_test,
                   CASE WHEN p.predicted_test > 0
                        THEN coalesce(maps.test_maps, 0) / p.predicted_test END AS test_coverage,
                   coalesce(maps.scored, 0) AS with_lesion_score
            FROM models m LEFT JOIN predicted p ON p.model_id = m.model_id
            LEFT JOIN maps ON maps.model_id = m.model_id
            ORDER BY m.model_id, maps.method""").df()
