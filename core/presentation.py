"""Presentation mode for a projector: tables and figures as slides, one thing per screen.

Tables: slides of a few columns each, as HTML that wraps instead of cutting.

A plotly table keeps every column on one line at a fixed width, so at 24 px on a 1280 x 720
projector its cells were cut ("GoogLe", "(0.808-0"). Here a wide table is split into slides of
at most ``max_columns`` columns (the first, naming the row, repeated on each), each cell's
bracketed part (a CI) goes on its own line, and the HTML table has a fixed layout at the
page's width with wrapping cells: nothing can overflow its box. Text is escaped.

Figures: a gallery becomes slides of the case's image and two models' maps, the confusion
matrices slides of one row; :func:`figure_fit` makes the one chart on screen as tall as the
room between its top and the bottom of the window, so it fits a 1280 x 720 or 1920 x 1080
projector, with or without the sidebar, unscrolled.
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TypeVar

import pandas as pd

SLIDE_COLUMNS = 4  # columns besides the first on one slide: readable at 1280 x 720
FONT_PX = 24
PANELS_PER_SLIDE = 2  # the case's image and two models' maps: one row of three at 1280 x 720
MATRICES_PER_SLIDE = 3  # one row of confusion matrices
MIN_FIGURE_PX = 300  # a figure is never squeezed below this on a very short window
BOTTOM_PX = 16  # room left under a figure

Item = TypeVar("Item")


def with_first(items: Sequence[Item], size: int) -> list[list[Item]]:
    """Slides of the first item and at most ``size`` of the others each (the first, naming
    the rows or showing the case, is repeated on every slide)."""
    if len(items) <= size + 1:
        return [list(items)]
    first, rest = items[0], list(items[1:])
    return [[first, *rest[start:start + size]] for start in range(0, len(rest), size)]


def slides(table: pd.DataFrame, max_columns: int = SLIDE_COLUMNS) -> list[pd.DataFrame]:
    """The table as slides: the first column and at most ``max_columns`` others each."""
    return [table[columns] for columns in with_first(list(table.columns), max_columns)]


def row_slides(frame: pd.DataFrame, size: int = MATRICES_PER_SLIDE) -> list[pd.DataFrame]:
    """The frame's rows, ``size`` to a slide (one confusion matrix a row)."""
    return [frame.iloc[start:start + size] for start in range(0, max(len(frame), 1), size)]


def _cell(value: object) -> str:
    """Escaped text, a bracketed part on a line of its own."""
    return html.escape(str(value)).replace(" (", "<br>(")


def html_table(table: pd.DataFrame, title: str) -> str:
    """One slide as a self-contained HTML table (its own style, class ``sc-slide``)."""
    header = "".join(f"<th>{_cell(column)}</th>" for column in table.columns)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(value)}</td>" for value in row) + "</tr>"
                   for row in table.itertuples(index=False))
    return (f"<style>.sc-slide{{width:100%;table-layout:fixed;border-collapse:collapse;"
            f"font-size:{FONT_PX}px;line-height:1.3}}"
            ".sc-slide th,.sc-slide td{overflow-wrap:anywhere;white-space:normal;"
            "text-align:left;vertical-align:top;padding:6px 10px;border-bottom:1px solid #ddd}"
            ".sc-slide th{background:#E8EEF7}"
            f".sc-slide caption{{caption-side:top;text-align:left;font-size:{FONT_PX + 4}px;"
            "font-weight:600;padding-bottom:8px}</style>"
            f"<table class='sc-slide'><caption>{html.escape(title)}</caption>"
            f"<thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>")


# Compact chrome: the page's top and side padding would take a quarter of a 720 px screen.
PAGE_STYLE = ("<style>.stMainBlockContainer{padding:3.5rem 1.5rem 1rem !important}</style>")


def figure_fit(key: str, height: int) -> str:
    """Style and script that make the chart whose Streamlit key is ``key`` as tall as the room
    left between its top and the bottom of the window (``height`` px until the script has
    run), at least ``MIN_FIGURE_PX``; the script follows resizes and the sidebar, and
    Streamlit redraws the plotly figure at its container's height."""
    selector = f".st-key-{key}"
    return (f"<style>{selector}{{height:var(--sc-room,{height}px) !important;"
            "flex:0 0 auto !important}</style>"
            "<script>\n"
            f"window.scFitKey = {selector!r};\n"
            "if (!window.scFit) {\n"
            "  window.scFit = () => {\n"
            "    const box = document.querySelector(window.scFitKey);\n"
            "    if (!box) return;\n"
            "    const scroller = box.closest('.stMain');  // Streamlit scrolls here, not the window\n"
            "    const top = box.getBoundingClientRect().top + (scroller ? scroller.scrollTop : 0);\n"
            f"    const room = Math.max({MIN_FIGURE_PX}, "
            f"Math.floor(window.innerHeight - top - {BOTTOM_PX}));\n"
            "    const root = document.documentElement.style;\n"
            "    if (root.getPropertyValue('--sc-room') !== room + 'px') "
            "root.setProperty('--sc-room', room + 'px');\n"
            "  };\n"
            "  window.addEventListener('resize', window.scFit);\n"
            "  setInterval(window.scFit, 200);\n"
            "}\n"
            "window.scFit();\n"
            "</script>")
