"""Heatmaps: right shape and range for all six models and every method, the same maps as
pytorch-grad-cam used the usual way, safe on one model shared by threads, cached on disk."""
from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from core.cli import main
from core.errors import UserError
from core.heatmaps.cam import METHODS, ClassMargin, compute_cams
from core.heatmaps.case_heatmap import case_heatmap
from core.heatmaps.colour_overlay import overlay
from core.export import export_tables
from core.heatmaps.compute import case_images, compute_heatmap, precompute_heatmaps, stored_calls
from core.heatmaps.faithfulness import confidence_change
from core.heatmaps.localisation import SCORE_COLUMNS, case_scores
from core.heatmaps.quality import FAITHFULNESS_METRIC, heatmap_quality
from core.heatmaps.stored import read_region
from core.heatmaps.stored import cached_heatmap
from core.models.framing import Box, describe_region, frame_box, model_input
from core.models.loading import freeze, load_model
from core.models.registry import ARCHS, build_model, grey_to_input, target_layer, tokens_to_grid
from core.models.train import train_models
from core.store import Store
from models_helpers import LAYOUT, add_tiny_dataset, torch_threads  # noqa: F401

SIZE = 32


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {arch: freeze(build_model(arch, image_size=SIZE)) for arch in ARCHS}


def _images(n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, SIZE, SIZE), dtype=torch.uint8, generator=generator)


@pytest.mark.parametrize("arch", ARCHS)
def test_gradcam_for_each_model_has_the_grid_shape_and_unit_range(models, arch):
    maps, probs = compute_cams(models[arch], arch, _images(3), "gradcam")
    grids = {"resnet50": 1, "googlenet": 1, "densenet121": 1, "alexnet": 3, "vgg16": 2,
             "vit_b_16": 2}
    assert maps.shape == (3, grids[arch], grids[arch])
    assert maps.dtype == np.float32 and maps.min() >= 0 and maps.max() <= 1
    assert probs.shape == (3,) and ((probs >= 0) & (probs <= 1)).all()


@pytest.mark.parametrize("method", ["gradcam", "scorecam"])
def test_a_map_explains_the_class_it_is_given(models, method):
    images = _images(2)
    own, _ = compute_cams(models["alexnet"], "alexnet", images, method)
    predicted, _ = compute_cams(models["alexnet"], "alexnet", images, method, malignant=[None] * 2)
    assert np.array_equal(own, predicted)
    malignant, _ = compute_cams(models["alexnet"], "alexnet", images, method,
                                malignant=[True, True])
    benign, _ = compute_cams(models["alexnet"], "alexnet", images, method,
                             malignant=[False, False])
    assert not np.allclose(malignant, benign)
    with pytest.raises(ValueError, match="1 classes for 2 images"):
        compute_cams(models["alexnet"], "alexnet", images, method, malignant=[True])


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_on_vit_and_a_cnn(models, method):
    # ScoreCAM runs the whole model once per channel: ViT's 768 would take a minute here.
    for arch in ("alexnet",) if method == "scorecam" else ("vit_b_16", "alexnet"):
        maps, _ = compute_cams(models[arch], arch, _images(2), method)
        assert maps.ndim == 3 and maps.shape[0] == 2
        assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1


@pytest.mark.parametrize("arch", ["resnet50", "densenet121", "vit_b_16"])
def test_same_maps_as_grad_cam_on_the_whole_model(models, arch):
    """Faithful: the trunk/head split changes the cost, not the map."""
    model = models[arch]
    images = _images(2, seed=3)
    fast, _ = compute_cams(model, arch, images, "gradcam", threshold=0.5)
    whole = build_model(arch, image_size=SIZE).eval()
    whole.load_state_dict(model.state_dict())
    cam = METHODS["gradcam"](model=whole, target_layers=[target_layer(whole, arch)],
                             reshape_transform=tokens_to_grid if arch == "vit_b_16" else None)
    try:
        x = grey_to_input(images.float() / 255)
        standard = cam(input_tensor=x, targets=[ClassMargin(0.5)] * 2)
    finally:
        cam.activations_and_grads.release()
    grid = fast.shape[1:]
    standard_small = torch.nn.functional.adaptive_avg_pool2d(
        torch.from_numpy(standard)[:, None], grid)[:, 0].numpy()
    if grid == (1, 1):
        assert np.allclose(fast, standard_small, atol=1e-4)
    else:
        assert np.allclose(fast, standard_small, atol=0.05)


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in model.modules())


def test_threads_sharing_one_model_get_the_maps_they_would_get_alone(models):
    model = models["vit_b_16"]
    batches = [_images(2, seed=s) for s in range(6)]
    alone = [compute_cams(model, "vit_b_16", b, "gradcam")[0] for b in batches]
    results: dict[int, np.ndarray] = {}
    errors = []

    def work(i: int) -> None:
        try:
            results[i] = compute_cams(model, "vit_b_16", batches[i], "gradcam")[0]
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i, expected in enumerate(alone):
        assert np.allclose(results[i], expected, atol=1e-5)
    assert _hooks(model) == 0
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_an_unfrozen_model_is_refused():
    model = build_model("googlenet", image_size=SIZE).eval()
    with pytest.raises(ValueError, match="freeze"):
        compute_cams(model, "googlenet", _images(1))
    with pytest.raises(UserError, match="unknown heatmap method"):
        compute_cams(freeze(model), "googlenet", _images(1), "gradcam2")


def test_every_method_has_the_title_its_paper_gives_it():
    from core.heatmaps import METHOD_TITLES, method_title

    assert list(METHOD_TITLES) == list(METHODS)
    assert method_title("gradcampp") == "Grad-CAM++" and method_title("other") == "other"


def test_overlay_blends_colour_over_grey():
    grey = np.full((20, 30), 100, dtype=np.uint8)
    cam = np.zeros((20, 30), dtype=np.float32)
    cam[5, 5] = 1.0
    image = overlay(grey, cam, alpha=0.0)
    assert image.shape == (20, 30, 3) and image.dtype == np.uint8
    assert (image == 100).all()
    coloured = overlay(grey, cam, alpha=1.0)
    assert coloured[5, 5, 0] > coloured[5, 5, 2]  # hot = red
    assert coloured[0, 0, 2] > coloured[0, 0, 0]  # a zero map is deep blue where read
    cool = overlay(grey, np.full((20, 30), 0.1, np.float32), alpha=1.0)
    assert cool[0, 0, 2] > cool[0, 0, 0]  # a low map is blue too


def test_overlay_leaves_what_the_model_did_not_read_grey():
    grey = np.full((20, 30), 100, dtype=np.uint8)
    cam = np.zeros((20, 30), dtype=np.float32)
    cam[6, 6] = 1.0
    square = Box(top=-2, left=4, height=10, width=10)  # reaches beyond the top edge
    shown = overlay(grey, cam, alpha=0.5, region=square)
    inside = np.zeros((20, 30), bool)
    inside[0:8, 4:14] = True
    assert (shown[~inside] == 100).all()
    blue = shown[:, :, 2] > shown[:, :, 0]
    assert blue[inside].sum() == inside.sum() - 1 and shown[6, 6, 0] > shown[6, 6, 2]
    with pytest.raises(UserError, match="does not match"):
        overlay(grey, cam[:10])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One trained model shared by the cache tests (each uses its own method)."""
    with Store(tmp_path_factory.mktemp("heatmaps") / "results.duckdb") as store:
        ids = add_tiny_dataset(store)
        # 64 px: ResNet50's default layer (stage 3) is then a 4 x 4 grid (at 32 px stage 4
        # is a single cell, whose map is flat and scores no localisation).
        [model_id] = train_models(store, "tiny", ["resnet50"], device="cpu", init="scratch",
                                  epochs=1, image_size=64)
        yield store, ids, load_model(store, model_id)


def test_a_case_heatmap_is_computed_once_then_read_from_the_store_at_the_image_size(trained):
    store, ids, loaded = trained
    case_id = ids[1]
    loads = []

    def load(model_id, checkpoint_sha256):
        loads.append((model_id, checkpoint_sha256))
        return loaded

    assert cached_heatmap(store, loaded.model_id, case_id, "gradcam") is None
    shown = case_heatmap(store, loaded.model_id, case_id, "gradcam", load)
    cam = shown.cam
    with store.read() as cur:
        sha = cur.execute("SELECT checkpoint_sha256 FROM models WHERE model_id = ?",
                          [loaded.model_id]).fetchone()[0]
    assert loads == [(loaded.model_id, sha)] and shown.method == "gradcam"
    assert shown.reads == describe_region(loaded.framing, {"region": {}})
    assert shown.mask is not None and shown.mask.shape == cam.shape
    again = case_heatmap(store, loaded.model_id, case_id, "gradcam", load)
    assert len(loads) == 1 and np.array_equal(again.cam, cam)  # stored: no model loaded
    assert cam.shape == (40, 48) and cam.dtype == np.float32
    assert cam.min() >= 0 and cam.max() <= 1
    path = store.data_dir / "heatmaps" / loaded.model_id / "gradcam" / f"{case_id}.npy"
    assert np.load(path).dtype == np.float16
    assert np.array_equal(cached_heatmap(store, loaded.model_id, case_id, "gradcam"), cam)
    with store.read() as cur:
        stored = cur.execute(f"SELECT {', '.join(SCORE_COLUMNS)}, faithfulness, "
                             "faithfulness_metric FROM heatmaps WHERE case_id = ?",
                             [case_id]).fetchone()
        mask_path = cur.execute("SELECT mask_path FROM cases WHERE case_id = ?",
                                [case_id]).fetchone()[0]
    mask = np.asarray(Image.open(store.resolve(mask_path))) > 127
    region = read_region(store, loaded.model_id, case_id) or Box(0, 0, *cam.shape)
    expected = case_scores(cam, mask, region)  # scored on the map as stored
    assert stored[:len(SCORE_COLUMNS)] == pytest.approx(tuple(expected.values()))
    assert np.isfinite(stored[-2]) and stored[-1] == FAITHFULNESS_METRIC

    np.save(path, np.ones((40, 48), dtype=np.float16))  # changed behind the store's back
    assert cached_heatmap(store, loaded.model_id, case_id, "gradcam") is None
    assert np.array_equal(case_heatmap(store, loaded.model_id, case_id, "gradcam", load).cam,
                          cam)
    with pytest.raises(UserError, match="no model 'missing'"):
        case_heatmap(store, "missing", case_id, "gradcam", load)


def test_precompute_is_resumable_and_scores_every_map(trained):
    store, ids, loaded = trained
    test_ids = [c for c, (_, split, _) in zip(ids, LAYOUT) if split == "test"]
    compute_heatmap(store, loaded, test_ids[0], "eigencam")
    first = precompute_heatmaps(store, loaded, "test", "eigencam", batch_size=2)
    assert (first["computed"], first["already_cached"]) == (len(test_ids) - 1, 1)
    again = precompute_heatmaps(store, loaded, "test", "eigencam", batch_size=2)
    assert (again["computed"], again["already_cached"]) == (0, len(test_ids))
    summary = heatmap_quality(store, loaded.model_id, "eigencam", "test")
    # every test case has a mask: each map is scored, an all-zero one as a miss
    assert summary["localisation"]["cases"] == summary["maps"] == len(test_ids)
    pointing = summary["localisation"]["pointing_hit"]
    assert 0 <= pointing["map"]["value"] <= 1 and pointing["versus_centre"]["p"] is not None
    assert summary["faithfulness"]["cases"] == len(test_ids)
    with store.transaction() as cur:  # a map stored before the scores existed is made again
        cur.execute("UPDATE heatmaps SET faithfulness_metric = NULL WHERE case_id = ?",
                    [test_ids[0]])
    assert heatmap_quality(store, loaded.model_id, "eigencam", "test")["unscored"] == 1
    redo = precompute_heatmaps(store, loaded, "test", "eigencam", batch_size=2)
    assert (redo["computed"], redo["quality"]["unscored"]) == (1, 0)
    with pytest.raises(UserError, match="--split"):
        precompute_heatmaps(store, loaded, "validation")


def test_heatmaps_command(trained, capsys):
    store, _, loaded = trained
    code = main(["heatmaps", "--db", str(store.path), "--model", loaded.model_id, "--split",
                 "all", "--method", "gradcampp", "--batch-size", "5", "--device", "cpu",
                 "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    with store.read() as cur:  # never a map of a case the model trained on (fold 1: in-sample)
        sources = dict(cur.execute(
            "SELECT p.source, count(*) FROM heatmaps h JOIN predictions p USING (model_id, case_id)"
            " WHERE h.model_id = ? AND h.method = 'gradcampp' GROUP BY 1",
            [loaded.model_id]).fetchall())
    honest = sum(split == "test" or fold == 0 for _, split, fold in LAYOUT)
    assert sources == {"test": 4, "validation": 4}
    assert result["computed"] == honest
    assert result["quality"]["maps"] == result["quality"]["localisation"]["cases"] == honest
    assert main(["heatmaps", "--db", str(store.path), "--model", loaded.model_id, "--split",
                 "all", "--method", "gradcampp", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out  # nothing left to compute; the quality table in words
    assert "0 computed" in printed and f"{honest} already cached" in printed
    assert "Pointing game (hit within 15 px at the original resolution): better than the " \
           "centre baseline" in printed


def test_reading_a_cached_map_and_drawing_an_overlay_never_import_torch():
    import subprocess
    import sys
    script = ("import sys; from core.heatmaps import case_heatmap, colour_overlay, localisation,"
              " quality, stored; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_faithfulness_is_stored_with_its_metric_and_exported(trained, tmp_path):
    store, ids, loaded = trained
    case_id = ids[-1]
    compute_heatmap(store, loaded, case_id, "hirescam")
    with store.read() as cur:
        stored, centre, metric = cur.execute(
            "SELECT faithfulness, centre_faithfulness, faithfulness_metric FROM heatmaps "
            "WHERE model_id = ? AND case_id = ? AND method = 'hirescam'",
            [loaded.model_id, case_id]).fetchone()
    assert metric == FAITHFULNESS_METRIC == "confidence_change" and stored != centre
    # the library's metric on the same input, map and explained class
    image, mask = case_images(store, [case_id])[case_id]
    small = model_input(image, frame_box(loaded.framing, image.shape, mask, case_id),
                        loaded.image_size)
    batch = torch.from_numpy(small)[None, None]
    [call] = stored_calls(store, loaded, [case_id])
    maps, _ = compute_cams(loaded.model, loaded.arch, batch, "hirescam", loaded.threshold,
                           malignant=[call], layer=loaded.heatmap_layer)
    assert stored == pytest.approx(confidence_change(loaded.model, batch, maps, [call])[0])
    [path] = [p for p in export_tables(store, tmp_path / "export") if p.stem == "heatmaps"]
    exported = pd.read_csv(path).set_index(["case_id", "method"])
    row = exported.loc[(case_id, "hirescam")]
    assert row["faithfulness"] == pytest.approx(stored)
    assert row["faithfulness_metric"] == metric
    assert {"centre_energy_inside", "uniform_pointing_hit", "energy_box"} <= set(exported.columns)
