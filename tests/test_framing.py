"""Framing: the operator's marked box a lesion-framed model reads (drawn anew in training, fixed
per case elsewhere), pasting its maps back, choosing a framing."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from core.errors import UserError
from core.heatmaps.compute import compute_heatmap
from core.heatmaps.stored import read_region
from core.models.data import REACH_SCALE, MarkedRegions
from core.models.framing import (Box, case_seed, choose_framing, crop, describe_region,
                                 frame_box, inside, lesion_bounds, lesion_box, marked_box,
                                 model_input, paste_map, reach_box, region_record, zoom_box)
from core.models.loading import load_model
from core.models.train import train_models
from models_helpers import add_tiny_dataset, torch_threads  # noqa: F401

FAST = {"device": "cpu", "init": "scratch", "epochs": 1, "image_size": 32}


def _mask(shape, top, bottom, left, right) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


WIDE = (100, 140, 150, 230)  # a lesion 40 tall and 80 wide: its extent is 80


def _draws(bounds, n=400) -> list[Box]:
    return [marked_box(bounds, np.random.default_rng(seed)) for seed in range(n)]


def test_a_marked_box_is_a_loose_off_centre_square_holding_the_whole_lesion():
    top, bottom, left, right = WIDE
    boxes = _draws(WIDE)
    ratios = np.array([box.height / 80 for box in boxes])
    assert all(box.height == box.width for box in boxes)
    assert ratios.min() >= 1.3 - 1 / 160 and ratios.max() <= 2.2 + 1 / 160
    assert ratios.min() < 1.35 and ratios.max() > 2.15  # the whole range is drawn
    across = np.array([(box.left + box.width / 2 - (left + right) / 2) / box.width
                       for box in boxes])
    depth = np.array([(box.top + box.height / 2 - (top + bottom) / 2) / box.height
                      for box in boxes])
    assert np.abs(across).max() <= 0.2 + 1 / 100 and np.abs(depth).max() <= 0.2 + 1 / 100
    assert across.min() < -0.1 and across.max() > 0.1 and depth.min() < -0.05
    room_below = np.mean([box.top + box.height - bottom for box in boxes])
    room_above = np.mean([top - box.top for box in boxes])
    assert room_below > room_above  # posterior shadowing or enhancement gets more room
    assert all(box.top <= top and box.top + box.height >= bottom and box.left <= left
               and box.left + box.width >= right for box in boxes)


def test_a_tiny_lesion_still_gets_surrounding_tissue():
    assert min(box.height for box in _draws((50, 52, 60, 62), 50)) >= 32


def test_every_marked_box_lies_within_its_reach():
    for bounds in (WIDE, (10, 90, 300, 320), (50, 52, 60, 62), (0, 300, 0, 400)):
        reach = reach_box(bounds)
        assert reach.height == reach.width
        for box in _draws(bounds, 300):
            assert reach.top <= box.top and box.top + box.height <= reach.top + reach.height
            assert reach.left <= box.left and box.left + box.width <= reach.left + reach.width


def test_each_case_has_its_own_box_fixed_by_its_mask():
    mask = _mask((300, 400), *WIDE)
    box = lesion_box(mask)
    assert box == lesion_box(mask.copy()) == lesion_box(mask.astype(np.uint8) * 255 > 127)
    assert box == frame_box("lesion", mask.shape, mask, 3)
    assert case_seed(mask) == case_seed(mask.astype(np.uint8))  # the pixels, not their type
    around_lesion = set()
    for shift in range(8):  # the same lesion shape elsewhere: another case, another draw
        other = lesion_box(_mask((300, 400), 100 + shift, 140 + shift, 150, 230))
        around_lesion.add((other.top - shift, other.left, other.height))
    assert len(around_lesion) == 8


def test_training_draws_a_new_box_each_time_and_reads_it_as_prediction_would():
    shape = (120, 160)
    image = (np.add.outer(np.arange(shape[0]), np.arange(shape[1])) // 2).astype(np.uint8)
    mask = _mask(shape, 40, 70, 60, 100)
    image[mask] = 250
    bounds = lesion_bounds(mask)
    reach = reach_box(bounds)
    context = model_input(image, reach, math.ceil(REACH_SCALE * 32))
    regions = MarkedRegions([bounds], [reach], torch.from_numpy(context)[None, None])
    drawn = regions.draw(np.array([0, 0, 0]), np.random.default_rng(4), 32)
    assert drawn.shape == (3, 1, 32, 32) and drawn.dtype == torch.uint8
    assert not torch.equal(drawn[0], drawn[1])  # a fresh box for every draw
    rng = np.random.default_rng(4)
    for framed in drawn:
        expected = model_input(image, marked_box(bounds, rng), 32).astype(float)
        assert np.abs(framed[0].numpy() - expected).mean() < 4  # same box, same pixels


def test_training_batches_read_fresh_boxes_and_repeat_with_the_seed(store, monkeypatch):
    import core.models.data as data_module

    add_tiny_dataset(store)
    data = data_module.load_cases(store, "tiny", 32, "lesion")
    assert data.regions is not None and data.regions.context.shape[-1] > 64
    first, again = data.training_images(7), data.training_images(7)
    indices = np.arange(4)
    epoch_one, epoch_two = first(indices), first(indices)
    assert not torch.equal(epoch_one, epoch_two)  # drawn anew every epoch
    assert torch.equal(again(torch.arange(4)), epoch_one)  # the same run again from the seed
    assert not torch.equal(epoch_one, data.images[:4])  # not the cases' own fixed boxes
    assert data_module.load_cases(store, "tiny", 32, "full").regions is None

    draws = []
    real = data_module.MarkedRegions.draw
    monkeypatch.setattr(data_module.MarkedRegions, "draw",
                        lambda self, *a: draws.append(a[0]) or real(self, *a))
    train_models(store, "tiny", ["resnet50"], **FAST)
    assert len(draws) == 1 and len(draws[0]) == 4  # one batch of the four fold-1 cases


def test_the_framed_masks_lie_on_the_lesions_of_the_framed_images(store):
    """The lesion masks that gate the default heatmap are framed exactly as the images: the
    lesion's pixels are the dark ones."""
    import core.models.data as data_module

    add_tiny_dataset(store)
    data = data_module.load_cases(store, "tiny", 32, "lesion")
    masks, images = data.masks.numpy(), data.images[:, 0].numpy().astype(float)
    assert masks.shape == images.shape and masks.dtype == bool
    for mask, image in zip(masks, images):
        assert 0 < mask.mean() < 1  # each box holds its whole lesion and some tissue
        tissue = ~mask & (image > 0)  # beyond the image's edge the box is black
        assert image[mask].mean() < 0.5 * image[tissue].mean()  # the tiny set's dark lesions
    assert data_module.load_cases(store, "tiny", 32, "full").masks is None


def test_what_a_model_reads_is_described_for_people():
    assert describe_region("lesion") == ("reads the marked region: a box an operator would "
                                         "draw, 1.3-2.2x the lesion, off-centre up to 20%")
    assert describe_region("full") == "reads the whole image"
    assert "oracle" in describe_region("lesion", {"profile": {}})  # trained on the old square
    assert describe_region("lesion", {"region": region_record("lesion")}) == \
        describe_region("lesion")
    with pytest.raises(UserError, match="framing must be"):
        describe_region("middle")


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


def test_the_zoomed_view_is_twice_the_marked_box_about_its_centre():
    mask = _mask((600, 800), 250, 290, 350, 430)
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
    assert zoom_box(lesion_box(big), big.shape).height == 300


def test_a_lesion_fills_the_framed_input():
    image = np.full((300, 400), 200, np.uint8)
    mask = _mask((300, 400), 100, 140, 150, 230)
    image[mask] = 20
    framed = model_input(image, lesion_box(mask), 64)
    whole = model_input(image, frame_box("full", image.shape, None), 64)
    assert framed.shape == whole.shape == (64, 64)
    assert (framed < 100).mean() > 3 * (whole < 100).mean()  # even in the loosest box


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
    config = json.loads(config)
    assert framing == loaded.framing == config["profile"]["framing"] == "lesion"
    assert config["region"]["description"] == describe_region("lesion", loaded.config)
    assert config["region"]["side_ratio"] == [1.3, 2.2]
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
