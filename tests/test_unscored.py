"""A count of scored heatmaps never stands at 0 without its reason."""
from __future__ import annotations

from core.heatmaps.unscored import unscored_reason


def test_each_cause_of_no_score_is_named():
    assert unscored_reason("scorecam", 0, 0, 0) == "no Score-CAM map computed yet"
    assert unscored_reason(None, 0, 0, 0) == "no heatmap yet"
    assert "lesion mask" in unscored_reason("gradcam", 12, 0, 0)
    empty = unscored_reason("scorecam", 40, 0, 38)
    assert empty.startswith("all 38 maps") and "Score-CAM found no positive activation" in empty
    assert "Grad-CAM found nothing" in unscored_reason("gradcam", 5, 0, 5)
    assert unscored_reason("scorecam", 40, 30, 8) == "8 empty maps not scored"
    assert unscored_reason("gradcam", 40, 38, 0) == ""
