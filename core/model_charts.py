"""Plotly figures for the model comparison: data in (frames from ``core.comparison``), figure
out. ``presentation=True`` enlarges type, lines and markers for a projector."""
from __future__ import annotations

import base64
import io
import math
import textwrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from PIL import Image

from core.stats.roc import AucResult, TooFewCases, auc_text

# Okabe-Ito: distinguishable with the common colour-vision deficiencies, and on a projector.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
           "#F0E442")
READER_COLOURS = {"unaided": "#7F7F7F", "aided": "#D62728"}


def colour_map(labels: list[str]) -> dict[str, str]:
    """One fixed colour per model label, in the order given."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}


def _translucent(colour: str, alpha: float) -> str:
    """'#RRGGBB' as an rgba() string with the given opacity."""
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _sizes(presentation: bool) -> dict[str, float]:
    """Type, lines and markers, the height a figure is drawn for and the narrowest width it
    is shown at (a projector's 1280 px less the sidebar; titles are wrapped for it)."""
    if presentation:
        return {"font": 24, "title": 30, "legend": 20, "line": 4.5, "marker": 18,
                "height": 760, "width": 880}
    return {"font": 14, "title": 18, "legend": 14, "line": 2.2, "marker": 11, "height": 560,
            "width": 1100}


TITLE_CHARS = {False: 90, True: 48}  # a projector's 1280 px, less the sidebar, at 30 px type

# A small white template: plotly's named templates are deep-copied into every figure (slow).
_AXIS = {"gridcolor": "#EBEBEB", "linecolor": "#BBBBBB", "zeroline": False, "ticks": ""}
TEMPLATE = go.layout.Template(layout={"paper_bgcolor": "white", "plot_bgcolor": "white",
                                      "xaxis": _AXIS, "yaxis": _AXIS,
                                      "font": {"color": "#2A3F5F"}})


def wrapped(text: str, chars: int) -> str:
    """Plotly text broken into lines of at most ``chars`` characters (plotly never wraps:
    a long title is cut at both ends of a narrow figure). A ``<sup>`` line (a subtitle, in
    smaller type) takes more characters and stays ``<sup>`` on each of its lines."""
    lines = []
    for line in text.split("<br>"):
        if line.startswith("<sup>") and line.endswith("</sup>"):
            lines += [f"<sup>{part}</sup>" for part in textwrap.wrap(
                line[5:-6], chars * 3 // 2, break_on_hyphens=False)]
        else:  # "cut-off" stays whole
            lines += textwrap.wrap(line, chars, break_on_hyphens=False) or [""]
    return "<br>".join(lines)


def _title_height(title: str, presentation: bool) -> float:
    """Room for the figure's title, one line per '<br>'-separated line."""
    return 24 + (title.count("<br>") + 1) * 1.5 * _sizes(presentation)["title"]


def _style(fig: go.Figure, title: str, presentation: bool, height: int | None = None) -> go.Figure:
    size = _sizes(presentation)
    title = wrapped(title, TITLE_CHARS[presentation])
    fig.update_xaxes(automargin=True)  # tick labels and axis titles are never cut
    fig.update_yaxes(automargin=True)
    fig.update_layout(
        title={"text": title, "font": {"size": size["title"]}, "yref": "container", "y": 1,
               "yanchor": "top", "pad": {"t": _title_pad(title, size["title"])}},
        font={"size": size["font"]}, template=TEMPLATE,
        height=height or size["height"],
        margin={"l": 70, "r": 30, "t": _title_height(title, presentation), "b": 60},
        legend={"font": {"size": size["legend"]}})
    return fig


def _title_pad(title: str, font: float) -> float:
    """Padding that puts the title at the top of the figure. Plotly centres a title in the top
    margin by default (over panel titles), and lifts every line of a multi-line title by
    ``LINE_SPACING * (lines - 1) + MID_SHIFT`` em whatever its anchor (its first line was cut)."""
    extra = title.count("<br>")
    return 12 + ((1.3 * extra + 0.35) * font if extra else 0)


def _labels(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(frame["label"]))


def roc_figure(curves: pd.DataFrame, bands: pd.DataFrame | None = None,
               readers: pd.DataFrame | None = None,
               aucs: dict[str, AucResult | TooFewCases] | None = None,
               band_label: str = "", presentation: bool = False) -> go.Figure:
    """ROC curves (``curves``: label, fpr, tpr), optional CI bands (label, fpr, tpr_low,
    tpr_high) and reader operating points (reader, mode, fpr, tpr with CIs)."""
    size = _sizes(presentation)
    labels = _labels(curves)
    colours = colour_map(labels)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                             line={"color": "#BBBBBB", "dash": "dot", "width": 1.5},
                             hoverinfo="skip", showlegend=False))
    if bands is not None and not bands.empty:
        for label in labels:
            band = bands[bands["label"] == label]
            if band.empty:
                continue
            fig.add_trace(go.Scatter(
                x=np.r_[band["fpr"], band["fpr"][::-1]],
                y=np.r_[band["tpr_high"], band["tpr_low"][::-1]],
                fill="toself", fillcolor=_translucent(colours[label], 0.13), line={"width": 0},
                name=f"{label} {band_label}", legendgroup=label, showlegend=False,
                hoverinfo="skip"))
    for label in labels:
        curve = curves[curves["label"] == label]
        name = label
        if aucs and label in aucs:  # on a projector the legend's title says "AUC (95% CI)"
            name = (f"{label} {auc_text(aucs[label])}" if presentation
                    else f"{label} (AUC {auc_text(aucs[label])})")
        fig.add_trace(go.Scatter(
            x=curve["fpr"], y=curve["tpr"], mode="lines", name=name, legendgroup=label,
            line={"color": colours[label], "width": size["line"], "shape": "linear"},
            hovertemplate=f"{label}<br>1 - specificity %{{x:.3f}}<br>sensitivity %{{y:.3f}}"
                          "<extra></extra>"))
    if readers is not None and not readers.empty:
        _add_reader_points(fig, readers, size)
    fig.update_xaxes(title="1 - specificity (false-positive rate)", range=[-0.01, 1.01],
                     constrain="domain", dtick=0.2)
    fig.update_yaxes(title="sensitivity (true-positive rate)", range=[-0.01, 1.01],
                     scaleanchor="x", scaleratio=1, dtick=0.2)
    title = "ROC curves on the test split"
    if band_label and bands is not None and not bands.empty:
        title += f"<br><sup>shaded: {band_label}</sup>"
    _style(fig, title, presentation)
    _side_legend(fig, "AUC (95% CI)" if presentation and aucs else None)
    return fig


def _side_legend(fig: go.Figure, title: str | None) -> None:
    """The legend right of the plot, with a title naming what its entries' numbers are."""
    fig.update_layout(legend={"x": 1.02, "y": 1, "xanchor": "left", "yanchor": "top",
                              "title": {"text": title or ""},
                              "tracegroupgap": 0})  # a gap per model: a projector's legend scrolled


def _add_reader_points(fig: go.Figure, readers: pd.DataFrame, size: dict[str, float]) -> None:
    """Each reader's unaided and aided point, joined by an arrow-like line, with Wilson CIs."""
    for reader, rows in readers.groupby("reader", sort=False):
        rows = rows.set_index("mode")
        if {"unaided", "aided"} <= set(rows.index):
            fig.add_trace(go.Scatter(
                x=[rows.at["unaided", "fpr"], rows.at["aided", "fpr"]],
                y=[rows.at["unaided", "tpr"], rows.at["aided", "tpr"]], mode="lines",
                line={"color": "#555555", "width": size["line"] / 2, "dash": "dash"},
                showlegend=False, hoverinfo="skip"))
        for mode, row in rows.iterrows():
            symbol = "diamond" if row.get("pooled", False) else "circle"
            fig.add_trace(go.Scatter(
                x=[row["fpr"]], y=[row["tpr"]], mode="markers", name=f"{reader}, {mode}",
                marker={"color": READER_COLOURS.get(mode, "#333333"), "size": size["marker"],
                        "symbol": symbol if mode == "aided" else f"{symbol}-open",
                        "line": {"width": 2.5, "color": READER_COLOURS.get(mode, "#333333")}},
                error_x={"type": "data", "symmetric": False,
                         "array": [row["fpr_high"] - row["fpr"]],
                         "arrayminus": [row["fpr"] - row["fpr_low"]], "thickness": 1},
                error_y={"type": "data", "symmetric": False,
                         "array": [row["tpr_high"] - row["tpr"]],
                         "arrayminus": [row["tpr"] - row["tpr_low"]], "thickness": 1},
                hovertemplate=(f"{reader}, {mode} (BI-RADS >= 4A)<br>n = {int(row['n'])} "
                               "reads<br>1 - specificity %{x:.3f}<br>sensitivity %{y:.3f}"
                               "<extra></extra>")))


def confusion_figure(matrices: pd.DataFrame, presentation: bool = False) -> go.Figure:
    """One 2x2 confusion matrix per model (``matrices``: label, threshold, tp, fp, tn, fn)."""
    size = _sizes(presentation)
    cols = min(3, len(matrices))
    rows = math.ceil(len(matrices) / cols)
    names = [wrapped(f"{r.label} (cut-off {r.threshold:.2f})", _panel_chars(size, cols))
             for r in matrices.itertuples()]
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.05, vertical_spacing=0.2,
                        subplot_titles=names)
    for i, row in enumerate(matrices.itertuples()):
        counts = np.array([[row.tn, row.fp], [row.fn, row.tp]])
        shares = counts / counts.sum(axis=1, keepdims=True).clip(min=1)
        text = [[f"{counts[r, c]}<br>({shares[r, c]:.0%})" for c in range(2)] for r in range(2)]
        fig.add_trace(go.Heatmap(
            z=shares, x=["benign", "malignant"], y=["benign", "malignant"],
            text=text, texttemplate="%{text}", textfont={"size": size["font"] + 2},
            colorscale="Blues", zmin=0, zmax=1, showscale=False,
            hovertemplate="truth %{y}<br>called %{x}<br>%{text}<extra></extra>"),
            row=i // cols + 1, col=i % cols + 1)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_yaxes(title_text="truth", showticklabels=True, col=1)
    fig.update_xaxes(title_text="model's call", row=rows)
    fig.update_annotations(font_size=size["font"])
    title = "Confusion matrices on the test split (at each model's stored threshold)"
    _style(fig, title, presentation, height=int(size["height"] * 0.55 * rows) + 120)
    # The first row's panel titles sit above its plots: room for them under the figure's title.
    fig.update_layout(margin_t=_title_height(wrapped(title, TITLE_CHARS[presentation]),
                                             presentation) + _names_height(names, size))
    return fig


def _panel_chars(size: dict[str, float], cols: int) -> int:
    """Characters of a panel title that fit one of ``cols`` panels across the figure."""
    return max(12, int((size["width"] - 60) / cols / (0.6 * size["font"])))


def _names_height(names: list[str], size: dict[str, float]) -> float:
    """Room for wrapped panel titles, their longest one's lines."""
    lines = max(name.count("<br>") + 1 for name in names)
    return (1.3 * lines + 1.3) * size["font"]


def calibration_figure(curves: pd.DataFrame, briers: dict[str, float] | None = None,
                       presentation: bool = False) -> go.Figure:
    """Reliability curves (``curves``: label, mean_predicted, observed, ci_low, ci_high, n)
    against the diagonal of perfect calibration; Brier scores in the legend."""
    size = _sizes(presentation)
    labels = _labels(curves)
    colours = colour_map(labels)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                             line={"color": "#BBBBBB", "dash": "dot", "width": 1.5}))
    for label in labels:
        curve = curves[curves["label"] == label]
        name = label
        if briers and label in briers:
            name = (f"{label} {briers[label]:.3f}" if presentation
                    else f"{label} (Brier {briers[label]:.3f})")
        fig.add_trace(go.Scatter(
            x=curve["mean_predicted"], y=curve["observed"], mode="lines+markers", name=name,
            line={"color": colours[label], "width": size["line"]},
            marker={"size": size["marker"] * 0.7},
            error_y={"type": "data", "symmetric": False,
                     "array": curve["ci_high"] - curve["observed"],
                     "arrayminus": curve["observed"] - curve["ci_low"], "thickness": 1,
                     "width": 3},
            customdata=curve["n"],
            hovertemplate=f"{label}<br>mean predicted %{{x:.2f}}<br>observed %{{y:.2f}}"
                          "<br>n = %{customdata}<extra></extra>"))
    fig.update_xaxes(title="mean predicted probability of malignancy", range=[-0.02, 1.02],
                     dtick=0.2, constrain="domain")
    fig.update_yaxes(title="observed share malignant", range=[-0.02, 1.02], dtick=0.2,
                     scaleanchor="x", scaleratio=1)
    _style(fig, "Calibration on the test split (reliability curves, Wilson 95% CIs)",
           presentation)
    _side_legend(fig, "Brier score" if presentation and briers else None)
    return fig


def table_figure(table: pd.DataFrame, title: str, presentation: bool = False) -> go.Figure:
    """A table of strings as a figure (large on a projector, exportable as PNG/SVG); a
    bracketed part (a CI) goes on its own line, columns are as wide as their text."""
    size = _sizes(presentation)
    header = [str(c).replace(" (", "<br>(") for c in table.columns]
    cells = [[str(v).replace(" (", "<br>(") for v in table[c]] for c in table.columns]
    widths = [max(4, *(len(part) for text in [h, *col] for part in text.split("<br>")))
              for h, col in zip(header, cells)]
    line = size["font"] * 1.45
    row_lines = [max(text.count("<br>") + 1 for text in row) for row in zip(*cells)]
    fig = go.Figure(go.Table(
        columnwidth=widths,
        header={"values": [f"<b>{h}</b>" for h in header], "fill_color": "#E8EEF7",
                "align": "left", "font": {"size": size["font"]}, "height": 2 * line + 8},
        cells={"values": cells, "align": "left", "font": {"size": size["font"]},
               "height": line + 8}))
    height = int(2 * line + 8 + sum(n * line + 8 for n in row_lines) + 110)
    _style(fig, title, presentation, height=height)
    # The page stretches the table to its width; an exported file gets the width it needs.
    width = int(sum(widths) * 0.58 * size["font"] + 18 * len(widths) + 20)
    fig.update_layout(margin={"l": 10, "r": 10, "b": 10}, width=max(width, 600))
    return fig


def _png_data_uri(rgb: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def gallery_figure(panels: list[tuple[str, np.ndarray]], title: str,
                   presentation: bool = False) -> go.Figure:
    """Images (title, RGB uint8 array) in a grid: the heatmap gallery of one case (the image,
    then one panel per model); three to a row, four beyond six panels except on a projector,
    and a lone image keeps a panel's size rather than filling the width. Panel titles are
    wrapped to their panel and the height fits images of the first panel's shape at the
    narrowest width the figure is shown at."""
    size = _sizes(presentation)
    width = size["width"]
    cols = 4 if len(panels) > 6 and not presentation else 3
    rows = math.ceil(len(panels) / cols)
    height, image_width = panels[0][1].shape[:2]
    names = [wrapped(name, _panel_chars(size, cols)) for name, _ in panels]
    title_space = _names_height(names, size)
    panel_height = (width - 60) / cols * height / image_width + title_space
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names,
                        horizontal_spacing=0.015,
                        vertical_spacing=title_space / (rows * panel_height) if rows > 1 else 0)
    for i, (_, rgb) in enumerate(panels):
        fig.add_trace(go.Image(source=_png_data_uri(rgb), hoverinfo="skip"),
                      row=i // cols + 1, col=i % cols + 1)
    # Each image shrinks its own panel to fit and hangs from the top, under its title, when
    # the figure is taller than the width lets the images grow (a projector's window).
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, constrain="domain", constraintoward="top")
    fig.update_annotations(font_size=size["font"])
    top = _title_height(wrapped(title, TITLE_CHARS[presentation]), presentation) + title_space
    _style(fig, title, presentation, height=int(rows * panel_height + top + 20))
    fig.update_layout(margin={"l": 20, "r": 20, "t": top, "b": 20})
    return fig
