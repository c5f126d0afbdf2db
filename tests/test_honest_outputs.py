"""Only out-of-sample outputs reach a person, and a read stores what was shown (issue 13).

Tiny 32 px phantoms (tests/models_helpers.py), one epoch: fold 0 is the quick profile's
validation fold, fold 1 is trained on (in-sample), four cases are the test split."""
from __future__ import annotations

import duckdb
import pytest

from core.display_names import model_names
from core.errors import UserError
from core.export import export_tables
from core.heatmaps.case_heatmap import case_heatmap
from core.models.checkpoints import file_sha256
from core.models.crossfit import crossfit_folds, crossfit_model
from core.models.loading import load_model
from core.models.train import train_models
from core.quiz import flow, selection
from core.reads import NO_HONEST_OUTPUT, ai_output, ai_outputs
from core.store import Store
from core.store.migrations import migrate
from models_helpers import LAYOUT, add_tiny_dataset, torch_threads  # noqa: F401
from quiz_helpers import make_user

FAST = {"device": "cpu", "init": "scratch", "epochs": 1, "image_size": 32}
MODEL = "resnet50-quick-tiny-s0"


def _sources(store: Store) -> dict[int, tuple[str, int | None]]:
    with store.read() as cur:
        return {case_id: (source, fold) for case_id, source, fold in cur.execute(
            "SELECT case_id, source, fold FROM predictions WHERE model_id = ?",
            [MODEL]).fetchall()}


def _by_layout(ids: list[int], split: str, fold: int | None = None) -> list[int]:
    return [c for c, (_, s, f) in zip(ids, LAYOUT) if s == split and (fold is None or f == fold)]


@pytest.fixture
def trained(store):
    ids = add_tiny_dataset(store)
    train_models(store, "tiny", ["resnet50"], **FAST)
    return store, ids


def _loader(store: Store, calls: list):
    def load(model_id: str, sha: str | None):
        calls.append(sha)
        return load_model(store, model_id, "cpu", sha)
    return load


def test_old_sources_are_renamed_by_the_migration(tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    migrate(con, target=10)
    con.execute("INSERT INTO models (model_id, arch, dataset, init, profile, image_size,"
                " threshold, checkpoint_sha256) VALUES ('m', 'resnet50', 'd', 'scratch', 'quick',"
                " 32, 0.4, 'abc')")
    con.execute("INSERT INTO predictions VALUES ('m', 1, 0.1, 'train', 1), ('m', 2, 0.2, 'other',"
                " NULL), ('m', 3, 0.3, 'validation', 0), ('m', 4, 0.4, 'test', NULL)")
    migrate(con)
    assert dict(con.execute("SELECT case_id, source FROM predictions").fetchall()) == \
        {1: "in_sample", 2: "held_out", 3: "validation", 4: "test"}
    assert con.execute("SELECT version, checkpoint_sha256, threshold FROM model_versions"
                       ).fetchall() == [(1, "abc", 0.4)]
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO predictions VALUES ('m', 5, 0.5, 'train', 1)")
    con.close()


def test_quick_training_labels_each_row_and_in_sample_is_never_shown(trained):
    store, ids = trained
    sources = _sources(store)
    for case_id, (_, split, fold) in zip(ids, LAYOUT):
        expected = ("test", None) if split == "test" else \
            ("validation", 0) if fold == 0 else ("in_sample", 1)
        assert sources[case_id] == expected
    in_sample = _by_layout(ids, "train", 1)
    with store.read() as cur:
        shown = ai_outputs(cur, MODEL, ids)
        assert set(shown) == set(ids) - set(in_sample)
        assert ai_output(cur, MODEL, in_sample[0]) == NO_HONEST_OUTPUT
        sha = cur.execute("SELECT checkpoint_sha256 FROM models").fetchone()[0]
    assert {output.checkpoint_sha256 for output in shown.values()} == {sha}
    calls = []
    with pytest.raises(UserError, match="trained on it"):
        case_heatmap(store, MODEL, in_sample[0], "gradcam", _loader(store, calls))
    assert calls == []  # refused before any model is loaded


def test_the_quiz_draws_only_honest_cases_and_says_how_many(trained):
    store, ids = trained
    trainee = make_user(store, "trainee1")
    share = selection.honest_share(store)
    assert (share.model_id, share.honest, share.nodules) == (MODEL, 8, 12)
    assert "8 of the 12 cases" in share.text
    assert f"The AI ({model_names(store)[MODEL]})" in share.text  # its name, not its id
    picked = selection.practice_cases(store, trainee.user_id, "all", 50, seed=0)
    assert sorted(picked) == sorted(set(ids) - set(_by_layout(ids, "train", 1)))
    options = {option.code: option.count for option in
               selection.practice_set_options(store, trainee.user_id)}
    assert options["all"] == 8


def test_crossfit_replaces_in_sample_rows_and_maps_use_the_fold_model(trained):
    store, ids = trained
    with pytest.raises(UserError, match="only 2 cross-validation folds"):
        crossfit_model(store, MODEL, 3, device="cpu")
    before = _sources(store)
    summary = crossfit_model(store, MODEL, 2, device="cpu")
    assert summary["out_of_fold"] == 4  # the in-sample fold; validation rows stay
    after = _sources(store)
    with store.read() as cur:
        folds = dict(cur.execute("SELECT fold, checkpoint_sha256 FROM crossfit_folds"
                                 " WHERE model_id = ?", [MODEL]).fetchall())
        paths = [p for (p,) in cur.execute("SELECT checkpoint_path FROM crossfit_folds").fetchall()]
        main_sha = cur.execute("SELECT checkpoint_sha256 FROM models").fetchone()[0]
        shown = ai_outputs(cur, MODEL, ids)
    assert sorted(folds) == [0, 1] and main_sha not in folds.values()
    assert all(file_sha256(store.resolve(p)) in folds.values() for p in paths)
    for case_id in ids:
        if before[case_id][0] == "in_sample":
            assert after[case_id] == ("out_of_fold", 1)  # split fold 1 is cross-fit fold 1
            assert shown[case_id].checkpoint_sha256 == folds[1]
        else:
            assert after[case_id] == before[case_id]
    assert selection.honest_share(store).text is None  # the whole library now
    train_case = _by_layout(ids, "train", 1)[0]
    calls = []
    heatmap = case_heatmap(store, MODEL, train_case, "gradcam", _loader(store, calls))
    assert calls == [folds[1]] and heatmap.cam.shape == (40, 48)
    test_case = _by_layout(ids, "test")[0]
    case_heatmap(store, MODEL, test_case, "gradcam", _loader(store, calls))
    assert calls[-1] == main_sha


def test_crossfit_fold_mapping_keeps_split_folds_whole():
    assert crossfit_folds([0, 1, 2, 3, 4], 5) == {0: 0, 1: 1, 2: 2, 3: 3, 4: 4}
    assert crossfit_folds([0, 1, 2, 3, 4], 2) == {0: 0, 1: 1, 2: 0, 3: 1, 4: 0}
    with pytest.raises(UserError, match="at least 2"):
        crossfit_folds([0, 1], 1)


def _read_one(store: Store, user_id: int, session: int) -> int:
    case = flow.state(store, session, user_id).case_id
    view = flow.submit_unaided(store, session, user_id, case, "3", 10)
    assert isinstance(view, flow.AIView)
    flow.submit_aided(store, session, user_id, case, "4A", 40)
    flow.advance(store, session, user_id, case)
    return case


def test_reads_keep_the_version_they_showed_across_a_retrain(trained, tmp_path):
    store, ids = trained
    trainee = make_user(store, "trainee1")
    session = flow.start_session(store, trainee.user_id, "test", 1, seed=0)
    case = _read_one(store, trainee.user_id, session)
    with store.read() as cur:
        first_sha, threshold = cur.execute("SELECT checkpoint_sha256, threshold FROM models"
                                           ).fetchone()
        read = cur.execute("SELECT model_id, ai_prob, ai_threshold, checkpoint_sha256 FROM reads"
                           " WHERE mode = 'aided'").fetchone()
        shown = ai_output(cur, MODEL, case)
    assert read == (MODEL, shown.probability, threshold, first_sha)

    train_models(store, "tiny", ["resnet50"], **{**FAST, "seed": 0, "epochs": 2})
    with store.read() as cur:
        versions = cur.execute("SELECT version, checkpoint_sha256 FROM model_versions"
                               " WHERE model_id = ? ORDER BY version", [MODEL]).fetchall()
        second_sha = cur.execute("SELECT checkpoint_sha256 FROM models").fetchone()[0]
        kept = cur.execute("SELECT checkpoint_sha256 FROM reads WHERE mode = 'aided'"
                           ).fetchone()[0]
    assert versions == [(1, first_sha), (2, second_sha)] and first_sha != second_sha
    assert kept == first_sha

    folder = tmp_path / "export"
    export_tables(store, folder)
    import pandas as pd

    reads = pd.read_csv(folder / "reads.csv")
    aided = reads[reads["mode"] == "aided"]
    assert len(aided) == 1
    assert aided[["model_id", "checkpoint_sha256", "ai_threshold"]].notna().all().all()
    predictions = pd.read_csv(folder / "predictions.csv")
    assert set(predictions["source"]) == {"test", "validation", "in_sample"}
    assert (folder / "model_versions.csv").is_file()


def test_a_study_needs_honest_outputs_and_its_aided_reads_store_the_version(trained,
                                                                          monkeypatch):
    from datetime import datetime

    from core.studies import protocol

    monkeypatch.setattr(protocol, "MIN_PER_CLASS", 2)  # the tiny set: 4 + 4 cases per split
    store, ids = trained
    sue, anna = make_user(store, "sue", "supervisor"), make_user(store, "anna")
    with pytest.raises(UserError, match="could honestly show"):
        protocol.create_study(store, sue, "Leaky", _by_layout(ids, "train"), [anna.user_id], 0)
    now = datetime(2026, 3, 2, 9, 0)
    study = protocol.create_study(store, sue, "Pilot", _by_layout(ids, "test"), [anna.user_id],
                                  0, now=now)
    for _ in protocol.MODES:
        session = protocol.start_or_resume(store, study, anna.user_id, now=now)
        view = protocol.next_study_case(store, session, anna.user_id, now=now)
        while not isinstance(view, protocol.PhaseDoneView):
            view = protocol.submit_study_read(store, session, anna.user_id, view.case_id, "3",
                                              20, now=now)
    with store.read() as cur:
        model = cur.execute("SELECT checkpoint_sha256, threshold FROM models").fetchone()
        aided = cur.execute("SELECT DISTINCT model_id, checkpoint_sha256, ai_threshold FROM reads"
                            " WHERE mode = 'aided'").fetchall()
        unaided = cur.execute("SELECT DISTINCT checkpoint_sha256, ai_threshold FROM reads"
                              " WHERE mode = 'unaided'").fetchall()
    assert aided == [(MODEL, *model)] and unaided == [(None, None)]

    from core.studies.report import study_report
    from core.studies.tables import reads_frame

    with store.transaction() as cur:  # as a retrain would: the report keeps what was shown
        cur.execute("UPDATE models SET threshold = 1.0")
    report = study_report(store, study, sue)
    assert report.ai_threshold == pytest.approx(model[1])
    frame = reads_frame(report)
    shown = frame[frame["mode"] == "aided"]
    assert (shown["ai_called_malignant"] == (shown["ai_prob"] >= model[1]).astype(int)).all()


def test_train_command_cross_fits_when_asked(store, capsys):
    import json

    from core.cli import main

    add_tiny_dataset(store)
    code = main(["train", "--db", str(store.path), "--dataset", "tiny", "--models", "resnet50",
                 "--device", "cpu", "--init", "scratch", "--epochs", "1", "--image-size", "32",
                 "--crossfit", "2", "--json"])
    assert code == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["model_id"] == MODEL and row["out_of_fold"] == 4
    assert "in_sample" not in {source for source, _ in _sources(store).values()}
