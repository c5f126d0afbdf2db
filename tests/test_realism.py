"""Realism figures on tiny synthetic images whose answer is known, the comparison table, and
the phantoms' own figures (lesion brightness alone must not give the answer away)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from core.cases import realism
from core.cases import realism_report as report
from core.cases.phantom import generate_phantoms
from core.cli import main

BUSI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "busi" / \
    "Dataset_BUSI_with_GT"


def _disc(size: int = 96, radius: float = 18.0, inside: float = 60.0, outside: float = 150.0,
          blur: float = 0.0):
    rows, cols = np.indices((size, size))
    mask = np.hypot(rows - size / 2, cols - size / 2) < radius
    image = np.where(mask, inside, outside).astype(np.float32)
    if blur:
        image = ndimage.gaussian_filter(image, blur)
    return image, mask


def test_contrast_of_a_disc_is_the_ratio_set():
    image, mask = _disc(inside=60, outside=150)
    assert realism.lesion_contrast(image, mask) == pytest.approx(0.4, abs=1e-6)
    brighter, _ = _disc(inside=150, outside=100)
    assert realism.lesion_contrast(brighter, mask) == pytest.approx(1.5, abs=1e-6)


def test_contrast_leaves_out_the_posterior_region():
    image, mask = _disc(inside=60, outside=150)
    image[int(np.nonzero(mask)[0].max()) + 1:] = 20  # a shadow below the disc
    assert realism.lesion_contrast(image, mask) == pytest.approx(0.4, abs=1e-6)


def test_sharp_edges_score_higher_than_blurred_ones():
    sharp = realism.margin_sharpness(*_disc())
    soft = realism.margin_sharpness(*_disc(blur=2.0))
    softer = realism.margin_sharpness(*_disc(blur=4.0))
    assert sharp > soft > softer > 0
    flat = realism.margin_sharpness(*_disc(inside=150, outside=150))
    assert flat == pytest.approx(0.0, abs=1e-6)


def test_sharpness_does_not_depend_on_overall_gain():
    image, mask = _disc(blur=1.5)
    assert realism.margin_sharpness(2 * image, mask) == pytest.approx(
        realism.margin_sharpness(image, mask), rel=1e-5)


def test_speckle_snr_of_rayleigh_envelope_is_about_1_91():
    rng = np.random.default_rng(0)
    envelope = rng.rayleigh(1.0, size=(160, 160))
    # the display map that realism assumes: 50 dB onto 0-255, brightest echo at 255
    db = 20 * np.log10(envelope / envelope.max())
    grey = np.clip(255 + db / realism.ASSUMED_RANGE_DB * 255, 0, 255).astype(np.float32)
    mask = np.zeros(grey.shape, dtype=bool)
    mask[:6, :6] = True
    snr, ratio = realism.speckle_statistics(grey, mask)
    assert snr == pytest.approx(realism.RAYLEIGH_SNR, abs=0.15)
    smoother, _ = realism.speckle_statistics(ndimage.uniform_filter(grey, 3), mask)
    assert smoother > snr + 0.3 and ratio > 0


def test_depth_profile_follows_a_gradient_and_posterior_ratio_sees_a_shadow():
    image = np.tile(np.linspace(200, 50, 100, dtype=np.float32)[:, None], (1, 120))
    mask = np.zeros(image.shape, dtype=bool)
    mask[20:40, 50:70] = True
    profile = realism.depth_profile(image, mask)
    assert len(profile) == realism.DEPTH_BINS and np.all(np.diff(profile) < 0)
    assert np.mean(profile) == pytest.approx(1.0, abs=0.05)
    assert realism.posterior_ratio(image, mask) == pytest.approx(1.0, abs=1e-6)
    image[41:, 54:66] *= 0.5
    assert realism.posterior_ratio(image, mask) == pytest.approx(0.5, abs=0.01)


def test_measure_brings_images_to_one_scale_and_refuses_an_empty_mask():
    image, mask = _disc(size=160, radius=30)
    small = realism.measure(image.astype(np.uint8), mask)
    large = realism.measure(np.kron(image, np.ones((4, 4))).astype(np.uint8),
                            np.kron(mask, np.ones((4, 4))).astype(bool))
    assert large.contrast == pytest.approx(small.contrast, abs=0.02)
    assert large.sharpness == pytest.approx(small.sharpness, rel=0.15)
    with pytest.raises(ValueError, match="empty"):
        realism.measure(image, np.zeros_like(mask))


def _figures(contrast: float) -> realism.Figures:
    return realism.Figures(100 * contrast, contrast, 0.1, 2.0, 1.5, 1.0, (1.0,) * 10)


def test_compare_says_which_medians_fall_inside_the_real_iqr():
    real = [("benign", _figures(c)) for c in (0.3, 0.4, 0.5, 0.6, 0.7)]
    phantoms = [("benign", _figures(c)) for c in (0.45, 0.5, 0.55)]
    far = [("benign", _figures(c)) for c in (0.9, 1.0, 1.1)]
    row = next(r for r in report.compare(phantoms, real) if r.figure == "contrast")
    assert row.real == pytest.approx((0.4, 0.5, 0.6)) and row.verdict() == "yes"
    row = next(r for r in report.compare(far, real) if r.figure == "contrast")
    assert row.verdict().startswith("no, above")
    table = report.format_table(report.compare(phantoms, real))
    assert "contrast" in table and "depth_10" in table


def test_lesion_mean_auc_is_taken_in_either_direction():
    darker_malignant = [("benign", _figures(0.8)), ("benign", _figures(0.7)),
                        ("malignant", _figures(0.3)), ("malignant", _figures(0.2))]
    assert report.lesion_mean_auc(darker_malignant) == 1.0


@pytest.fixture(scope="module")
def phantom_figures():
    cases = generate_phantoms(200, seed=11, annotations=False)
    return cases, report.measure_all((c.label, c.image, c.mask) for c in cases)


def test_lesion_brightness_alone_does_not_give_the_answer(phantom_figures):
    _, measured = phantom_figures
    assert report.lesion_mean_auc(measured) <= 0.70


def test_phantoms_are_calibrated_to_real_echogenicity(phantom_figures):
    cases, measured = phantom_figures
    contrast = {}
    for case, (_, figures) in zip(cases, measured):
        contrast.setdefault(case.descriptors["echo_pattern"], []).append(figures.contrast)
    median = {k: float(np.median(v)) for k, v in contrast.items()}
    assert median["anechoic"] < 0.3 < median["hypoechoic"] < 0.7 < median["isoechoic"]
    assert 0.4 <= np.median([f.contrast for _, f in measured]) <= 0.65  # BUSI: 0.50-0.55


def test_independent_phantoms_are_not_near_duplicates(phantom_figures):
    cases, _ = phantom_figures
    assert report.duplicate_pairs([c.image for c in cases]) == []


@pytest.mark.skipif(not BUSI.is_dir(), reason="BUSI not found under ../shared/data")
def test_real_cases_read_busi_with_masks():
    items = []
    for item in report.real_cases(BUSI):
        items.append(item)
        if len(items) == 3:
            break
    for label, image, mask in items:
        assert label in report.CLASSES and image.shape == mask.shape and mask.any()


def _busi_folder(root: Path) -> Path:
    """A tiny BUSI-layout folder: dark discs in speckle-like noise, with their masks."""
    rng = np.random.default_rng(0)
    for label in report.CLASSES:
        (root / label).mkdir(parents=True)
        for k in range(1, 4):
            image, mask = _disc(size=120, radius=15 + 3 * k, inside=50, outside=140)
            noisy = np.clip(image * rng.rayleigh(0.8, image.shape), 0, 255).astype(np.uint8)
            stem = root / label / f"{label} ({k})"
            Image.fromarray(noisy).save(f"{stem}.png")
            Image.fromarray(mask.astype(np.uint8) * 255).save(f"{stem}_mask.png")
    return root


def test_realism_command_compares_phantoms_with_a_busi_folder(tmp_path, capsys):
    busi = _busi_folder(tmp_path / "busi")
    code = main(["phantom", "--db", str(tmp_path / "s.duckdb"), "--realism", str(busi),
                 "--n", "6", "--json", "--sheet", str(tmp_path / "p.png"),
                 "--busi-sheet", str(tmp_path / "b.png")])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["phantoms"] == 6 and summary["real"] == 6
    contrast = {r["class"]: r for r in summary["rows"] if r["figure"] == "contrast"}
    assert set(contrast) <= set(report.CLASSES) and contrast
    for row in contrast.values():
        assert row["real"][1] == pytest.approx(50 / 140, abs=0.08)
        assert row["within"] == (row["verdict"] == "yes")
    assert (tmp_path / "p.png").exists() and (tmp_path / "b.png").exists()
    assert not (tmp_path / "s.duckdb").exists()  # nothing stored


def test_realism_command_refuses_a_missing_folder_and_a_lone_busi_sheet(tmp_path, capsys):
    assert main(["phantom", "--db", str(tmp_path / "s.duckdb"), "--realism",
                 str(tmp_path / "nowhere")]) == 2
    assert "no BUSI folder" in capsys.readouterr().err
    assert main(["phantom", "--db", str(tmp_path / "s.duckdb"), "--n", "1",
                 "--busi-sheet", str(tmp_path / "b.png")]) == 2
    assert "--realism" in capsys.readouterr().err
