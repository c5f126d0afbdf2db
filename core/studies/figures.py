"""The reader study's figure: each reader's BI-RADS ROC curve unaided (dashed) and aided
(solid), the pooled curves in black, and the paper's junior sonographer as two points. As a
Plotly figure for the page and as self-contained SVG for the printable report."""
from __future__ import annotations

from dataclasses import dataclass
from html import escape
import plotly.graph_objects as go

from core.model_charts import PALETTE, TEMPLATE
from core.studies.definitions import PUBLISHED_READER, StudyReport

PAPER_COLOUR = "#D62728"
TITLE = "BI-RADS ROC curves, unaided (dashed) and aided (solid)"


@dataclass(frozen=True)
class Curve:
    label: str
    colour: str
    dashed: bool
    fpr: list[float]
    tpr: list[float]


def curves(report: StudyReport) -> list[Curve]:
    """One curve per reader (pooled last, in black) and phase, through the BI-RADS cut-offs."""
    found = []
    readers = [r for r in report.results if r.unaided]
    for index, result in enumerate(readers):
        pooled = result.user_id is None
        colour = "#000000" if pooled else PALETTE[index % (len(PALETTE) - 2)]
        for phase in ("unaided", "aided"):
            points = getattr(result, phase)["birads_roc"]
            found.append(Curve(f"{result.reader}, {phase}", colour, phase == "unaided",
                               [p["fpr"] for p in points], [p["tpr"] for p in points]))
    return found


def paper_points() -> list[tuple[str, float, float]]:
    """(phase, 1 - specificity, sensitivity) of the paper's reader, unaided and aided."""
    return [(phase, 1 - PUBLISHED_READER[phase]["specificity"],
             PUBLISHED_READER[phase]["sensitivity"]) for phase in ("unaided", "aided")]


def roc_figure(report: StudyReport) -> go.Figure:
    """The figure for the page."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", showlegend=False,
                             line={"color": "#BBBBBB", "dash": "dot"}, hoverinfo="skip"))
    for curve in curves(report):
        fig.add_trace(go.Scatter(
            x=curve.fpr, y=curve.tpr, mode="lines+markers", name=curve.label,
            line={"color": curve.colour, "dash": "dash" if curve.dashed else "solid"},
            hovertemplate=f"{curve.label}<br>1 - specificity %{{x:.3f}}<br>"
                          "sensitivity %{y:.3f}<extra></extra>"))
    for phase, x, y in paper_points():
        fig.add_trace(go.Scatter(
            x=[x], y=[y], mode="markers", name=f"Paper, {phase} (single cut-off)",
            marker={"symbol": "star" if phase == "aided" else "star-open", "size": 14,
                    "color": PAPER_COLOUR}))
    fig.update_xaxes(title="1 - specificity", range=[-0.01, 1.01], constrain="domain")
    fig.update_yaxes(title="sensitivity", range=[-0.01, 1.01], scaleanchor="x", scaleratio=1)
    fig.update_layout(title=TITLE, template=TEMPLATE, height=560,
                      legend={"x": 1.02, "y": 1, "xanchor": "left"})
    return fig


def roc_svg(report: StudyReport, size: int = 360) -> str:
    """The figure as an inline SVG element (no script, prints as drawn)."""
    pad, legend_width = 44, 250
    plot = size - 2 * pad

    def x(value: float) -> float:
        return pad + value * plot

    def y(value: float) -> float:
        return size - pad - value * plot

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + legend_width}" '
             f'height="{size}" viewBox="0 0 {size + legend_width} {size}" '
             'font-family="sans-serif" font-size="11" role="img" '
             f'aria-label="{escape(TITLE)}">',
             f'<rect x="{pad}" y="{pad}" width="{plot}" height="{plot}" fill="none" '
             'stroke="#888"/>',
             f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#bbb" '
             'stroke-dasharray="2,3"/>']
    for tick in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        parts.append(f'<text x="{x(tick)}" y="{size - pad + 14}" text-anchor="middle">'
                     f'{tick:.1f}</text>')
        parts.append(f'<text x="{pad - 6}" y="{y(tick) + 4}" text-anchor="end">{tick:.1f}'
                     '</text>')
    parts.append(f'<text x="{pad + plot / 2}" y="{size - 8}" text-anchor="middle">'
                 '1 − specificity</text>')
    parts.append(f'<text x="12" y="{pad + plot / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 12 {pad + plot / 2})">sensitivity</text>')
    legend_y = pad
    for curve in curves(report):
        dash = ' stroke-dasharray="5,3"' if curve.dashed else ""
        points = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in zip(curve.fpr, curve.tpr))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{curve.colour}" '
                     f'stroke-width="1.8"{dash}/>')
        parts.append(f'<line x1="{size}" y1="{legend_y}" x2="{size + 24}" y2="{legend_y}" '
                     f'stroke="{curve.colour}" stroke-width="1.8"{dash}/>')
        parts.append(f'<text x="{size + 30}" y="{legend_y + 4}">{escape(curve.label)}</text>')
        legend_y += 16
    for phase, a, b in paper_points():
        filled = PAPER_COLOUR if phase == "aided" else "white"
        parts.append(f'<circle cx="{x(a):.1f}" cy="{y(b):.1f}" r="5" fill="{filled}" '
                     f'stroke="{PAPER_COLOUR}" stroke-width="2"/>')
        parts.append(f'<circle cx="{size + 12}" cy="{legend_y}" r="5" fill="{filled}" '
                     f'stroke="{PAPER_COLOUR}" stroke-width="2"/>')
        parts.append(f'<text x="{size + 30}" y="{legend_y + 4}">Paper, {phase} '
                     '(single cut-off)</text>')
        legend_y += 16
    parts.append("</svg>")
    return "".join(parts)
