"""Heatmaps (Grad-CAM and kin) for every model, stored so that a quiz never waits.

Import the submodule you use: ``case_heatmap`` (the one call a page makes: the map and region
for a model, case and method, stored or computed now), ``stored`` (read a stored map and the
region its model read, without torch), ``colour_overlay`` (draw a map over an image, and its
colour scale), ``contours`` (the line around a map's hottest 20%, and the lesion's outline),
``localisation`` (pointing game and energy in the lesion's box and mask, beside a centred blob
and a uniform map), ``quality`` (those and faithfulness summarised per model and method),
``compute`` (compute, score and store maps; imports torch), ``cam`` (the CAM methods over
pytorch-grad-cam; imports torch), ``faithfulness`` (pytorch-grad-cam's metrics; imports torch)
and ``choice`` (each trained model's default target layer and method, chosen by faithfulness;
imports torch). Only these last four import torch. A model's recorded default
(:func:`default_heatmap`) is what every map computed without an explicit method uses.
"""

METHOD_TITLES = {"gradcam": "Grad-CAM", "gradcampp": "Grad-CAM++", "hirescam": "HiResCAM",
                 "layercam": "LayerCAM", "eigencam": "EigenCAM", "scorecam": "Score-CAM"}


def method_title(method: str) -> str:
    """A CAM method as its paper names it (``gradcampp`` -> ``Grad-CAM++``)."""
    return METHOD_TITLES.get(method, method)

FALLBACK_METHOD = "gradcam"  # models trained before a default was chosen and recorded


def default_heatmap(config: dict | None) -> tuple[str | None, str]:
    """A model's default (target layer, CAM method), as training chose and recorded it in its
    config (``config["heatmap"]``, see :mod:`core.heatmaps.choice`); for a model without the
    record, (None: the architecture's fallback target layer, Grad-CAM)."""
    record = (config or {}).get("heatmap") or {}
    return record.get("layer"), record.get("method") or FALLBACK_METHOD


def describe_default(config: dict | None) -> str:
    """The default map in one line, e.g. ``HiResCAM at layer3 (ROAD 0.041, 12 validation
    cases; 44% of its heat inside the lesion, beats a centred blob's 34%, 48 cases)``; for a
    model without the record, the fallback."""
    record = (config or {}).get("heatmap")
    if not record:
        return f"{method_title(FALLBACK_METHOD)} at the last block (not chosen: older model)"
    chosen = next((c for c in record.get("candidates", [])
                   if (c["layer"], c["method"]) == (record["layer"], record["method"])), {})
    lesion = ""
    if chosen.get("energy_inside") is not None:
        verdict = "beats" if chosen["beats_centre"] else "does not beat"
        lesion = (f"; {chosen['energy_inside']:.0%} of its heat inside the lesion, {verdict} "
                  f"a centred blob's {chosen['centre_energy_inside']:.0%}, "
                  f"{record['gate_cases']} cases")
    return (f"{method_title(record['method'])} at {record['layer']} ({record['metric_title']} "
            f"{record['score']:.3f}, {record['cases']} validation cases{lesion})")
