"""A note beside a model's count of scored maps of one CAM method, in words, for the admin's
heatmap coverage: a count of 0, or maps that put no heat on the lesion, never stand alone.

Every map stored since migration 014 is scored, an empty one as a miss with no energy
(:mod:`core.heatmaps.localisation`); maps stored before it are scored again by the next
precompute. Score-CAM is the usual cause of empty maps: it weighs each activation map by how
much the class score rises when the image is masked by it, and where every one lowers the
score (AlexNet on small phantoms) the weighted sum is negative everywhere and the ReLU leaves
nothing."""
from __future__ import annotations

from core.heatmaps import method_title


def unscored_reason(method: str | None, maps: int, scored: int, blank: int) -> str:
    """The note for ``maps`` stored maps of ``method``, ``scored`` of them with quality scores
    and ``blank`` of those (cases with a mask) with no heat in the lesion's box; "" when there
    is nothing to explain."""
    if maps == 0:
        return f"no {method_title(method)} map computed yet" if method else "no heatmap yet"
    if scored < maps:
        waiting = (f"{maps - scored} maps stored before the quality scores: the next "
                   "precompute scores them")
        if scored == 0:
            return f"all {waiting}"
        return waiting
    if blank and blank == scored:
        what = ("Score-CAM found no positive activation (every activation map lowered the "
                "class score)" if method == "scorecam"
                else f"{method_title(method)} found nothing on the lesion")
        return f"all {blank} maps put no heat on the lesion (counted as misses): {what}"
    if blank:
        return f"{blank} maps put no heat on the lesion (counted as misses)"
    return ""
