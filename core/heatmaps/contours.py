"""The line around a heatmap's hottest part, and the lesion's outline beside it: the quiz's AI
step sets the AI's hottest 20% against the trainee's own read, and the truth step sets it
against the lesion, so "did the AI look where the lesion is" is seen at a glance. The lesion's
outline is truth: only the truth step may draw it."""
from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from core.errors import UserError
from core.images import OUTLINE_COLOUR, outline, to_rgb
from core.models.framing import Box, inside

TOP_SHARE = 0.20
# Magenta: in neither JET's colours nor a grey ultrasound image, and far from the lesion's green.
HOTTEST_COLOUR = (255, 0, 255)
HOTTEST_LABEL = "AI's hottest 20%"
LESION_LABEL = "lesion"


@dataclass(frozen=True)
class HottestArea:
    """Where a map's heat is in its top ``share`` of the region the model read: an image-sized
    boolean ``mask`` (all False where there is none), the heat ``level`` at the cut (None:
    none), the part of the region inside (``drawn_share``) and, where nothing or more than the
    share is enclosed, a ``note`` that says why."""

    mask: np.ndarray
    level: float | None
    drawn_share: float
    note: str | None = None


def hottest_area(cam: np.ndarray, region: Box | None = None,
                 share: float = TOP_SHARE) -> HottestArea:
    """The pixels of ``cam`` (H, W, heat in [0, 1]) inside ``region`` (None: the whole map)
    at or above the region's ``1 - share`` quantile of heat, never a zero: a map that is zero
    (or the same) everywhere in the region points nowhere, and gets an empty area and a note."""
    if not 0 < share < 1:
        raise UserError(f"the hottest share must lie between 0 and 1 (got {share})")
    within = np.zeros(cam.shape, bool)
    within[(slice(None), slice(None)) if region is None else inside(region, cam.shape)[0]] = True
    values = cam[within]
    nowhere = np.zeros(cam.shape, bool)
    if values.size == 0 or not values.max() > 0:
        return HottestArea(nowhere, None, 0.0, "The map is zero everywhere the model read: it "
                           "points nowhere, so it has no hottest part to draw.")
    if values.min() == values.max():
        return HottestArea(nowhere, None, 0.0, "The map is the same everywhere the model read: "
                           "no part of it is hotter than another.")
    level = float(np.quantile(values, 1 - share))
    hottest = within & (cam >= level) & (cam > 0)
    drawn = float(hottest.sum() / within.sum())
    note = None if drawn <= share + 0.05 else (
        f"Many pixels share the top heat: the line encloses the hottest {drawn:.0%} of the "
        "region the model read.")
    return HottestArea(hottest, level, drawn, note)


def draw_outlines(image: np.ndarray, lesion: np.ndarray | None = None,
                  hottest: np.ndarray | None = None) -> np.ndarray:
    """The image (grey or RGB, any size) in RGB with the lesion's outline (green) and the line
    around the hottest area (magenta, drawn last, so on top) where given; both masks at the
    image's size (zoom them with the image first, so the lines stay thin)."""
    shown = image if image.ndim == 3 else to_rgb(image)
    if lesion is not None:
        shown = outline(shown, lesion, OUTLINE_COLOUR)
    if hottest is not None:
        shown = outline(shown, hottest, HOTTEST_COLOUR)
    return shown


def legend_html(lesion: bool, hottest: bool) -> str:
    """A one-line legend of the outlines drawn: a line of each colour and its name."""
    entries = [(label, colour) for label, colour, drawn in (
        (LESION_LABEL, OUTLINE_COLOUR, lesion), (HOTTEST_LABEL, HOTTEST_COLOUR, hottest)) if drawn]
    items = "".join(
        f'<span style="margin-right:1.5em;white-space:nowrap"><span style="display:inline-block;'
        f'width:2em;border-top:3px solid rgb{colour};vertical-align:middle;margin-right:0.4em">'
        f"</span>{html.escape(label)}</span>" for label, colour in entries)
    return f'<div style="font-size:0.9rem" data-testid="sonocase-outline-legend">{items}</div>'
