"""Widgets the practice quiz and the reader study share: the answer fields, the AI's panel, and
the case image with or without the model's heatmap. ``key(name)`` gives each widget's key, so
every case of every session keeps its own widget state."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

from core.errors import UserError
from core.images import jpeg_bytes, load_grey, stored_png, zoom
from core.lexicon import BIRADS_CATEGORIES, DESCRIPTORS
from core.models.framing import Box, zoom_box
from core.plain_text import plain
from core.store import Store
from pages import ui

Key = Callable[[str], str]
ZOOMED_SIDE_PX = 720  # a zoomed case image is enlarged to about the image column's width


def show_image(column, image: bytes | np.ndarray, caption: str | None = None) -> None:
    """A stored PNG (bytes) or a drawn RGB array (sent as a sharp JPEG), full column width."""
    data, kind = (image, "PNG") if isinstance(image, bytes) else (jpeg_bytes(image), "JPEG")
    column.image(data, width="stretch", output_format=kind, caption=caption)


def answer_fields(key: Key) -> None:
    """BI-RADS (nothing chosen at first), the probability of malignancy and the optional
    lexicon descriptors, inside the caller's form."""
    st.radio("BI-RADS category", BIRADS_CATEGORIES, index=None, horizontal=True,
             key=key("birads"))
    st.slider("Probability of malignancy (%)", 0, 100, 50, key=key("probability"))
    with st.expander("Lexicon descriptors (optional)"):
        for name, values in DESCRIPTORS.items():
            st.selectbox(name.replace("_", " ").capitalize(), [None, *values],
                         format_func=lambda value: value or "-", key=key(name))


@dataclass(frozen=True)
class Heatmap:
    """A model's map of a case at the image's size, the box the model read (None: the whole
    image) and the CAM method that made it."""

    cam: np.ndarray
    region: Box | None
    method: str


def heatmap_of(store: Store, model_id: str, case_id: int, method: str = "gradcam"
               ) -> Heatmap | None:
    """The model's map of the case (from the cache, else computed on the cached model); None,
    with a warning on the page, where it cannot be had."""
    from core import heatmaps

    try:
        cam = heatmaps.cached_heatmap(store, model_id, case_id, method)
        if cam is None:
            cam = heatmaps.heatmap_for_case(store, ui.cached_model(model_id), case_id,
                                            method=method)
        return Heatmap(cam, heatmaps.read_region(store, model_id, case_id), method)
    except UserError as error:
        st.warning(f"The heatmap cannot be shown: {plain(error)}")
        return None


@dataclass(frozen=True)
class HeatmapChoice:
    """How the reader asked to see the heatmap."""

    show: bool
    alpha: float = 0.45
    zoom: bool = False


def ai_panel(ai, heatmap: Heatmap | None, key: Key) -> HeatmapChoice:
    """The model's probability and its call at its cut-off, then the heatmap's switch, opacity
    and (for a model that read the lesion's square) zoom."""
    st.metric("AI probability of malignancy", f"{ai.probability:.0%}")
    verdict = "malignant" if ai.malignant else "benign"
    st.caption(f"Model {ai.model_id}; at its cut-off of {ai.threshold:.0%} it calls this "
               f"nodule {verdict}.")
    show = st.toggle("Show the heatmap", value=heatmap is not None, disabled=heatmap is None,
                     key=key("overlay"))
    alpha = st.slider("Heatmap opacity", 0.0, 1.0, 0.45, 0.05, disabled=not show,
                      key=key("alpha"))
    zoom_in = heatmap is not None and heatmap.region is not None and st.toggle(
        "Zoom to the nodule", disabled=not show, key=key("zoom"),
        help="This model read only the square around the nodule; see it enlarged.")
    return HeatmapChoice(show and heatmap is not None, alpha, zoom_in)


def around(image: np.ndarray, square: Box) -> np.ndarray:
    """The part of an image (or mask) around a lesion's square (``framing.zoom_box``),
    enlarged to about the image column's width."""
    return zoom(image, zoom_box(square, image.shape[:2]), ZOOMED_SIDE_PX)


def case_image(column, store: Store, image_path: str, heatmap: Heatmap | None = None,
               choice: HeatmapChoice = HeatmapChoice(show=False)) -> None:
    """The case as stored, or with ``heatmap`` blended in as ``choice`` asks."""
    if heatmap is None or not choice.show:
        show_image(column, stored_png(store, image_path))
        return
    from core import heatmaps

    shown = heatmaps.overlay(load_grey(store, image_path), heatmap.cam, choice.alpha,
                             heatmap.region)
    if choice.zoom and heatmap.region is not None:
        shown = around(shown, heatmap.region)
    show_image(column, shown, f"{heatmaps.method_title(heatmap.method)} heatmap")
