"""A count of scored heatmaps, or maps with no heat on the lesion, never stand without a
note."""
from __future__ import annotations

from core.heatmaps.unscored import unscored_reason


def test_each_cause_is_named():
    assert unscored_reason("scorecam", 0, 0, 0) == "no Score-CAM map computed yet"
    assert unscored_reason(None, 0, 0, 0) == "no heatmap yet"
    assert unscored_reason("gradcam", 12, 0, 0) == (
        "all 12 maps stored before the quality scores: the next precompute scores them")
    assert unscored_reason("gradcam", 12, 10, 0).startswith("2 maps stored before")
    empty = unscored_reason("scorecam", 38, 38, 38)
    assert empty.startswith("all 38 maps put no heat on the lesion (counted as misses)")
    assert "Score-CAM found no positive activation" in empty
    assert "Grad-CAM found nothing" in unscored_reason("gradcam", 5, 5, 5)
    assert unscored_reason("scorecam", 40, 40, 8) == (
        "8 maps put no heat on the lesion (counted as misses)")
    assert unscored_reason("gradcam", 40, 40, 0) == ""
