"""Plotly figures for progress and the cohort: data in, figure out (no store, no Streamlit)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

MODE_COLOURS = {"unaided": "#1f77b4", "aided": "#e8710a"}
PALETTE = ("#1f77b4", "#e8710a", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
METRIC_TITLES = {"accuracy": "Accuracy", "sensitivity": "Sensitivity",
                 "specificity": "Specificity", "auc": "BI-RADS AUC", "birads_auc": "BI-RADS AUC"}
X_TITLES = {"position": "Cases read", "date": "Date"}
MARKED_POINTS = 30  # curves this short mark each point
AUC_METRICS = ("auc", "birads_auc")  # shown as 0-1 numbers, never as percentages
DAY_MS = 86_400_000
FEW_DAYS = 14  # date axes this short get one tick a day


def value_text(metric: str, value: float) -> str:
    """A metric's value as the app writes it: an AUC as 0.54, a proportion as 54%."""
    return f"{value:.2f}" if metric in AUC_METRICS else f"{value:.0%}"


def value_axis(metric: str) -> dict:
    """A 0-1 axis of a metric: ticks and hover labels as :func:`value_text` writes it."""
    auc = metric in AUC_METRICS
    return {"range": [0, 1.02], "tickformat": ".1f" if auc else ".0%",
            "hoverformat": ".2f" if auc else ".0%"}


def _rgba(hex_colour: str, alpha: float) -> str:
    red, green, blue = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def _line_with_band(figure: go.Figure, frame: pd.DataFrame, x: str, metric: str, name: str,
                    colour: str) -> None:
    band = frame.dropna(subset=[f"{metric}_lo", f"{metric}_hi"])
    if len(band):
        figure.add_trace(go.Scatter(
            x=pd.concat([band[x], band[x][::-1]]),
            y=pd.concat([band[f"{metric}_hi"], band[f"{metric}_lo"][::-1]]),
            mode="lines", fill="toself", fillcolor=_rgba(colour, 0.15), line={"width": 0},
            hoverinfo="skip", showlegend=False, name=f"{name} 95% CI"))
    few = len(frame) <= MARKED_POINTS  # a first read is a point, which a bare line hides
    figure.add_trace(go.Scatter(x=frame[x], y=frame[metric], mode="lines+markers" if few else
                                "lines", name=name, line={"color": colour, "width": 2}))


LABEL_ANCHORS = {"top": "bottom", "bottom": "top", "on": "middle"}


def _reference_lines(figure: go.Figure, lines: list[tuple[float, str, str, str]]) -> None:
    """Dashed horizontal lines across the plot, each (y, label, colour, the label's place:
    "top"/"bottom" of the line, or "on" it, boxed in the line's colour so that it reads as the
    line's own label), set in one layout update (``add_hline`` costs several ms a line)."""
    figure.update_layout(
        shapes=[{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": y,
                 "y1": y, "line": {"dash": "dash", "color": colour}}
                for y, _, colour, _ in lines],
        annotations=[{"xref": "paper", "x": 1, "yref": "y", "y": y, "text": label,
                      "showarrow": False, "xanchor": "right", "yanchor": LABEL_ANCHORS[side],
                      **({"bgcolor": "rgba(255, 255, 255, 0.9)", "bordercolor": colour,
                          "font": {"color": colour}} if side == "on" else {})}
                     for y, label, colour, side in lines])


def _layout(figure: go.Figure, title: str, x_title: str, y_title: str,
            metric: str = "") -> go.Figure:
    figure.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title,
                         yaxis=value_axis(metric),
                         legend={"orientation": "h", "y": -0.2}, margin={"t": 50, "b": 10},
                         hovermode="x unified")
    return figure


def _whole_cases(figure: go.Figure, counts: pd.Series) -> None:
    """Ticks of a cases-read axis at whole cases (not 1.2, 1.4...): one per case up to ten."""
    few = len(counts) > 0 and counts.max() <= 10
    figure.update_xaxes(tickformat="d", dtick=1 if few else None)


def _whole_days(figure: go.Figure, dates: pd.Series) -> None:
    """A date axis labelled by day (never "23:59:59.9995" around a single day's point): one
    tick a day and half a day of margin when the reads span at most ``FEW_DAYS`` days."""
    figure.update_xaxes(type="date", tickformat="%d %b %Y", hoverformat="%d %b %Y")
    if len(dates) and (dates.max() - dates.min()).days <= FEW_DAYS:
        half = pd.Timedelta(hours=12)
        figure.update_xaxes(dtick=DAY_MS, range=[dates.min() - half, dates.max() + half])


def rolling_chart(curves: pd.DataFrame, metric: str, x: str = "position",
                  model_value: float | None = None, model_name: str = "AI model") -> go.Figure:
    """One metric over cases read (``x="position"``) or dates, a line and 95% CI band per mode
    (unaided, aided), and the model's level on the same cases as a dashed reference line."""
    figure = go.Figure()
    for mode, colour in MODE_COLOURS.items():
        part = curves[curves["mode"] == mode] if len(curves) else curves
        if len(part):
            _line_with_band(figure, part, x, metric, mode, colour)
    if model_value is not None and pd.notna(model_value):
        _reference_lines(figure, [(model_value, f"{model_name}: "
                                   f"{value_text(metric, model_value)}", "#555", "on")])
    if x == "position":
        _whole_cases(figure, curves["position"] if len(curves) else pd.Series(dtype=int))
    else:
        _whole_days(figure, curves[x] if len(curves) else pd.Series(dtype="datetime64[ns]"))
    return _layout(figure, METRIC_TITLES[metric], X_TITLES[x], METRIC_TITLES[metric], metric)


def cusum_chart(curve: pd.DataFrame) -> go.Figure:
    """The CUSUM test of wrong calls (``core.stats.curves.cusum``): it rises with each wrong
    call and falls with each right one; crossing the upper limit signals an unacceptable error
    rate, the lower one an acceptable rate, and the test starts again after each signal."""
    figure = go.Figure()
    if len(curve):
        limits = curve.attrs.get("limits", {})
        figure.add_trace(go.Scatter(x=curve["attempt"], y=curve["sprt"], mode="lines",
                                    name="CUSUM", line={"color": "#1f77b4", "width": 2}))
        for signal, colour, symbol in (("unacceptable", "#d62728", "triangle-up"),
                                       ("acceptable", "#2ca02c", "triangle-down")):
            hits = curve[curve["signal"] == signal]
            if len(hits):
                figure.add_trace(go.Scatter(x=hits["attempt"], y=hits["sprt"], mode="markers",
                                            name=f"signal: {signal}",
                                            marker={"color": colour, "size": 11,
                                                    "symbol": symbol}))
        h1, h0 = curve["h1"].iloc[0], curve["h0"].iloc[0]
        _reference_lines(figure, [
            (h1, f"unacceptable ({limits.get('p1', 0):.0%} wrong)", "#d62728", "top"),
            (-h0, f"acceptable ({limits.get('p0', 0):.0%} wrong)", "#2ca02c", "bottom")])
    _whole_cases(figure, curve["attempt"] if len(curve) else pd.Series(dtype=int))
    figure.update_layout(title="Learning curve (CUSUM of wrong unaided calls)",
                         xaxis_title="Cases read", yaxis_title="CUSUM score",
                         legend={"orientation": "h", "y": -0.2}, margin={"t": 50, "b": 10})
    return figure


def compare_chart(frame: pd.DataFrame, metric: str) -> go.Figure:
    """One metric of several trainees over cases read (``core.progress.compare``)."""
    figure = go.Figure()
    names = list(dict.fromkeys(frame["trainee"])) if len(frame) else []
    for index, name in enumerate(names):
        _line_with_band(figure, frame[frame["trainee"] == name], "position", metric, name,
                        PALETTE[index % len(PALETTE)])
    _whole_cases(figure, frame["position"] if len(frame) else pd.Series(dtype=int))
    return _layout(figure, f"{METRIC_TITLES[metric]} by trainee", X_TITLES["position"],
                   METRIC_TITLES[metric], metric)


def cohort_change_chart(table: pd.DataFrame, metric: str = "accuracy") -> go.Figure:
    """Each trainee's unaided and aided ``metric`` with 95% CIs (``core.progress.cohort_table``)."""
    figure = go.Figure()
    for mode, colour in MODE_COLOURS.items():
        column = f"{mode}_{metric}"
        if column not in table or table[column].isna().all():
            continue
        figure.add_trace(go.Scatter(
            x=table[column], y=table["trainee"], mode="markers", name=mode,
            marker={"color": colour, "size": 11},
            error_x={"type": "data", "symmetric": False,
                     "array": table[f"{column}_hi"] - table[column],
                     "arrayminus": table[column] - table[f"{column}_lo"]}))
    figure.update_yaxes(autorange="reversed")  # the table's order, top to bottom
    figure.update_layout(title=f"{METRIC_TITLES[metric]}: unaided and aided (95% CI)",
                         xaxis=value_axis(metric) | {"title": METRIC_TITLES[metric]},
                         legend={"orientation": "h", "y": -0.2}, margin={"t": 50, "b": 10},
                         height=max(260, 60 + 34 * len(table)))
    return figure
