"""Why a model's maps of one CAM method have no localisation score, in words, for every table
that counts scored maps (the admin's heatmap coverage, the localisation tables): a count of 0
never stands alone.

A map is scored where its case has a lesion mask and the map is not zero everywhere
(:func:`core.heatmaps.localisation.localisation_scores`). Score-CAM is the usual cause of
blank maps: it weighs each activation map by how much the class score rises when the image is
masked by it, and where every one lowers the score (AlexNet on small phantoms) the weighted
sum is negative everywhere and the ReLU leaves nothing."""
from __future__ import annotations

from core.heatmaps import method_title


def unscored_reason(method: str | None, maps: int, scored: int, blank: int) -> str:
    """Why ``maps`` stored maps of ``method`` gave ``scored`` localisation scores (``blank``:
    maps of cases with a mask that are zero everywhere); "" when every map that could be
    scored was."""
    if maps == 0:
        return f"no {method_title(method)} map computed yet" if method else "no heatmap yet"
    title = method_title(method) if method else "the method"
    if scored == 0 and blank == 0:
        return "none of its maps is of a case with a lesion mask"
    if scored == 0:
        what = ("Score-CAM found no positive activation (every activation map lowered the "
                "class score)" if method == "scorecam" else f"{title} found nothing to point at")
        return f"all {blank} maps of cases with a mask are empty: {what}"
    if blank:
        return f"{blank} empty maps not scored"
    return ""
