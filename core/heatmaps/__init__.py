"""Heatmaps (Grad-CAM and kin) for every model, stored so that a quiz never waits.

Import the submodule you use: ``case_heatmap`` (the one call a page makes: the map and region
for a model, case and method, stored or computed now), ``stored`` (read a stored map and the
region its model read, without torch), ``colour_overlay`` (draw a map over an image),
``localisation`` (pointing game and energy in the lesion's box and mask, beside a centred blob
and a uniform map), ``quality`` (those and faithfulness summarised per model and method),
``compute`` (compute, score and store maps; imports torch), ``faithfulness`` (pytorch-grad-cam's
metrics; imports torch) and ``cam`` (the CAM methods over pytorch-grad-cam; imports torch).
"""

METHOD_TITLES = {"gradcam": "Grad-CAM", "gradcampp": "Grad-CAM++", "hirescam": "HiResCAM",
                 "layercam": "LayerCAM", "eigencam": "EigenCAM", "scorecam": "Score-CAM"}


def method_title(method: str) -> str:
    """A CAM method as its paper names it (``gradcampp`` -> ``Grad-CAM++``)."""
    return METHOD_TITLES.get(method, method)
