"""Training into the store: every case predicted once, the threshold chosen without test rows,
one transaction per model, cancelling leaves nothing half-written."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
from PIL import Image

import core
from core.cli import main
from core.errors import UserError
from core.heatmaps import choice
from core.models.checkpoints import file_sha256, load_checkpoint
from core.models.data import framed_image
from core.models.engine import TrainingCancelled
from core.models.loading import load_model
from core.models.registry import grey_to_input
from core.models.train import train_models
from core.reads import ai_outputs
from models_helpers import LAYOUT, add_tiny_dataset, torch_threads  # noqa: F401

FAST = {"device": "cpu", "init": "scratch", "epochs": 1, "image_size": 32}


def _predictions(store, model_id):
    with store.read() as cur:
        return {case_id: (prob, source, fold) for case_id, prob, source, fold in cur.execute(
            "SELECT case_id, prob_malignant, source, fold FROM predictions WHERE model_id = ?",
            [model_id]).fetchall()}


def _model_row(store, model_id):
    with store.read() as cur:
        cur.execute("SELECT * FROM models WHERE model_id = ?", [model_id])
        names = [d[0] for d in cur.description]
        row = cur.fetchone()
    return dict(zip(names, row)) if row else None


def test_quick_training_records_model_predictions_and_checkpoint(store):
    ids = add_tiny_dataset(store)
    reports = []
    [model_id] = train_models(store, "tiny", ["googlenet"], progress=reports.append, **FAST)
    assert model_id == "googlenet-quick-tiny-s0"
    row = _model_row(store, model_id)
    assert (row["arch"], row["init"], row["profile"], row["image_size"]) == \
        ("googlenet", "scratch", "quick", 32)
    assert 0 <= row["threshold"] <= 1 and row["seconds"] > 0 and row["seed"] == 0
    assert row["code_version"].startswith(core.__version__)
    assert store.resolve(row["checkpoint_path"]).is_file()
    assert file_sha256(store.resolve(row["checkpoint_path"])) == row["checkpoint_sha256"]
    config = json.loads(row["config"])
    assert config["validation_fold"] == 0 and config["profile"]["image_size"] == 32

    predictions = _predictions(store, model_id)
    assert sorted(predictions) == sorted(ids)  # the normal case is left out
    for case_id, (label, split, fold) in zip(ids, LAYOUT):
        prob, source, stored_fold = predictions[case_id]
        assert 0 <= prob <= 1
        expected = ("validation", 0) if fold == 0 else ("in_sample", 1) if split == "train" \
            else ("test", None)
        assert (source, stored_fold) == expected

    fractions = [r["fraction"] for r in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"arch", "epoch", "epochs", "step", "steps", "fraction", "message"} <= set(reports[0])
    assert any(r["step"] > 0 for r in reports)

    loaded = load_model(store, model_id)
    assert not loaded.model.training
    assert not any(p.requires_grad for p in loaded.model.parameters())
    case_id = ids[-1]
    assert loaded.framing == "lesion"  # every case of the tiny set has a lesion mask
    assert _probability(store, loaded, case_id) == pytest.approx(predictions[case_id][0],
                                                                 abs=1e-5)


def _probability(store, loaded, case_id) -> float:
    """The loaded model's probability for a case, read as predictions read it: the mean over
    the framed image and its mirror."""
    with store.read() as cur:
        path, mask_path = cur.execute("SELECT image_path, mask_path FROM cases WHERE case_id = ?",
                                      [case_id]).fetchone()
    size = loaded.image_size
    framed = framed_image(store, case_id, path, mask_path, loaded.framing, size)
    x = torch.from_numpy(framed).view(1, 1, size, size).float() / 255
    with torch.no_grad():
        return float(np.mean([torch.softmax(loaded.model(grey_to_input(view)), 1)[0, 1].item()
                              for view in (x, x.flip(-1))]))


def test_a_quick_resnet50_keeps_its_last_stage_fine_and_older_models_load_as_trained(store):
    ids = add_tiny_dataset(store)
    [model_id] = train_models(store, "tiny", ["resnet50"], **FAST)
    case_id = ids[-1]
    stored = _predictions(store, model_id)[case_id][0]
    loaded = load_model(store, model_id)
    assert loaded.config["profile"]["fine_last_stage"]
    assert loaded.model.layer4[0].conv2.stride == (1, 1)  # dilated, not strided
    assert _probability(store, loaded, case_id) == pytest.approx(stored, abs=1e-5)
    with store.transaction() as cur:  # a model trained before the option: no such key
        config = json.loads(cur.execute("SELECT config FROM models WHERE model_id = ?",
                                        [model_id]).fetchone()[0])
        del config["profile"]["fine_last_stage"]
        cur.execute("UPDATE models SET config = ? WHERE model_id = ?",
                    [json.dumps(config), model_id])
    older = load_model(store, model_id)
    assert older.model.layer4[0].conv2.stride == (2, 2)


def test_the_threshold_never_sees_the_test_cases(store, monkeypatch):
    import core.models.train as training

    seen = []
    choose = training._threshold
    # the same threads for both runs: a sum split over another thread count rounds otherwise,
    # and one epoch on four cases magnifies that into a different model
    monkeypatch.setattr(training, "cpu_threads", lambda: 1)
    monkeypatch.setattr(training, "_threshold",
                        lambda y, prob: seen.append(len(y)) or choose(y, prob))
    ids = add_tiny_dataset(store)
    [model_id] = train_models(store, "tiny", ["resnet50"], **FAST)
    assert seen == [sum(1 for _, _, fold in LAYOUT if fold == 0)]  # fold 0 only
    first, threshold = _predictions(store, model_id), _model_row(store, model_id)["threshold"]

    rng = np.random.default_rng(5)
    test_ids = [c for c, (_, split, _) in zip(ids, LAYOUT) if split == "test"]
    with store.transaction() as cur:
        for case_id in test_ids:
            (path,) = cur.execute("SELECT image_path FROM cases WHERE case_id = ?",
                                  [case_id]).fetchone()
            Image.fromarray(rng.integers(0, 256, (40, 48), dtype=np.uint8)).save(
                store.resolve(path))
            cur.execute("UPDATE cases SET label = CASE label WHEN 'benign' THEN 'malignant' "
                        "ELSE 'benign' END WHERE case_id = ?", [case_id])
    train_models(store, "tiny", ["resnet50"], **FAST)
    second = _predictions(store, model_id)
    assert _model_row(store, model_id)["threshold"] == pytest.approx(threshold, abs=1e-6)
    for case_id, (prob, source, _) in first.items():
        if source == "validation":
            assert second[case_id][0] == pytest.approx(prob, abs=1e-6)


def test_cpu_threads_are_chosen_again_every_epoch(store, monkeypatch):
    """A busy moment when training starts (a page rendering) must not hold a run to 1 thread."""
    import core.models.train as train_module

    add_tiny_dataset(store)
    free = iter([1, 2, 2, 2, 2, 2])
    monkeypatch.setattr(train_module, "cpu_threads", lambda: next(free))
    chosen = []
    monkeypatch.setattr(torch, "set_num_threads", chosen.append)
    train_models(store, "tiny", ["googlenet"], **{**FAST, "epochs": 3})
    assert chosen[:2] == [1, 2] and len(chosen) >= 3  # at least one choice per epoch


def test_quick_training_runs_every_epoch_and_keeps_the_best_validated_one(store, monkeypatch):
    """A model from scratch can sit near chance for half its epochs: a lucky first epoch on the
    small validation fold must neither end training nor be beaten by a later worse one."""
    import core.models.engine as engine

    add_tiny_dataset(store)
    # fold 0's AUC per epoch: the first is best, and nothing beats it for 11 epochs (a patience
    # of 8 epochs once ended such a run at epoch 9)
    aucs = [0.9, *np.linspace(0.55, 0.85, 11).round(3)]
    judged = iter(aucs)
    monkeypatch.setattr(engine, "auc_mw", lambda *_: next(judged))
    [model_id] = train_models(store, "tiny", ["googlenet"], **{**FAST, "epochs": len(aucs)})
    config = json.loads(_model_row(store, model_id)["config"])
    assert (config["epochs_run"], config["best_epoch"]) == (len(aucs), 1)
    assert [epoch["val_auc"] for epoch in config["history"]] == pytest.approx(aucs)


def test_paper_profile_predicts_every_training_case_out_of_fold(store, monkeypatch):
    ids = add_tiny_dataset(store)
    choosers = []
    real_choice = choice.choose_heatmap

    def choose(model, *args, **kwargs):
        choosers.append({k: v.clone() for k, v in model.state_dict().items()})
        return real_choice(model, *args, **kwargs)

    monkeypatch.setattr(choice, "choose_heatmap", choose)
    [model_id] = train_models(store, "tiny", ["googlenet"], profile="paper", **FAST)
    predictions = _predictions(store, model_id)
    for case_id, (_, split, fold) in zip(ids, LAYOUT):
        expected = ("out_of_fold", fold) if split == "train" else ("test", None)
        assert predictions[case_id][1:] == expected
    config = json.loads(_model_row(store, model_id)["config"])
    assert config["folds"] == [0, 1] and "out-of-fold" in config["threshold_rule"]
    # the default heatmap is chosen on fold 0 by the fold model that held it out
    assert config["heatmap"]["cases"] == sum(fold == 0 for _, _, fold in LAYOUT)
    with store.read() as cur:  # each fold model is kept: a training case's map comes from it
        folds = dict(cur.execute("SELECT fold, checkpoint_path FROM crossfit_folds"
                                 " WHERE model_id = ?", [model_id]).fetchall())
        shown = ai_outputs(cur, model_id, ids)
    assert sorted(folds) == [0, 1]
    fold_state = load_checkpoint(store.resolve(folds[0]))["state_dict"]
    assert len(choosers) == 1 and all(torch.equal(choosers[0][k], v.to(choosers[0][k].dtype))
                                      for k, v in fold_state.items())
    for case_id, (_, split, fold) in zip(ids, LAYOUT):
        expected = (file_sha256(store.resolve(folds[fold])) if split == "train"
                    else _model_row(store, model_id)["checkpoint_sha256"])
        assert shown[case_id].checkpoint_sha256 == expected


def test_cancel_keeps_finished_models_and_leaves_nothing_of_the_unfinished(store):
    add_tiny_dataset(store)
    cancel = threading.Event()

    def progress(report):
        if report["arch"] == "alexnet" and report["step"] >= 1:
            cancel.set()

    with pytest.raises(TrainingCancelled, match="kept googlenet-quick-tiny-s0"):
        train_models(store, "tiny", ["googlenet", "alexnet"], progress=progress, cancel=cancel,
                     **{**FAST, "epochs": 3})
    assert _model_row(store, "googlenet-quick-tiny-s0") is not None
    assert _model_row(store, "alexnet-quick-tiny-s0") is None
    assert _predictions(store, "alexnet-quick-tiny-s0") == {}
    assert not (store.data_dir / "models" / "alexnet-quick-tiny-s0").exists()
    leftovers = [p for p in (store.data_dir / "models").rglob("*") if p.suffix == ".tmp"]
    assert leftovers == []


def test_retraining_replaces_the_model_its_rows_and_files(store):
    ids = add_tiny_dataset(store)
    [model_id] = train_models(store, "tiny", ["googlenet"], **FAST)
    old_path = store.resolve(_model_row(store, model_id)["checkpoint_path"])
    with store.transaction() as cur:
        cur.execute("INSERT INTO heatmaps (model_id, case_id, method, path, sha256) "
                    "VALUES (?, ?, 'gradcam', 'heatmaps/x.npy', 'x')", [model_id, ids[0]])
    train_models(store, "tiny", ["googlenet"], **FAST)
    with store.read() as cur:
        assert cur.execute("SELECT count(*) FROM models").fetchone()[0] == 1
        assert cur.execute("SELECT count(*) FROM heatmaps").fetchone()[0] == 0
        assert cur.execute("SELECT count(*) FROM predictions").fetchone()[0] == len(ids)
    new_path = store.resolve(_model_row(store, model_id)["checkpoint_path"])
    assert new_path.is_file() and not old_path.exists()


def test_clear_errors_before_any_work(store):
    with pytest.raises(UserError, match="no benign or malignant cases"):
        train_models(store, "nothing", ["resnet50"], **FAST)
    add_tiny_dataset(store)
    with store.transaction() as cur:
        cur.execute("UPDATE splits SET fold = NULL")
    with pytest.raises(UserError, match="no cross-validation folds"):
        train_models(store, "tiny", ["resnet50"], **FAST)
    with pytest.raises(UserError, match="unknown architecture"):
        train_models(store, "tiny", ["lenet"], **FAST)
    with pytest.raises(UserError, match="multiple of 16"):
        train_models(store, "tiny", ["vit_b_16"], **{**FAST, "image_size": 40})


def test_train_command_prints_json(store, capsys):
    add_tiny_dataset(store)
    code = main(["train", "--db", str(store.path), "--dataset", "tiny", "--models", "googlenet",
                 "--device", "cpu", "--init", "scratch", "--epochs", "1", "--image-size", "32",
                 "--json"])
    assert code == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["model_id"] == "googlenet-quick-tiny-s0" and result["init"] == "scratch"
