"""What the practice quiz and the reader study's reading pages share: running an action from a
button callback, widget keys and the time spent per case, the answer form, the AI's panel,
and the case image with or without the model's heatmap. ``key(name)`` gives each widget's key,
so every case of every session keeps its own widget state."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from core.display_names import model_names
from core.errors import UserError
from core.images import jpeg_bytes, load_grey, stored_png, zoom
from core.lexicon import BIRADS_CATEGORIES, DESCRIPTORS
from core.models.framing import Box, zoom_box
from core.plain_text import plain
from core.store import Store
from pages import ui

if TYPE_CHECKING:
    from core.heatmaps.case_heatmap import CaseHeatmap

Key = Callable[[str], str]
ZOOMED_SIDE_PX = 720  # a zoomed case image is enlarged to about the image column's width


def act(error_key: str, action: Callable, *args, **kwargs) -> None:
    """Run a core action from a button callback; its refusal (UserError) is kept under
    ``error_key`` for the page to show at the top of the run the click starts."""
    try:
        action(*args, **kwargs)
    except UserError as error:
        st.session_state[error_key] = str(error)


def field(prefix: str, view, name: str) -> str:
    """The widget key ``<prefix>_<session>_<case>_<name>``: one per case of each session."""
    return f"{prefix}_{view.session_id}_{view.case_id}_{name}"


def seconds_on(key: str) -> float:
    """Seconds since ``key`` was first asked for in this browser session (a case's timer)."""
    return time.monotonic() - st.session_state.setdefault(key, time.monotonic())


def show_image(column, image: bytes | np.ndarray, caption: str | None = None) -> None:
    """A stored PNG (bytes) or a drawn RGB array (sent as a sharp JPEG), full column width."""
    data, kind = (image, "PNG") if isinstance(image, bytes) else (jpeg_bytes(image), "JPEG")
    column.image(data, width="stretch", output_format=kind, caption=caption)


def answer_form(form_key: str, key: Key, submit_label: str, on_submit: Callable,
                args: tuple = ()) -> None:
    """BI-RADS (nothing chosen at first), the probability of malignancy, the optional lexicon
    descriptors and the submit button, in one bordered box. BI-RADS sits outside the form, so
    picking a category reruns the page at once and a refusal shown for the last submit
    ("choose a BI-RADS category") goes away; the rest is a form (no rerun per slider move)."""
    with st.container(border=True):
        st.radio("BI-RADS category", BIRADS_CATEGORIES, index=None, horizontal=True,
                 key=key("birads"))
        with st.form(form_key, border=False):
            st.slider("Probability of malignancy (%)", 0, 100, 50, key=key("probability"))
            with st.expander("Lexicon descriptors (optional)"):
                for name, values in DESCRIPTORS.items():
                    st.selectbox(name.replace("_", " ").capitalize(), [None, *values],
                                 format_func=lambda value: value or "-", key=key(name))
            st.form_submit_button(submit_label, type="primary", on_click=on_submit, args=args)


def heatmap_of(store: Store, model_id: str, case_id: int, method: str | None = None
               ) -> CaseHeatmap | None:
    """The model's map of the case and the region it read (stored, else computed on the
    cached model); None, with a warning on the page, where it cannot be had."""
    from core.heatmaps.case_heatmap import case_heatmap  # loaded at the first AI step

    try:
        return case_heatmap(store, model_id, case_id, method, ui.cached_model)
    except UserError as error:
        st.warning(f"The heatmap cannot be shown: {plain(error)}")
        return None


@dataclass(frozen=True)
class HeatmapChoice:
    """How the reader asked to see the heatmap."""

    show: bool
    alpha: float = 0.45
    zoom: bool = False
    hottest: bool = False


def ai_panel(ai, heatmap: CaseHeatmap | None, key: Key, offer_zoom: bool = True,
             offer_hottest: bool = False) -> HeatmapChoice:
    """The model's probability and its call at its cut-off, then the heatmap's switch, opacity,
    (where offered) the line around its hottest 20%, and (for a model that read the marked
    region around the nodule, unless the page offers its own zoom) zoom."""
    probability, cut_off = ai.figures
    st.metric("AI probability of malignancy", probability)
    verdict = "malignant" if ai.malignant else "benign"
    name = model_names(ui.get_store()).get(ai.model_id, ai.model_id)
    st.caption(f"Model {plain(name)}; at its cut-off of {cut_off} it calls "
               f"this nodule {verdict}." + (f" It {heatmap.reads}." if heatmap else ""))
    show = st.toggle("Show the heatmap", value=heatmap is not None, disabled=heatmap is None,
                     key=key("overlay"))
    alpha = st.slider("Heatmap opacity", 0.0, 1.0, 0.45, 0.05, disabled=not show,
                      key=key("alpha"))
    # On at first: the blend alone leaves "where is it hottest" to the eye, and the line stays
    # clear over the tissue when the opacity is lowered to compare the map with one's own read.
    hottest = offer_hottest and st.toggle(
        "Outline the hottest 20%", value=True, disabled=not show, key=key("hottest"),
        help="A magenta line around the fifth of the region the model read where its heat is "
             "highest.")
    zoom_in = offer_zoom and heatmap is not None and heatmap.region is not None and st.toggle(
        "Zoom to the nodule", disabled=not show, key=key("zoom"),
        help="This model read only the region an operator would mark around the nodule; "
             "see it enlarged.")
    return HeatmapChoice(show and heatmap is not None, alpha, zoom_in, hottest)


def around(image: np.ndarray, square: Box) -> np.ndarray:
    """The part of an image (or mask) around a lesion's marked box (``framing.zoom_box``),
    enlarged to about the image column's width."""
    return zoom(image, zoom_box(square, image.shape[:2]), ZOOMED_SIDE_PX)


def case_image(column, store: Store, image_path: str, heatmap: CaseHeatmap | None = None,
               choice: HeatmapChoice = HeatmapChoice(show=False),
               zoom_to: Box | None = None) -> None:
    """The case as stored, or with ``heatmap`` blended in (and the line around its hottest
    20%) as ``choice`` asks, its colour scale below; ``zoom_to``: the part around that box,
    enlarged, with or without the heatmap."""
    if heatmap is None or not choice.show:
        if zoom_to is None:
            show_image(column, stored_png(store, image_path))
        else:
            show_image(column, around(load_grey(store, image_path), zoom_to))
        return
    from core.heatmaps import method_title
    from core.heatmaps.colour_overlay import colour_scale_html, overlay
    from core.heatmaps.contours import draw_outlines, hottest_area

    shown = overlay(load_grey(store, image_path), heatmap.cam, choice.alpha, heatmap.region)
    hottest = hottest_area(heatmap.cam, heatmap.region) if choice.hottest else None
    line = None if hottest is None else hottest.mask
    square = zoom_to if zoom_to is not None else heatmap.region if choice.zoom else None
    if square is not None:
        shown = around(shown, square)
        line = None if line is None else around(line, square)
    show_image(column, draw_outlines(shown, hottest=line),
               f"{method_title(heatmap.method)} heatmap")
    column.html(colour_scale_html(method_title(heatmap.method),
                                  grey_outside=heatmap.region is not None))
    if hottest is not None and hottest.note:
        column.caption(hottest.note)
