"""Heatmaps (Grad-CAM and kin) for every model, cached so that a quiz never waits.

Public API: :data:`METHODS`, :func:`heatmap_for_case`, :func:`cached_heatmap`,
:func:`overlay`, :func:`precompute_heatmaps`, :func:`localisation_summary`.
"""
from core.heatmaps.cache import cached_heatmap, heatmap_for_case, precompute_heatmaps
from core.heatmaps.cam import METHODS, compute_cams
from core.heatmaps.localisation import localisation_scores, localisation_summary
from core.heatmaps.overlay import overlay

__all__ = ["METHODS", "cached_heatmap", "compute_cams", "heatmap_for_case",
           "localisation_scores", "localisation_summary", "overlay", "precompute_heatmaps"]
