"""Framing: the square a lesion-framed model reads, pasting its maps back, choosing a framing."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import UserError
from core.heatmaps.compute import compute_heatmap
from core.heatmaps.stored import read_region
from core.models.framing import (Box, choose_framing, crop, frame_box, inside, lesion_box,
                                 model_input, paste_map, zoom_box)
from core.models.loading import load_model
from core.models.train import train_models
from models_helpers import add_tiny_dataset, torch_threads  # noqa: F401

FAST = {"device": "cpu", "init": "scratch", "epochs": 1, "image_size": 32}


def _mask(shape, top, bottom, left, right) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


def test_lesion_box_is_a_square_holding_the_lesion_with_room_below():
    box = lesion_box(_mask((300, 400), 100, 140, 150, 230))  # 40 tall, 80 wide
    assert box.height == box.width > 80
    assert box.top < 100 and box.top + box.height > 140
    assert box.left < 150 and box.left + box.width > 230
    below = box.top + box.height - 140
    above = 100 - box.top
    assert below > above  # the posterior region gets more room than the tissue above


def test_a_tiny_lesion_still_gets_surrounding_tissue():
    box = lesion_box(_mask((300, 400), 50, 52, 60, 62))
    assert box.height >= 32


def test_an_empty_or_missing_mask_is_refused_by_name():
    with pytest.raises(UserError, match="case 7 has an empty lesion mask"):
        frame_box("lesion", (30, 40), np.zeros((30, 40), bool), 7)
    with pytest.raises(UserError, match="case 7 has no lesion mask"):
        frame_box("lesion", (30, 40), None, 7)
    with pytest.raises(UserError, match="framing must be"):
        frame_box("middle", (30, 40), None)
    assert frame_box("full", (30, 40), None) == Box(0, 0, 30, 40)


def test_crop_beyond_the_edges_is_black_and_keeps_the_pixels_inside():
    image = np.arange(1, 13, dtype=np.uint8).reshape(3, 4)
    out = crop(image, Box(-1, 2, 3, 3))
    assert out.tolist() == [[0, 0, 0], [3, 4, 0], [7, 8, 0]]


def test_a_box_beyond_the_image_has_nothing_inside_it():
    image = np.ones((3, 4), np.uint8)
    in_image, in_box = inside(Box(5, -9, 2, 3), image.shape)
    assert image[in_image].size == 0 and np.zeros((2, 3))[in_box].size == 0
    assert not crop(image, Box(5, -9, 2, 3)).any()


def test_crop_keeps_the_colour_channels():
    rgb = np.arange(1, 37, dtype=np.uint8).reshape(3, 4, 3)
    out = crop(rgb, Box(1, -1, 2, 2))
    assert out.shape == (2, 2, 3)
    assert out[:, 0].tolist() == [[0, 0, 0]] * 2 and out[:, 1].tolist() == rgb[1:, 0].tolist()


def _inside(box: Box, shape) -> bool:
    return box.top >= 0 and box.left >= 0 and box.top + box.height <= shape[0] \
        and box.left + box.width <= shape[1]


def test_the_zoomed_view_is_twice_the_lesion_square_about_its_centre():
    mask = _mask((300, 400), 100, 140, 150, 230)
    square = lesion_box(mask)
    view = zoom_box(square, mask.shape)
    assert view.height == view.width == 2 * square.height
    assert abs((view.top + view.height / 2) - (square.top + square.height / 2)) <= 1
    assert abs((view.left + view.width / 2) - (square.left + square.width / 2)) <= 1
    assert _inside(view, mask.shape)


def test_the_zoomed_view_moves_inside_the_image_and_never_outgrows_it():
    corner = _mask((300, 400), 0, 30, 370, 400)        # the lesion touches two edges
    view = zoom_box(lesion_box(corner), corner.shape)
    assert _inside(view, corner.shape) and view.height == 2 * lesion_box(corner).height
    assert view.top == 0 and view.left + view.width == 400
    big = _mask((300, 400), 20, 280, 50, 350)          # twice its square is larger than the image
    assert zoom_box(lesion_box(big), big.shape) == Box(0, 50, 300, 300)


def test_a_lesion_fills_the_framed_input():
    image = np.full((300, 400), 200, np.uint8)
    mask = _mask((300, 400), 100, 140, 150, 230)
    image[mask] = 20
    framed = model_input(image, lesion_box(mask), 64)
    whole = model_input(image, frame_box("full", image.shape, None), 64)
    assert framed.shape == whole.shape == (64, 64)
    assert (framed < 100).mean() > 5 * (whole < 100).mean()


def test_paste_map_puts_the_map_in_its_box_and_nothing_elsewhere():
    box = Box(-10, 20, 40, 40)
    full = paste_map(np.ones((4, 4), np.float32), box, (50, 100))
    assert full.shape == (50, 100) and full.dtype == np.float32
    inside = np.zeros((50, 100), bool)
    inside[0:30, 20:60] = True
    assert np.allclose(full[inside], 1) and not full[~inside].any()
    gradient = paste_map(np.array([[0, 1]], np.float32), Box(0, 0, 10, 10), (10, 10))
    assert gradient[:, 0].max() < gradient[:, -1].min()  # left stays left


def test_auto_framing_reads_the_lesion_only_when_every_case_has_a_mask():
    assert choose_framing("auto", 0) == "lesion"
    assert choose_framing("auto", 3) == "full"
    assert choose_framing("full", 0) == "full"
    with pytest.raises(UserError, match="3 case"):
        choose_framing("lesion", 3)
    with pytest.raises(UserError, match="--framing"):
        choose_framing("centre", 0)


def test_a_lesion_framed_model_is_recorded_and_its_maps_stay_in_the_lesion_box(store):
    ids = add_tiny_dataset(store)
    [model_id] = train_models(store, "tiny", ["resnet50"], **FAST)
    loaded = load_model(store, model_id)
    with store.read() as cur:
        framing, config = cur.execute("SELECT framing, config FROM models WHERE model_id = ?",
                                      [model_id]).fetchone()
        mask_path = cur.execute("SELECT mask_path FROM cases WHERE case_id = ?",
                                [ids[1]]).fetchone()[0]
    assert framing == loaded.framing == json.loads(config)["profile"]["framing"] == "lesion"
    from core.images import load_grey
    mask = load_grey(store, mask_path) > 127
    box = lesion_box(mask)
    cam = compute_heatmap(store, loaded, ids[1])
    outside = np.ones(mask.shape, bool)
    outside[max(box.top, 0):box.top + box.height, max(box.left, 0):box.left + box.width] = False
    assert not cam[outside].any()
    assert read_region(store, model_id, ids[1]) == box  # what the overlay colours


def test_a_dataset_with_a_case_without_mask_is_read_whole(store):
    ids = add_tiny_dataset(store)
    with store.transaction() as cur:
        cur.execute("UPDATE cases SET mask_path = NULL WHERE case_id = ?", [ids[0]])
    [model_id] = train_models(store, "tiny", ["alexnet"], **FAST)
    assert load_model(store, model_id).framing == "full"
    assert read_region(store, model_id, ids[1]) is None  # the whole image
    with pytest.raises(UserError, match="no lesion mask"):
        train_models(store, "tiny", ["alexnet"], framing="lesion", **FAST)


def test_chance_is_the_lesion_share_of_what_the_map_covers():
    from core.heatmaps.localisation import chance_share

    mask = _mask((300, 400), 100, 140, 150, 230)
    box = lesion_box(mask)
    assert chance_share(mask, "full") == pytest.approx(40 * 80 / (300 * 400))
    assert chance_share(mask, "lesion") == pytest.approx(40 * 80 / box.height ** 2)
