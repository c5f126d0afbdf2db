"""Does a heatmap point at the lesion? Scored where the case has a lesion mask.

- pointing game: the map's maximum lies inside the lesion;
- energy inside: the share of the map's total inside the lesion.

A map that knows nothing would score, on average, the lesion's share of the area the map
covers on both: the whole image, or for a lesion-framed model (:mod:`core.models.framing`) the
lesion's marked box. :func:`localisation_summary` reports that share as ``chance`` next to the
scores.
"""
from __future__ import annotations

import numpy as np

from core.images import load_grey
from core.models.framing import inside, lesion_box
from core.store import Store


def chance_share(mask: np.ndarray, framing: str) -> float:
    """The lesion's share of the area a map covers (see the module's docstring)."""
    if framing != "lesion":
        return float(mask.mean())
    return float(mask.sum() / mask[inside(lesion_box(mask), mask.shape)[0]].size)


def localisation_scores(cam: np.ndarray, mask: np.ndarray) -> tuple[bool | None, float | None]:
    """(pointing hit, energy inside) for a map and a boolean mask of the same shape; (None,
    None) for an empty mask or an all-zero map (nothing to point with)."""
    mask = np.asarray(mask, dtype=bool)
    if cam.shape != mask.shape:
        raise ValueError(f"map {cam.shape} and mask {mask.shape} differ in shape")
    total = float(cam.sum(dtype=np.float64))
    if not mask.any() or total <= 0:
        return None, None
    hit = bool(mask.flat[int(np.argmax(cam))])
    return hit, float(cam[mask].sum(dtype=np.float64) / total)


def localisation_summary(store: Store, model_id: str, method: str = "gradcam",
                         split: str | None = None) -> dict:
    """Mean pointing-game hit rate and energy inside the lesion over the cached maps of
    ``model_id`` (optionally one split's cases), with the chance level for comparison.
    ``blank_maps``: maps of cases with a mask that are zero everywhere (Score-CAM on a model
    whose every activation map lowers the class score, for instance), which cannot point."""
    where = ("FROM heatmaps h JOIN cases c ON c.case_id = h.case_id LEFT JOIN splits s"
             " ON s.case_id = h.case_id WHERE h.model_id = ? AND h.method = ?"
             " AND c.mask_path IS NOT NULL")
    params: list = [model_id, method]
    if split is not None:
        where += " AND s.split = ?"
        params.append(split)
    with store.read() as cur:
        rows = cur.execute("SELECT h.pointing_hit, h.energy_inside, c.mask_path " + where
                           + " AND h.pointing_hit IS NOT NULL", params).fetchall()
        blank = cur.execute("SELECT count(*) " + where + " AND h.pointing_hit IS NULL",
                            params).fetchone()[0]
        framing = cur.execute("SELECT framing FROM models WHERE model_id = ?",
                              [model_id]).fetchone()
    framing = framing[0] if framing else "full"
    summary = {"model_id": model_id, "method": method, "split": split or "all",
               "cases": len(rows), "blank_maps": blank, "pointing_game": None,
               "energy_inside": None, "chance": None}
    if rows:
        shares = [chance_share(load_grey(store, mask_path) > 127, framing)
                  for *_, mask_path in rows]
        summary.update(pointing_game=float(np.mean([bool(r[0]) for r in rows])),
                       energy_inside=float(np.mean([r[1] for r in rows])),
                       chance=float(np.mean(shares)))
    return summary
