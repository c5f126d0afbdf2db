"""A method whose maps are all zero (Score-CAM on AlexNet) scores no case; the localisation
table then says why instead of a bare 0."""
from __future__ import annotations

import pandas as pd

from core.comparison import format_localisation
from core.heatmaps.localisation import localisation_summary
from tests.quiz_helpers import add_heatmaps, add_model, make_cases


def test_blank_maps_are_counted_and_explained(store):
    cases = make_cases(store, n=9)
    add_model(store, "alexnet-x", cases, heatmaps=False)
    add_heatmaps(store, "alexnet-x", cases)  # stored without scores, as an all-zero map is
    summary = localisation_summary(store, "alexnet-x", "gradcam", "test")
    assert (summary["cases"], summary["blank_maps"]) == (0, 3)
    preds = pd.DataFrame({"model_id": ["alexnet-x"], "label": ["AlexNet"]})
    [row] = format_localisation([summary], preds).to_dict("records")
    assert row["Cases with a mask"] == "0 (its 3 maps are zero everywhere: nothing to point with)"
    with store.transaction() as cur:
        cur.execute("UPDATE heatmaps SET pointing_hit = TRUE, energy_inside = 0.5")
    scored = localisation_summary(store, "alexnet-x", "gradcam", "test")
    assert (scored["cases"], scored["blank_maps"]) == (3, 0)
    assert format_localisation([scored], preds)["Cases with a mask"].tolist() == ["3"]
    none = localisation_summary(store, "alexnet-x", "scorecam", "test")
    assert format_localisation([none], preds)["Cases with a mask"].tolist() == [
        "0 (no stored map of a case with a mask)"]
