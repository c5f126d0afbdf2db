"""How good a model's stored heatmaps are, per model and CAM method over a split: localisation
against its baselines (:mod:`core.heatmaps.localisation`) and faithfulness (pytorch-grad-cam's
metric, scored where the map was computed, :mod:`core.heatmaps.compute`). Reads the store
only; never imports torch.

The stored faithfulness metric is ``FAITHFULNESS_METRIC``, the confidence change
(``CamMultImageConfidenceChange``): one extra forward pass per map, so every map, even one
computed while a trainee waits, gets its score. ROAD costs about eight (see
``docs/architecture.md`` for the choice); ``bench/heatmap_quality.py --metric road_combined``
scores it. Each map's score sits beside the same metric for a centred blob over the model's
input (the centre baseline); a uniform map's confidence change is 0 by construction.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.heatmaps.localisation import SCORE_COLUMNS, compare, mean_with_ci, paired_test
from core.store import Store

FAITHFULNESS_METRIC = "confidence_change"
FAITHFULNESS_NAMES = {
    "confidence_change": "confidence change (image x map)",
    "road_combined": "ROAD combined",
}


def stored_scores(store: Store, model_id: str, method: str, split: str | None = "test"
                  ) -> pd.DataFrame:
    """One row per stored map of ``model_id`` and ``method`` (optionally of one split's
    cases): the case, its localisation scores (None without a lesion mask) and faithfulness."""
    query = (f"SELECT h.case_id, {', '.join('h.' + c for c in SCORE_COLUMNS)}, "
             "h.faithfulness, h.centre_faithfulness, h.faithfulness_metric "
             "FROM heatmaps h LEFT JOIN splits s ON s.case_id = h.case_id "
             "WHERE h.model_id = ? AND h.method = ?")
    params: list = [model_id, method]
    if split is not None:
        query += " AND s.split = ?"
        params.append(split)
    with store.read() as cur:
        return cur.execute(query + " ORDER BY h.case_id", params).df()


def faithfulness_summary(scores: pd.DataFrame) -> dict:
    """The maps' mean faithfulness (t CI) beside the centre blob's, with the paired Wilcoxon
    test; over the rows scored with the most used metric."""
    scored = scores[scores["faithfulness_metric"].notna()]
    if scored.empty:
        return {"metric": None, "cases": 0, "map": mean_with_ci(np.array([])),
                "centre": mean_with_ci(np.array([])),
                "versus_centre": paired_test(np.array([]), np.array([]), False)}
    metric = scored["faithfulness_metric"].mode().iloc[0]
    rows = scored[scored["faithfulness_metric"] == metric]
    ours, centre = (rows[c].astype(float).to_numpy() for c in ("faithfulness",
                                                               "centre_faithfulness"))
    return {"metric": metric, "cases": len(rows), "map": mean_with_ci(ours),
            "centre": mean_with_ci(centre), "versus_centre": paired_test(ours, centre, False)}


def summarise(scores: pd.DataFrame) -> dict:
    """Localisation (maps of cases with a lesion, scored) and faithfulness of per-map rows as
    :func:`stored_scores` gives them; ``unscored``: maps stored before these scores existed."""
    scored = scores[scores["faithfulness_metric"].notna()]
    lesion = scored[scored["energy_box"].notna()]
    return {"maps": len(scores), "unscored": len(scores) - len(scored),
            "localisation": compare(lesion), "faithfulness": faithfulness_summary(scores)}


def heatmap_quality(store: Store, model_id: str, method: str, split: str | None = "test"
                    ) -> dict:
    """:func:`summarise` of the stored maps of ``model_id`` and ``method`` over ``split``."""
    return {"model_id": model_id, "method": method, "split": split or "all",
            **summarise(stored_scores(store, model_id, method, split))}
