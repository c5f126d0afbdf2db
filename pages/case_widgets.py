"""Widgets the practice quiz and the reader study share: the answer fields, the AI's panel, and
the case image with or without the model's heatmap. ``key(name)`` gives each widget's key, so
every case of every session keeps its own widget state."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from core.errors import UserError
from core.images import jpeg_bytes, load_grey, stored_png
from core.lexicon import BIRADS_CATEGORIES, DESCRIPTORS
from core.store import Store
from pages import ui

Key = Callable[[str], str]


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


def heatmap_of(store: Store, model_id: str, case_id: int, method: str = "gradcam"
               ) -> np.ndarray | None:
    """The model's map of the case: from the cache, else computed on the cached model; None,
    with a warning on the page, where it cannot be had."""
    from core import heatmaps

    try:
        cam = heatmaps.cached_heatmap(store, model_id, case_id, method)
        if cam is None:
            cam = heatmaps.heatmap_for_case(store, ui.cached_model(model_id), case_id,
                                            method=method)
        return cam
    except UserError as error:
        st.warning(f"The heatmap cannot be shown: {error}")
        return None


def ai_panel(ai, cam: np.ndarray | None, key: Key) -> tuple[bool, float]:
    """The model's probability and its call at its cut-off, the heatmap switch and opacity;
    returns (show the heatmap, opacity)."""
    st.metric("AI probability of malignancy", f"{ai.probability:.0%}")
    verdict = "malignant" if ai.malignant else "benign"
    st.caption(f"Model {ai.model_id}; at its cut-off of {ai.threshold:.0%} it calls this "
               f"nodule {verdict}.")
    with_heatmap = st.toggle("Show the heatmap", value=cam is not None, disabled=cam is None,
                             key=key("overlay"))
    alpha = st.slider("Heatmap opacity", 0.0, 1.0, 0.45, 0.05, disabled=not with_heatmap,
                      key=key("alpha"))
    return with_heatmap, alpha


def case_image(column, store: Store, image_path: str, cam: np.ndarray | None = None,
               alpha: float = 0.45) -> None:
    """The case as stored, or blended with ``cam`` where one is given."""
    if cam is None:
        show_image(column, stored_png(store, image_path))
        return
    from core import heatmaps

    show_image(column, heatmaps.overlay(load_grey(store, image_path), cam, alpha),
               "Grad-CAM heatmap")
