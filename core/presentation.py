"""Tables for a projector: slides of a few columns each, as HTML that wraps instead of cutting.

A plotly table keeps every column on one line at a fixed width, so at 24 px on a 1280 x 720
projector its cells were cut ("GoogLe", "(0.808-0"). Here a wide table is split into slides of
at most ``max_columns`` columns (the first, naming the row, repeated on each), each cell's
bracketed part (a CI) goes on its own line, and the HTML table has a fixed layout at the
page's width with wrapping cells: nothing can overflow its box. Text is escaped.
"""
from __future__ import annotations

import html

import pandas as pd

SLIDE_COLUMNS = 4  # columns besides the first on one slide: readable at 1280 x 720
FONT_PX = 24


def slides(table: pd.DataFrame, max_columns: int = SLIDE_COLUMNS) -> list[pd.DataFrame]:
    """The table as slides: the first column and at most ``max_columns`` others each."""
    if table.shape[1] <= max_columns + 1:
        return [table]
    first, rest = table.columns[0], list(table.columns[1:])
    return [table[[first, *rest[start:start + max_columns]]]
            for start in range(0, len(rest), max_columns)]


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
