"""The model comparison's numbers: they agree with core.stats, use only test-split cases and
each model's stored threshold, carry the paper's row, and keep trainees to their own data."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core import comparison, images
from core.models import framing
from core.auth import User
from core.errors import UserError
from core.stats.metrics import brier, confusion, threshold_metrics
from core.stats.roc import AucResult, auc_ci, compare_all
from comparison_support import (ARCHS, DATASET, add_trainee_reads, add_user, populate)


@pytest.fixture
def filled(store):
    """The synthetic store: 126 test cases, six models, three trainees' reads."""
    return store, populate(store, n_test=60, n_train=20)


def _truth_and_scores(store, model_id):
    with store.read() as cur:
        rows = cur.execute(
            "SELECT c.label = 'malignant', p.prob_malignant, m.threshold FROM predictions p"
            " JOIN cases c USING (case_id) JOIN splits s USING (case_id)"
            " JOIN models m USING (model_id)"
            " WHERE p.model_id = ? AND s.split = 'test' ORDER BY p.case_id",
            [model_id]).fetchall()
    return (np.array([r[0] for r in rows], int), np.array([r[1] for r in rows]), rows[0][2])


def test_study_table_agrees_with_core_stats_at_the_stored_threshold(filled):
    store, info = filled
    preds = comparison.load_test_predictions(store, DATASET)
    table = comparison.study_table(preds)
    ours = table[table["source"] == comparison.OURS_SOURCE].set_index("model_id")
    assert set(ours.index) == set(info["models"].values())
    for model_id in ours.index:
        y, prob, threshold = _truth_and_scores(store, model_id)
        auc = auc_ci(y, prob, method="logit")
        row = ours.loc[model_id]
        assert row["n"] == len(y) == 60
        assert row["threshold"] == pytest.approx(threshold)
        assert (row["auc"], row["auc_low"], row["auc_high"]) == pytest.approx(
            (auc.auc, auc.ci_low, auc.ci_high))
        expected = threshold_metrics(y, (prob >= threshold).astype(int))
        for name in comparison.METRICS:
            assert (row[name], row[f"{name}_low"], row[f"{name}_high"]) == pytest.approx(
                (expected[name].value, expected[name].ci_low, expected[name].ci_high))


def test_published_row_sits_after_our_resnet50_with_only_the_papers_figures(filled):
    store, _ = filled
    table = comparison.study_table(comparison.load_test_predictions(store, DATASET))
    published = table[table["source"] == comparison.PUBLISHED_SOURCE]
    assert len(published) == 1
    row = published.iloc[0]
    assert (row["label"], row["auc"], row["auc_low"], row["auc_high"]) == (
        "ResNet50", 0.937, 0.911, 0.962)
    assert [row[m] for m in comparison.METRICS] == [0.864, 0.863, 0.865, 0.863, 0.863]
    assert all(pd.isna(row[f"{m}_low"]) for m in comparison.METRICS)
    position = published.index[0]
    assert table.loc[position - 1, "arch"] == "resnet50"
    assert table.loc[position - 1, "source"] == comparison.OURS_SOURCE
    shown = comparison.format_study_table(table)
    assert shown.loc[position, "AUC (95% CI)"] == "0.937 (0.911–0.962)"
    assert shown.loc[position, "Accuracy (95% CI)"] == "0.864"
    assert shown.loc[position, "Threshold"] == "—"


def test_a_model_with_too_few_cases_of_a_class_shows_no_auc(filled):
    store, info = filled
    preds = comparison.load_test_predictions(store, DATASET, [info["models"]["vgg16"]])
    malignant = preds[preds["truth"] == 1]["case_id"].tolist()
    few = preds[(preds["truth"] == 0) | preds["case_id"].isin(malignant[:4])]
    table = comparison.study_table(few)
    row = table.iloc[0]
    assert pd.isna(row["auc"]) and pd.isna(row["auc_low"])
    assert row["auc_note"].startswith("too few cases for an AUC (4 positive")
    assert comparison.format_study_table(table).loc[0, "AUC (95% CI)"] == "too few cases"
    assert not isinstance(comparison.roc_curves(few)[1]["VGG16"], AucResult)
    enough = comparison.study_table(preds).iloc[0]
    assert enough["auc_note"] == "" and enough["auc_low"] < enough["auc"]


def test_study_table_says_which_models_started_from_imagenet(filled):
    store, info = filled
    with store.transaction() as cur:
        cur.execute("UPDATE models SET init = 'imagenet' WHERE model_id = ?",
                    [info["models"]["resnet50"]])
    shown = comparison.format_study_table(comparison.study_table(
        comparison.load_test_predictions(store, DATASET))).set_index("Source")
    starts = shown.loc[comparison.OURS_SOURCE].set_index("Model")["Started from"]
    assert starts["ResNet50"] == "ImageNet weights"
    assert starts["VGG16"] == "scratch (random)"
    assert shown.loc[comparison.PUBLISHED_SOURCE, "Started from"] == "—"


def test_published_row_is_kept_when_resnet50_is_not_selected(filled):
    store, info = filled
    preds = comparison.load_test_predictions(store, DATASET, [info["models"]["vgg16"]])
    table = comparison.study_table(preds)
    assert list(table["source"]) == [comparison.OURS_SOURCE, comparison.PUBLISHED_SOURCE]


def test_only_test_split_nodules_count(filled):
    store, info = filled
    model_id = info["models"]["resnet50"]
    before = comparison.load_test_predictions(store, DATASET, [model_id])
    moved = info["test_cases"][0]
    with store.transaction() as cur:
        cur.execute("UPDATE splits SET split = 'train' WHERE case_id = ?", [moved])
        cur.execute("UPDATE cases SET label = 'normal' WHERE case_id = ?",
                    [info["test_cases"][1]])
    after = comparison.load_test_predictions(store, DATASET, [model_id])
    assert len(after) == len(before) - 2
    assert moved not in set(after["case_id"])


def test_a_model_without_a_threshold_gets_an_auc_but_no_threshold_metrics(filled):
    store, info = filled
    model_id = info["models"]["alexnet"]
    with store.transaction() as cur:
        cur.execute("UPDATE models SET threshold = NULL WHERE model_id = ?", [model_id])
    preds = comparison.load_test_predictions(store, DATASET, [model_id])
    row = comparison.study_table(preds).iloc[0]
    assert row["auc"] > 0.5
    assert pd.isna(row["accuracy"])
    assert comparison.confusion_matrices(preds).empty


def test_pairwise_table_is_compare_all_with_holm(filled):
    store, info = filled
    preds = comparison.load_test_predictions(store, DATASET)
    pairs = comparison.pairwise_table(preds)
    assert len(pairs) == 15
    y, _, _ = _truth_and_scores(store, info["models"]["vgg16"])
    scores = {comparison.arch_name(a): _truth_and_scores(store, m)[1]
              for a, m in info["models"].items()}
    ordered = {label: scores[label] for label in dict.fromkeys(preds["label"])}
    expected = compare_all(y, ordered)
    for (_, row), pair in zip(pairs.iterrows(), expected):
        assert (row["a"], row["b"]) == (pair["a"], pair["b"])
        assert (row["diff"], row["p"], row["p_holm"]) == pytest.approx(
            (pair["diff"], pair["p"], pair["p_holm"]))
    assert (pairs["p_holm"] >= pairs["p"] - 1e-12).all()
    verdicts = comparison.format_pairwise_table(pairs)["Verdict"]
    assert list(verdicts == "differ") == list(pairs["p_holm"] < 0.05)


def test_no_pairwise_test_runs_on_too_few_cases_of_a_class(filled):
    store, _ = filled
    preds = comparison.load_test_predictions(store, DATASET)
    malignant = sorted(set(preds[preds["truth"] == 1]["case_id"]))
    few = preds[(preds["truth"] == 0) | preds["case_id"].isin(malignant[:4])]
    pairs = comparison.pairwise_table(few)
    assert len(pairs) == 15 and pairs[["diff", "z", "p", "p_holm"]].isna().all().all()
    assert pairs["note"].str.startswith("too few cases for an AUC (4 positive").all()
    shown = comparison.format_pairwise_table(pairs)
    assert (shown["Verdict"] == pairs["note"]).all() and (shown["p"] == "—").all()
    enough = preds[(preds["truth"] == 0) | preds["case_id"].isin(malignant[:5])]
    assert not comparison.pairwise_table(enough)["p"].isna().any()


def test_paired_tests_use_only_the_cases_every_model_scored(filled):
    store, info = filled
    dropped = info["test_cases"][:5]
    with store.transaction() as cur:
        cur.execute("DELETE FROM predictions WHERE model_id = ? AND list_contains(?, case_id)",
                    [info["models"]["vit_b_16"], dropped])
    pairs = comparison.pairwise_table(comparison.load_test_predictions(store, DATASET))
    assert set(pairs["n"]) == {55}


def test_confusion_and_calibration_agree_with_core_stats(filled):
    store, info = filled
    preds = comparison.load_test_predictions(store, DATASET)
    matrices = comparison.confusion_matrices(preds).set_index("model_id")
    briers = comparison.brier_scores(preds)
    curves = comparison.calibration_curves(preds, bins=5)
    for arch, model_id in info["models"].items():
        y, prob, threshold = _truth_and_scores(store, model_id)
        counts = confusion(y, (prob >= threshold).astype(int))
        assert {k: matrices.loc[model_id, k] for k in counts} == counts
        assert briers[comparison.arch_name(arch)] == pytest.approx(brier(y, prob))
        curve = curves[curves["label"] == comparison.arch_name(arch)]
        assert curve["n"].sum() == len(y)
        assert len(curve) <= 5


def _brute_force_band(y, score, resamples, seed):
    """Sensitivity at each FPR of the grid, by trying every threshold of every resample."""
    rng = np.random.default_rng(seed)
    pos, neg = score[y == 1], score[y == 0]
    pos_b = pos[rng.integers(0, len(pos), (resamples, len(pos)))]
    neg_b = neg[rng.integers(0, len(neg), (resamples, len(neg)))]
    tpr = np.zeros((resamples, len(comparison.BAND_GRID)))
    for r in range(resamples):
        thresholds = np.r_[np.inf, np.unique(np.r_[pos_b[r], neg_b[r]])]
        fpr_t = (neg_b[r][None, :] >= thresholds[:, None]).mean(axis=1)
        tpr_t = (pos_b[r][None, :] >= thresholds[:, None]).mean(axis=1)
        for g, f in enumerate(comparison.BAND_GRID):
            tpr[r, g] = tpr_t[fpr_t <= f + 1e-12].max()
    return np.quantile(tpr, [0.025, 0.975], axis=0)


def test_bootstrap_band_matches_a_brute_force_computation():
    rng = np.random.default_rng(3)
    y = (rng.random(50) < 0.4).astype(int)
    score = np.round(y + rng.normal(0, 1, 50), 1)          # rounded: ties included
    low, high = comparison.tpr_band(y, score, resamples=60, seed=5)
    expected_low, expected_high = _brute_force_band(y, score, 60, 5)
    np.testing.assert_allclose(low, expected_low)
    np.testing.assert_allclose(high, expected_high)
    assert (low <= high).all() and high[-1] == 1


def test_bands_are_seeded_and_contain_the_curve_mostly(filled):
    store, _ = filled
    preds = comparison.load_test_predictions(store, DATASET)
    first, second = comparison.roc_bands(preds), comparison.roc_bands(preds)
    pd.testing.assert_frame_equal(first, second)
    curves, _ = comparison.roc_curves(preds)
    for label, band in first.groupby("label"):
        curve = curves[curves["label"] == label]
        inside = [band["tpr_low"].iloc[i] - 1e-9 <= curve.loc[curve["fpr"] <= f, "tpr"].max()
                  <= band["tpr_high"].iloc[i] + 1e-9 for i, f in enumerate(band["fpr"])]
        assert np.mean(inside) > 0.9


def _points_by_reader(frame):
    return {(r.reader, r.mode): r for r in frame.itertuples()}


def test_a_trainee_sees_their_own_point_and_the_anonymous_cohort(filled):
    store, info = filled
    ana = User(info["users"]["ana"], "ana", "Ana Trainee", "trainee")
    points = comparison.reader_operating_points(store, ana, DATASET)
    assert set(points["reader"]) == {"You", "Cohort (pooled, 3 trainees)"}
    assert not points["reader"].str.contains("Ben|Cleo|Ana").any()
    with pytest.raises(UserError, match="only their own"):
        comparison.reader_operating_points(store, ana, DATASET, info["users"]["ben"])
    with pytest.raises(UserError):
        comparison.trainees_with_reads(store, ana, DATASET)


def test_the_cohort_point_is_hidden_from_a_trainee_below_the_minimum_cohort(store):
    info = populate(store, n_test=30, n_train=10, trainees=(("ana", "Ana"), ("ben", "Ben")))
    ana = User(info["users"]["ana"], "ana", "Ana", "trainee")
    assert set(comparison.reader_operating_points(store, ana, DATASET)["reader"]) == {"You"}
    supervisor = User(add_user(store, "sue", "supervisor"), "sue", "Sue", "supervisor")
    assert "Cohort (pooled, 2 trainees)" in set(
        comparison.reader_operating_points(store, supervisor, DATASET)["reader"])


def test_a_supervisor_picks_any_trainee_and_points_count_first_reads(filled):
    store, info = filled
    supervisor = User(add_user(store, "sue", "supervisor"), "sue", "Sue", "supervisor")
    ben = info["users"]["ben"]
    assert [name for _, name in comparison.trainees_with_reads(store, supervisor, DATASET)] == [
        "Ana Trainee", "Ben Trainee", "Cleo Trainee"]
    points = _points_by_reader(comparison.reader_operating_points(store, supervisor, DATASET,
                                                                  ben))
    with store.read() as cur:
        reads = cur.execute(
            "SELECT r.birads, c.label = 'malignant' FROM reads r JOIN cases c USING (case_id)"
            " WHERE r.user_id = ? AND r.mode = 'unaided' ORDER BY r.read_id", [ben]).fetchall()
    called = np.array([b in ("4A", "4B", "4C", "5") for b, _ in reads])
    truth = np.array([t for _, t in reads])
    own = points[("Ben Trainee", "unaided")]
    assert own.tpr == pytest.approx(called[truth].mean())
    assert own.fpr == pytest.approx(called[~truth].mean())
    # a later practice read of the same cases changes nothing: the first read counts
    with store.transaction() as cur:
        session = cur.execute("INSERT INTO quiz_sessions (user_id, kind, case_ids) VALUES"
                              " (?, 'practice', '[]') RETURNING session_id", [ben]).fetchone()[0]
        cur.executemany("INSERT INTO reads (session_id, user_id, case_id, mode, birads,"
                        " probability) VALUES (?, ?, ?, 'unaided', '5', 90)",
                        [[session, ben, c] for c in info["test_cases"]])
    again = _points_by_reader(comparison.reader_operating_points(store, supervisor, DATASET, ben))
    assert again[("Ben Trainee", "unaided")].tpr == own.tpr


def test_gallery_is_open_to_a_trainee_only_after_the_ai_step(filled):
    store, info = filled
    supervisor = User(add_user(store, "sue", "supervisor"), "sue", "Sue", "supervisor")
    assert comparison.gallery_cases(store, supervisor, DATASET) == sorted(info["test_cases"])
    read = info["test_cases"][:4]
    dan_id = add_trainee_reads(store, "dan", read)
    dan = User(dan_id, "dan", "Dan", "trainee")
    assert comparison.gallery_cases(store, dan, DATASET) == sorted(read)
    with store.transaction() as cur:   # an unaided read alone (AI step not yet shown)
        session = cur.execute("INSERT INTO quiz_sessions (user_id, kind, case_ids) VALUES"
                              " (?, 'practice', '[]') RETURNING session_id",
                              [dan_id]).fetchone()[0]
        cur.execute("INSERT INTO reads (session_id, user_id, case_id, mode, birads, probability)"
                    " VALUES (?, ?, ?, 'unaided', '3', 20)", [session, dan_id,
                                                               info["test_cases"][10]])
    assert comparison.gallery_cases(store, dan, DATASET) == sorted(read)


def test_models_not_trained_and_default_selection(store):
    info = populate(store, n_test=20, n_train=10, archs=("resnet50", "vgg16"), trainees=())
    models = comparison.list_models(store, DATASET)
    assert comparison.untrained_archs(models) == ["googlenet", "alexnet", "vit_b_16",
                                                  "densenet121"]
    assert comparison.default_models(models) == [info["models"]["vgg16"],
                                                 info["models"]["resnet50"]]
    empty = comparison.list_models(store, "nothing")
    assert comparison.untrained_archs(empty) == list(ARCHS)
    assert comparison.model_datasets(store) == [DATASET]


def test_predictions_version_changes_with_predictions_not_with_reads(filled):
    store, info = filled
    version = comparison.predictions_version(store, DATASET)
    add_trainee_reads(store, "dan", info["test_cases"][:3])
    assert comparison.predictions_version(store, DATASET) == version
    with store.transaction() as cur:
        cur.execute("UPDATE predictions SET prob_malignant = 0.5 WHERE model_id = ? AND"
                    " case_id = ?", [info["models"]["vgg16"], info["test_cases"][0]])
    assert comparison.predictions_version(store, DATASET) != version


def test_arch_names_match_the_model_registry():
    registry = pytest.importorskip("core.models.registry")
    assert {arch: registry.spec(arch).title for arch in registry.ARCHS} == comparison.ARCH_NAMES


def _store_map(store, model_id: str, case_id: int, method: str, cam: np.ndarray, hit: bool,
               energy: float) -> None:
    relative = f"heatmaps/{model_id}/{method}/{case_id}.npy"
    path = store.resolve(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, cam.astype(np.float16))
    with store.transaction() as cur:
        cur.execute("INSERT INTO heatmaps (model_id, case_id, method, path, sha256, pointing_hit,"
                    " energy_inside) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [model_id, case_id, method, relative,
                     hashlib.sha256(path.read_bytes()).hexdigest(), hit, energy])


def test_gallery_panels_overlay_stored_maps_and_outline_the_lesion(filled):
    store, info = filled
    case_id = info["test_cases"][0]
    resnet, vgg = info["models"]["resnet50"], info["models"]["vgg16"]
    colour_overlay = pytest.importorskip("core.heatmaps.colour_overlay")
    record = comparison.case_record(store, case_id)
    mask = images.load_grey(store, record["mask_path"]) > 127
    cam = np.zeros(mask.shape, np.float32)
    cam[mask] = 1.0
    _store_map(store, resnet, case_id, "gradcam", cam, True, 1.0)
    preds = comparison.load_test_predictions(store, DATASET, [resnet, vgg])
    panels, missing = comparison.gallery_panels(store, preds, case_id, [resnet, vgg], "gradcam")
    assert missing == [vgg]
    assert [title.split(":")[0] for title, _ in panels[1:]] == ["ResNet50"]
    assert panels[1][0].endswith("<br>pointing hit · 100% in lesion")
    np.testing.assert_array_equal(panels[1][1], colour_overlay.overlay(
        images.load_grey(store, record["image_path"]), cam, 0.45))
    outlined, _ = comparison.gallery_panels(store, preds, case_id, [resnet], "gradcam",
                                            with_outline=True)
    edge = images.mask_edge(mask)
    for _, rgb in outlined:
        assert (rgb[edge] == images.OUTLINE_COLOUR).all()
        assert not (rgb[~mask] == images.OUTLINE_COLOUR).all(axis=-1).any()
    zoomed, _ = comparison.gallery_panels(store, preds, case_id, [resnet], "gradcam", zoom=True)
    box = framing.zoom_box(framing.lesion_box(mask), mask.shape)
    assert [title for title, _ in zoomed] == [title for title, _ in panels]
    for (_, whole), (_, near) in zip(panels, zoomed):
        np.testing.assert_array_equal(
            near, images.enlarge(framing.crop(whole, box), comparison.ZOOM_SIDE_PX))
        assert near.shape[:2] == (max(box.height, comparison.ZOOM_SIDE_PX),) * 2


def test_the_gallery_shows_each_models_default_map_and_names_it(filled):
    store, info = filled
    case_id = info["test_cases"][0]
    resnet, vgg = info["models"]["resnet50"], info["models"]["vgg16"]
    with store.transaction() as cur:  # ResNet50 chose HiResCAM; VGG16 predates the choice
        cur.execute("UPDATE models SET config = ? WHERE model_id = ?",
                    [json.dumps({"heatmap": {"layer": "layer3", "method": "hirescam"}}), resnet])
    defaults = comparison.gallery_methods(store, [resnet, vgg], comparison.EACH_DEFAULT)
    assert defaults == {resnet: "hirescam", vgg: "gradcam"}
    assert comparison.gallery_methods(store, [resnet, vgg], "layercam") == \
        {resnet: "layercam", vgg: "layercam"}
    assert comparison.gallery_method_title(comparison.EACH_DEFAULT) == "Each model's default"
    shape = images.load_grey(store, comparison.case_record(store, case_id)["image_path"]).shape
    _store_map(store, resnet, case_id, "gradcam", np.zeros(shape, np.float32), False, 0.0)
    _store_map(store, resnet, case_id, "hirescam", np.ones(shape, np.float32), True, 0.5)
    _store_map(store, vgg, case_id, "gradcam", np.ones(shape, np.float32), True, 0.25)
    preds = comparison.load_test_predictions(store, DATASET, [resnet, vgg])
    panels, missing = comparison.gallery_panels(store, preds, case_id, [resnet, vgg], defaults)
    assert missing == []
    assert panels[1][0].endswith("<br>HiResCAM · pointing hit · 50% in lesion")
    assert panels[2][0].endswith("<br>Grad-CAM · pointing hit · 25% in lesion")
    same, _ = comparison.gallery_panels(store, preds, case_id, [resnet, vgg], "gradcam")
    assert same[1][0].endswith("<br>pointing miss · 0% in lesion")  # one method: not named
    _, missing = comparison.gallery_panels(store, preds, case_id, [resnet, vgg], "hirescam")
    assert missing == [vgg]
    labels = {resnet: "ResNet50", vgg: "VGG16"}
    assert comparison.gallery_title(defaults) == "Each model's default map"
    assert comparison.gallery_title({resnet: "gradcam", vgg: "gradcam"}) == "Grad-CAM"
    assert comparison.missing_maps_text([resnet, vgg], defaults, labels) == (
        "No stored heatmap of this case yet for ResNet50 (HiResCAM), VGG16 (Grad-CAM).")
    assert comparison.missing_maps_text([vgg], {vgg: "hirescam"}, labels) == (
        "No stored HiResCAM heatmap of this case yet for VGG16.")


@pytest.mark.parametrize("mask", ["none", "empty"])
def test_a_case_without_a_lesion_is_shown_whole_when_zoomed(filled, mask):
    store, info = filled
    case_id = info["test_cases"][0]
    if mask == "none":
        with store.transaction() as cur:
            cur.execute("UPDATE cases SET mask_path = NULL WHERE case_id = ?", [case_id])
    else:  # a normal scan: a mask file with nothing in it
        path = store.resolve(comparison.case_record(store, case_id)["mask_path"])
        blank = np.zeros_like(np.asarray(Image.open(path)))
        Image.fromarray(blank).save(path)
    resnet = info["models"]["resnet50"]
    preds = comparison.load_test_predictions(store, DATASET, [resnet])
    whole, _ = comparison.gallery_panels(store, preds, case_id, [resnet], "gradcam")
    zoomed, _ = comparison.gallery_panels(store, preds, case_id, [resnet], "gradcam", zoom=True)
    assert len(zoomed) == len(whole) == 1
    np.testing.assert_array_equal(zoomed[0][1], whole[0][1])


def test_enlarge_scales_small_images_up_and_leaves_large_ones():
    rgb = np.zeros((40, 20, 3), np.uint8)
    rgb[:, 10:] = 200
    bigger = images.enlarge(rgb, 100)
    assert bigger.shape == (100, 50, 3)
    assert bigger[:, :20].max() < 30 and bigger[:, 30:].min() > 170
    assert images.enlarge(rgb, 40) is rgb


def test_zoom_keeps_a_mask_boolean_and_aligned_with_its_image():
    mask = np.zeros((40, 60), bool)
    mask[10:20, 30:40] = True
    grey = np.where(mask, 250, 10).astype(np.uint8)
    box = framing.Box(5, 25, 20, 20)
    near_mask, near_grey = images.zoom(mask, box, 100), images.zoom(grey, box, 100)
    assert near_mask.dtype == bool and near_mask.shape == near_grey.shape == (100, 100)
    assert near_mask.mean() == pytest.approx(0.25, abs=0.02)
    assert near_grey[near_mask].mean() > 200 and near_grey[~near_mask].mean() < 60


def test_reader_study_reads_give_no_point_and_open_no_gallery_case(store):
    info = populate(store, n_test=30, n_train=10, trainees=())
    eve_id = add_user(store, "eve", "trainee")
    eve = User(eve_id, "eve", "Eve", "trainee")
    cases = info["test_cases"][:6]
    with store.transaction() as cur:
        session = cur.execute("INSERT INTO quiz_sessions (user_id, kind, case_ids) VALUES"
                              " (?, 'study_aided', '[]') RETURNING session_id",
                              [eve_id]).fetchone()[0]
        cur.executemany("INSERT INTO reads (session_id, user_id, case_id, mode, birads,"
                        " probability) VALUES (?, ?, ?, 'aided', '4B', 60)",
                        [[session, eve_id, c] for c in cases])
    assert comparison.reader_operating_points(store, eve, DATASET).empty
    assert comparison.gallery_cases(store, eve, DATASET) == []
