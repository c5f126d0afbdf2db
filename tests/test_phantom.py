"""Phantom images: determinism, masks, what the images show, annotations, store, command."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from core.cases import phantom
from core.cases.phantom_truth import draw_lesion
from core.cli import main
from core.errors import UserError
from core.lexicon import BIRADS_CATEGORIES, DESCRIPTORS, validate_descriptors

BASE = {"shape": "oval", "orientation": "parallel", "margin": "circumscribed",
        "echo_pattern": "hypoechoic", "posterior": "none", "calcifications": "none"}


@pytest.fixture(scope="module")
def cases():
    return phantom.generate_phantoms(4, seed=3)


def test_same_seed_gives_identical_pixels_whatever_n_or_workers(cases):
    again = phantom.generate_phantoms(2, seed=3, workers=1)
    for first, second in zip(cases[:2], again):
        assert np.array_equal(first.image, second.image)
        assert np.array_equal(first.mask, second.mask)
        assert first.descriptors == second.descriptors
        assert first.truth_prob == second.truth_prob
    other_seed = phantom.make_case(0, seed=4)
    assert not np.array_equal(other_seed.image, cases[0].image)


def test_cases_carry_image_mask_and_lexicon_truth(cases):
    for index, case in enumerate(cases):
        assert case.image.dtype == np.uint8 and case.image.shape == (phantom.HEIGHT, phantom.WIDTH)
        assert case.mask.dtype == bool and case.mask.shape == case.image.shape
        assert case.mask.sum() > 100
        descriptors = dict(case.descriptors)
        size = descriptors.pop("size_mm")
        assert set(descriptors) == set(DESCRIPTORS)
        validate_descriptors(descriptors)
        assert 5.0 <= size <= 40.0
        assert case.birads_ref in BIRADS_CATEGORIES
        assert case.label in ("benign", "malignant") and 0 < case.truth_prob < 1
        assert case.patient_id == f"phantom-{index}"
        assert case.source_path == f"phantom/3/{index:04d}"
        assert set(case.attributes) >= {"calipers", "text", "depth_scale", "depth_cm"}


def _render(rng_seed: int, **changes):
    descriptors = dict(BASE, **changes)
    return phantom.render_image(np.random.default_rng(rng_seed), descriptors, 12.0)


def _below(image, mask):
    """Mean grey in the band of columns under the lesion, from its bottom down 6 mm."""
    rows, cols = np.nonzero(mask)
    middle = slice(int(np.percentile(cols, 25)), int(np.percentile(cols, 75)) + 1)
    bottom = rows.max() + 3
    return float(image[bottom:bottom + 50, middle].mean())


def test_posterior_features_show_below_the_lesion():
    for seed in (1, 2):
        shadow, mask, _ = _render(seed, posterior="shadowing")
        enhanced, _, _ = _render(seed, posterior="enhancement")
        plain, _, _ = _render(seed, posterior="none")
        assert _below(shadow, mask) + 15 < _below(plain, mask) < _below(enhanced, mask) - 3


def test_echo_pattern_sets_the_lesion_brightness():
    for seed in (1, 2):
        means = {}
        for pattern in ("anechoic", "hypoechoic", "isoechoic", "hyperechoic"):
            image, mask, _ = _render(seed, echo_pattern=pattern)
            means[pattern] = float(image[mask].mean())
        assert means["anechoic"] < means["hypoechoic"] < means["isoechoic"] < means["hyperechoic"]


def test_orientation_and_shape_set_the_outline():
    _, wide, _ = _render(5, orientation="parallel")
    _, tall, _ = _render(5, orientation="not parallel")
    for mask, taller in ((wide, False), (tall, True)):
        rows, cols = np.nonzero(mask)
        assert bool(np.ptp(rows) > np.ptp(cols)) is taller
    _, oval, _ = _render(5, shape="oval")
    _, irregular, _ = _render(5, shape="irregular", margin="angular")
    assert _roughness(irregular) > _roughness(oval)


def _roughness(mask):
    """Perimeter squared over area: 4*pi for a disc, larger for ragged outlines."""
    edges = np.logical_xor(mask[1:, :], mask[:-1, :]).sum() + np.logical_xor(
        mask[:, 1:], mask[:, :-1]).sum()
    return edges ** 2 / mask.sum()


def test_annotations_are_independent_of_truth_unless_shortcut():
    rng = np.random.default_rng(0)
    truths = [draw_lesion(rng).malignant for _ in range(3000)]
    for shortcut, low, high in ((False, -0.05, 0.05), (True, 0.6, 0.9)):
        draws = [phantom.choose_annotations(np.random.default_rng(i), malignant, shortcut)
                 for i, malignant in enumerate(truths)]
        calipers = np.array([d["calipers"] for d in draws])
        text = np.array([d["text"] is not None for d in draws])
        malignant = np.array(truths)
        gap = calipers[malignant].mean() - calipers[~malignant].mean()
        assert low < gap < high
        assert abs(text[malignant].mean() - text[~malignant].mean()) < 0.05


def test_shortcut_changes_only_the_annotations():
    plain = phantom.make_case(1, seed=3, shortcut=False, annotations=False)
    shortcut = phantom.make_case(1, seed=3, shortcut=True, annotations=False)
    assert np.array_equal(plain.image, shortcut.image)
    burned = phantom.make_case(1, seed=3, shortcut=True, annotations=True)
    drawn = any(burned.attributes[k] for k in ("calipers", "text", "depth_scale"))
    assert drawn == (not np.array_equal(plain.image, burned.image))
    assert plain.attributes["calipers"] is False and plain.attributes["text"] is None


def test_import_stores_rows_with_truth(store):
    result = phantom.import_phantoms(store, n=6, seed=2)
    assert result.imported == 6
    with store.read() as cur:
        rows = cur.execute("SELECT descriptors, birads_ref, truth_prob, mask_path, label, "
                           "attributes, patient_id FROM cases WHERE dataset = 'phantom'").fetchall()
        params = json.loads(cur.execute(
            "SELECT params FROM datasets WHERE dataset = 'phantom'").fetchone()[0])
    assert len(rows) == 6
    for descriptors, birads, prob, mask_path, label, attributes, patient in rows:
        stored = json.loads(descriptors)
        assert set(stored) == set(DESCRIPTORS) | {"size_mm"}
        assert birads in BIRADS_CATEGORIES and 0 < prob < 1
        assert label in ("benign", "malignant") and patient.startswith("phantom-")
        assert "calipers" in json.loads(attributes)
        mask = np.asarray(Image.open(store.resolve(mask_path)))
        assert mask.shape == (phantom.HEIGHT, phantom.WIDTH) and mask.any()
    assert params["shortcut"] is False and params["seed"] == 2
    assert 0 < params["best_auc"] <= 1 and params["population_best_auc"] < 0.97


def test_import_again_adds_only_new_cases_and_refuses_other_settings(store):
    phantom.import_phantoms(store, n=2, seed=2)
    again = phantom.import_phantoms(store, n=3, seed=2)
    assert (again.already_present, again.imported) == (2, 1)
    with store.read() as cur:
        params = json.loads(cur.execute(
            "SELECT params FROM datasets WHERE dataset = 'phantom'").fetchone()[0])
    assert params["n"] == 3
    with pytest.raises(UserError, match="already exists"):
        phantom.import_phantoms(store, n=2, seed=9)


def test_bad_counts_are_refused():
    with pytest.raises(UserError, match="between 1 and"):
        phantom.generate_phantoms(0)
    with pytest.raises(UserError, match="seed"):
        phantom.generate_phantoms(2, seed=-1)


def test_contact_sheet_is_a_grid(cases, tmp_path):
    path = phantom.contact_sheet(cases, tmp_path / "sheet.png", columns=2, tile_width=100)
    sheet = Image.open(path)
    assert sheet.size[0] == 200 and sheet.size[1] == 2 * (75 + 14)


def test_command_prints_json(tmp_path, capsys):
    code = main(["phantom", "--db", str(tmp_path / "s.duckdb"), "--n", "3", "--seed", "1",
                 "--json", "--sheet", str(tmp_path / "sheet.png")])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["n"] == 3 and summary["imported"] == 3
    assert {"best_auc", "birads_auc", "population_best_auc", "malignant_share",
            "seconds"} <= set(summary)
    assert (tmp_path / "sheet.png").exists()


def test_command_rejects_bad_input(tmp_path, capsys):
    assert main(["phantom", "--db", str(tmp_path / "s.duckdb"), "--n", "0"]) == 2
    assert "between 1 and" in capsys.readouterr().err


def test_a_near_duplicate_of_an_earlier_case_is_drawn_again(monkeypatch):
    codes = iter(["0" * 16, "0" * 15 + "1", "f" * 16])  # case 1's first image: 1 bit from case 0
    monkeypatch.setattr(phantom, "perceptual_hash", lambda image: next(codes))
    cases = phantom.generate_phantoms(2, seed=3, workers=1)
    first = phantom.make_case(1, seed=3)
    again = phantom.make_case(1, seed=3, redraw=1)
    assert np.array_equal(cases[1].image, again.image)
    assert not np.array_equal(cases[1].image, first.image)
    assert cases[1].descriptors == first.descriptors and cases[1].label == first.label
