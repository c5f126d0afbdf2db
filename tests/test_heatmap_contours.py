"""The line around a heatmap's hottest 20%, the outlines' legend and the colour scale."""
from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import ndimage

from core.errors import UserError
from core.heatmaps.colour_overlay import colour_scale_html, colourise
from core.heatmaps.contours import HOTTEST_COLOUR, draw_outlines, hottest_area, legend_html
from core.images import OUTLINE_COLOUR, mask_edge
from core.models.framing import Box


def radial_blob(shape: tuple[int, int], centre: tuple[float, float]) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """A map falling off with the distance from ``centre`` (strictly, so no ties), and that
    distance."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    distance = np.hypot(yy - centre[0], xx - centre[1])
    return np.exp(-(distance / 20) ** 2), distance


def boundary(area: np.ndarray) -> np.ndarray:
    """Pixels of ``area`` with a 4-neighbour outside it (the image's edge counts as outside)."""
    padded = np.pad(area, 1, constant_values=False)
    outside_next = (~padded[:-2, 1:-1] | ~padded[2:, 1:-1] | ~padded[1:-1, :-2]
                    | ~padded[1:-1, 2:])
    return area & outside_next


def test_the_hottest_area_of_a_blob_is_the_disc_holding_a_fifth_of_the_map():
    cam, distance = radial_blob((80, 100), (40, 55))
    area = hottest_area(cam)
    radius = np.sqrt(0.2 * cam.size / np.pi)
    assert area.mask.sum() == pytest.approx(0.2 * cam.size, rel=0.01)
    assert area.drawn_share == pytest.approx(0.2, abs=0.01) and area.note is None
    assert distance[area.mask].max() <= radius + 1 and distance[~area.mask].min() >= radius - 1
    assert area.level == pytest.approx(np.quantile(cam, 0.8))
    assert (cam[area.mask] >= area.level).all() and (cam[~area.mask] < area.level).all()


def test_the_hottest_area_is_taken_within_the_region_the_model_read():
    cam, _ = radial_blob((80, 100), (40, 55))
    cam[:, :20] = 5.0  # hotter than anything in the box, but outside it
    box = Box(top=10, left=30, height=60, width=60)
    area = hottest_area(cam, box)
    assert not area.mask[:, :30].any() and not area.mask[:10].any()
    assert area.mask.sum() == pytest.approx(0.2 * 60 * 60, rel=0.02)
    assert area.mask[40, 55]


def test_the_outline_lies_on_the_hottest_areas_boundary_and_is_all_of_it():
    cam, _ = radial_blob((80, 100), (40, 55))
    area = hottest_area(cam)
    grey = np.full(cam.shape, 90, np.uint8)
    drawn = draw_outlines(grey, hottest=area.mask)
    line = (drawn == HOTTEST_COLOUR).all(axis=2)
    assert line.any()
    np.testing.assert_array_equal(line, boundary(area.mask))
    assert (drawn[~line] == 90).all()


def test_the_lesion_and_the_hottest_area_are_drawn_in_their_colours_hottest_on_top():
    cam, _ = radial_blob((60, 60), (30, 30))
    lesion = np.zeros(cam.shape, bool)
    lesion[20:50, 25:55] = True
    area = hottest_area(cam)
    drawn = draw_outlines(np.zeros((60, 60, 3), np.uint8), lesion=lesion, hottest=area.mask)
    hot, green = mask_edge(area.mask), mask_edge(lesion)
    assert (drawn[hot] == HOTTEST_COLOUR).all()
    assert (drawn[green & ~hot] == OUTLINE_COLOUR).all()
    assert (drawn[~(hot | green)] == 0).all()


@pytest.mark.parametrize("cam", [np.zeros((30, 30)), np.full((30, 30), 0.5)],
                         ids=["zero", "flat"])
def test_a_map_that_points_nowhere_has_no_hottest_area_and_says_why(cam):
    area = hottest_area(cam)
    assert not area.mask.any() and area.level is None and area.drawn_share == 0
    assert "zero everywhere" in area.note or "the same everywhere" in area.note
    drawn = draw_outlines(np.full(cam.shape, 7, np.uint8), hottest=area.mask)
    assert (drawn == 7).all()


def test_a_map_zero_only_in_the_read_region_has_none_there():
    cam = np.zeros((40, 40))
    cam[:, :10] = 1.0
    area = hottest_area(cam, Box(top=0, left=20, height=20, width=20))
    assert not area.mask.any() and "zero everywhere" in area.note


def test_ties_at_the_top_say_how_much_is_enclosed():
    cam = np.zeros((20, 20))
    cam[:10] = 1.0  # half the map at the top heat
    area = hottest_area(cam)
    assert area.drawn_share == pytest.approx(0.5) and "50%" in area.note


def test_the_share_must_be_a_fraction():
    with pytest.raises(UserError, match="between 0 and 1"):
        hottest_area(np.ones((4, 4)), share=1.5)


def test_the_legend_names_the_lines_drawn_in_their_colours():
    both = legend_html(lesion=True, hottest=True)
    assert "lesion" in both and "AI&#x27;s hottest 20%" in both
    assert f"rgb{OUTLINE_COLOUR}" in both and f"rgb{HOTTEST_COLOUR}" in both
    only = legend_html(lesion=False, hottest=True)
    assert ">lesion<" not in only and f"rgb{OUTLINE_COLOUR}" not in only


def test_the_colour_scale_runs_from_the_overlays_low_colour_to_its_high_colour():
    scale = colour_scale_html("Grad-CAM")
    stops = [tuple(int(v) for v in match) for match in
             re.findall(r"rgb\((\d+), (\d+), (\d+)\) \d+%", scale)]
    assert stops[0] == tuple(colourise(np.zeros((1, 1)))[0, 0])
    assert stops[-1] == tuple(colourise(np.ones((1, 1)))[0, 0])
    assert len(stops) == 11 and ">low<" in scale and ">high<" in scale and "Grad-CAM" in scale
    assert "Grey" not in scale and "Grey" in colour_scale_html("Grad-CAM", grey_outside=True)


def test_mask_edge_is_the_mask_less_its_erosion():
    rng = np.random.default_rng(3)
    mask = ndimage.binary_opening(rng.random((40, 40)) > 0.4)
    np.testing.assert_array_equal(mask_edge(mask), boundary(mask))
    thick = mask_edge(mask, 2)
    assert (thick >= mask_edge(mask)).all() and not (thick & ~mask).any()
