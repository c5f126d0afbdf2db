"""Heatmaps (Grad-CAM and kin) for every model, cached so that a quiz never waits.

Public API: :data:`METHODS`, :data:`METHOD_TITLES`, :func:`method_title`,
:func:`heatmap_for_case`, :func:`cached_heatmap`, :func:`read_region`, :func:`overlay`,
:func:`precompute_heatmaps`, :func:`localisation_summary`.
Names are loaded on first use (PEP 562), so reading a cached map or drawing an overlay never
imports torch; computing one does.
"""
from importlib import import_module

METHOD_TITLES = {"gradcam": "Grad-CAM", "gradcampp": "Grad-CAM++", "hirescam": "HiResCAM",
                 "layercam": "LayerCAM", "eigencam": "EigenCAM", "scorecam": "Score-CAM"}


def method_title(method: str) -> str:
    """A CAM method as its paper names it (``gradcampp`` -> ``Grad-CAM++``)."""
    return METHOD_TITLES.get(method, method)


_HOME = {
    "cached_heatmap": "stored", "read_region": "stored", "overlay": "colour_overlay",
    "localisation_scores": "localisation", "localisation_summary": "localisation",
    "heatmap_for_case": "cache", "precompute_heatmaps": "cache",
    "METHODS": "cam", "compute_cams": "cam",
}
__all__ = sorted([*_HOME, "METHOD_TITLES", "method_title"])


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'core.heatmaps' has no attribute {name!r}")
    return getattr(import_module(f"core.heatmaps.{_HOME[name]}"), name)
