"""The administration page through AppTest (logged in as an admin): its tabs, imports from a
server folder and from an upload through the job runner, the split, training and heatmap jobs
(with stand-ins, nothing is trained), backups; and the job builders behind it: a cancelled
import stores nothing, server paths are checked."""
from __future__ import annotations

import io
import json
import sys
import threading
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core import admin_jobs
from core.datasets import dataset_overview
from core.display_names import model_names
from core.errors import UserError
from core.store import Store
from tests.app_pages import click
from tests.quiz_helpers import add_model, make_cases, make_user

PAGE = Path(__file__).resolve().parent.parent / "pages" / "admin.py"
TABS = ["Users", "Data", "Models", "Backup", "Background jobs"]


@pytest.fixture
def db(app_db, monkeypatch) -> Path:
    """A fresh store for the page, with no server folder allowed for imports."""
    monkeypatch.delenv(admin_jobs.IMPORT_ROOT_ENV, raising=False)
    return app_db


def page_as(role: str) -> AppTest:
    """The admin page run directly with a user of ``role`` in the session."""
    from pages import ui

    user = make_user(ui.get_store(), f"some_{role}", role)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["user"] = user
    return at.run()


def runner():
    from pages import ui

    return ui.get_runner()


def store() -> Store:
    from pages import ui

    return ui.get_store()


def finish_job(at: AppTest, kind: str) -> str:
    """Wait for the newest job of ``kind`` to end and rerun the page; returns its status."""
    job = next(job for job in runner().status() if job.kind == kind)
    status = runner().wait(job.job_id, 60).status
    at.run()
    return status


def write_png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8)).save(path)


def folder_dataset(root: Path) -> Path:
    """Two benign and three malignant images, one patient subfolder, and a stray text file."""
    for index, name in enumerate(["benign/a.png", "benign/P1/b.png", "malignant/c.png",
                                  "malignant/d.png", "malignant/e.png"]):
        write_png(root / name, index)
    (root / "notes.txt").write_text("not an image")
    return root


def table(at: AppTest, column: str):
    """The first table shown with ``column`` (AppTest does not expose a table's key)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def messages(elements) -> list[str]:
    return [element.value for element in elements]


def test_every_tab_renders_for_an_admin_on_an_empty_store(db):
    at = page_as("admin")
    assert not at.exception
    assert not at.error
    assert [tab.label for tab in at.tabs] == TABS
    assert "No dataset yet: import one below." in messages(at.info)


@pytest.mark.parametrize("role", ["trainee", "supervisor"])
def test_other_roles_see_nothing_of_it(db, role):
    at = page_as(role)
    assert "admin accounts" in at.error[0].value
    assert not at.tabs and not at.button and not at.text_input


def test_import_from_a_server_folder_runs_as_a_job_and_lands(db, tmp_path):
    source = folder_dataset(tmp_path / "incoming")
    at = page_as("admin")
    at.radio(key="import_source").set_value("a folder on the server").run()
    at.selectbox(key="server_kind").set_value("folder").run()
    at.text_input(key="server_path").input(str(source))
    at.text_input(key="server_dataset").input("mine")
    click(at, "Import from the server")
    assert not at.error
    assert finish_job(at, "import") == "done"
    assert "Imported 5 cases (benign 2, malignant 3)" in at.success[0].value
    skipped = table(at, "Why skipped")
    assert list(skipped["File"]) == ["notes.txt"]
    overview = dataset_overview(store()).set_index("dataset")
    assert overview.loc["mine", ["cases", "benign", "malignant", "not split"]].tolist() == [
        5, 2, 3, 5]
    assert "mine" in list(table(at, "Not split")["Dataset"])


def test_a_missing_server_path_is_refused_before_any_job(db, tmp_path):
    at = page_as("admin")
    at.radio(key="import_source").set_value("a folder on the server").run()
    at.text_input(key="server_path").input(str(tmp_path / "nowhere"))
    click(at, "Import from the server")
    assert "does not exist" in at.error[0].value
    assert runner().status() == []


def test_import_from_an_upload_removes_the_upload_afterwards(db, tmp_path):
    source = folder_dataset(tmp_path / "incoming")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in source.rglob("*.png"):
            bundle.write(path, path.relative_to(source).as_posix())
    at = page_as("admin")
    at.selectbox(key="upload_kind").set_value("folder").run()
    at.file_uploader(key="upload_file").upload("cases.zip", archive.getvalue(),
                                               "application/zip").run()
    at.text_input(key="upload_dataset").input("uploaded")
    click(at, "Import the upload")
    assert finish_job(at, "import") == "done"
    assert "Imported 5 cases" in at.success[0].value
    with store().read() as cur:
        assert cur.execute("SELECT source FROM datasets WHERE dataset = 'uploaded'"
                           ).fetchone() == ("upload cases.zip",)
    assert list((db.parent / "uploads").iterdir()) == []


def test_a_refused_upload_is_removed_at_once(db, tmp_path):
    at = page_as("admin")
    at.file_uploader(key="upload_file").upload("cases.zip", b"PK", "application/zip").run()
    at.text_input(key="upload_dataset").input("no spaces allowed")
    click(at, "Import the upload")
    assert "invalid dataset name" in at.error[0].value
    assert runner().status() == []
    assert list((db.parent / "uploads").iterdir()) == []


def test_a_cancelled_import_stores_nothing(db, tmp_path):
    source = folder_dataset(tmp_path / "incoming")
    cancel = threading.Event()
    reports = []

    def progress(report):
        reports.append(report)
        cancel.set()  # cancelled after the first image is read

    with pytest.raises(admin_jobs.ImportCancelled):
        admin_jobs.run_import(store(), "folder", source, "mine", progress=progress,
                              cancel=cancel)
    assert reports[0]["message"] == "reading image 1 of about 5"
    with store().read() as cur:
        assert cur.execute("SELECT (SELECT count(*) FROM cases) + (SELECT count(*) FROM"
                           " datasets)").fetchone() == (0,)


def test_cancelling_the_import_job_marks_it_cancelled(db, tmp_path):
    source = folder_dataset(tmp_path / "incoming")
    job = admin_jobs.import_job(store(), "folder", source, "mine")
    gate = threading.Event()

    def slow(progress, cancel):
        def held(report):
            progress(report)
            gate.wait(30)
        return job(held, cancel)

    job_id = runner().start("import", {}, slow)
    runner().cancel(job_id)
    gate.set()
    assert runner().wait(job_id, 60).status == "cancelled"
    assert dataset_overview(store()).empty


def test_server_paths_must_exist_and_stay_under_the_import_root(tmp_path, monkeypatch):
    inside = tmp_path / "imports" / "busi"
    inside.mkdir(parents=True)
    assert admin_jobs.server_path(f" {inside} ") == inside.resolve()
    monkeypatch.setenv(admin_jobs.IMPORT_ROOT_ENV, str(tmp_path / "imports"))
    assert admin_jobs.server_path(str(inside / ".." / "busi")) == inside.resolve()
    with pytest.raises(UserError, match="outside"):
        admin_jobs.server_path(str(tmp_path))
    with pytest.raises(UserError, match="does not exist"):
        admin_jobs.server_path(str(tmp_path / "imports" / "missing"))
    with pytest.raises(UserError, match="type the path"):
        admin_jobs.server_path("  ")


def test_making_the_split_shows_its_counts(db):
    make_cases(store(), n=12)
    at = page_as("admin")
    at.slider(key="split_test_size").set_value(0.25)
    at.number_input(key="split_folds").set_value(0)
    click(at, "Make the split")
    assert not at.error
    assert "Split of quizset (seed 0)" in at.success[0].value
    counts = table(at, "Label").set_index("Label")
    assert counts["Train"].sum() + counts["Test"].sum() == 12
    assert counts["Test"].sum() == 4  # a quarter of each label
    with store().read() as cur:
        assert cur.execute("SELECT count(*) FROM splits WHERE fold IS NOT NULL").fetchone() == (0,)


def fake_training(monkeypatch) -> list[dict]:
    """A ``core.models.train`` whose ``train_models`` only records its call and reports."""
    calls = []

    def train_models(store, dataset, archs, progress=None, cancel=None, **settings):
        calls.append({"dataset": dataset, "archs": list(archs), **settings})
        progress({"fraction": 1.0, "message": "done"})
        return [f"{arch}-{settings['profile']}-{dataset}-s{settings['seed']}" for arch in archs]

    module = types.ModuleType("core.models.train")
    module.train_models = train_models
    monkeypatch.setitem(sys.modules, "core.models.train", module)
    return calls


def test_training_starts_as_a_job_with_the_chosen_settings(db, monkeypatch):
    calls = fake_training(monkeypatch)
    make_cases(store(), n=8)
    at = page_as("admin")
    at.multiselect(key="train_archs").select("densenet121")
    at.selectbox(key="train_init").set_value("scratch")
    at.number_input(key="train_seed").set_value(3)
    at.selectbox(key="train_framing").set_value("full")
    click(at, "Start training")
    assert finish_job(at, "train") == "done"
    assert calls == [{"dataset": "quizset", "archs": ["resnet50", "densenet121"],
                      "profile": "quick", "device": "auto", "seed": 3, "init": "scratch",
                      "framing": "full"}]
    assert ("Trained: resnet50-quick-quizset-s3, densenet121-quick-quizset-s3"
            in messages(at.success))


def test_models_tab_lists_settings_coverage_and_starts_heatmaps(db, monkeypatch):
    import core.heatmaps.compute
    import core.models.loading

    case_ids = make_cases(store(), n=6)
    add_model(store(), "resnet50-quick-quizset-s0", case_ids)
    add_model(store(), "vgg16-quick-quizset-s0", case_ids, heatmaps=False)
    asked = []

    def precompute(store, loaded, split, method, progress=None, cancel=None):
        asked.append((loaded, split, method))
        return {"model_id": loaded, "method": method, "split": split, "computed": 2,
                "already_cached": 0, "seconds": 1.0}

    monkeypatch.setattr(core.models.loading, "load_model", lambda store, model_id, device: model_id)
    monkeypatch.setattr(core.heatmaps.compute, "precompute_heatmaps", precompute)
    with store().transaction() as cur:
        cur.execute("UPDATE models SET seconds = 834.7043, created_at = created_at"
                    " + INTERVAL 1 HOUR WHERE model_id = 'vgg16-quick-quizset-s0'")
    names = model_names(store())
    at = page_as("admin")
    models = table(at, "Cross-validated AUC")
    assert set(models["Model id"]) == {"resnet50-quick-quizset-s0", "vgg16-quick-quizset-s0"}
    assert set(models["Model"]) == set(names.values())
    assert {"Architecture", "Started from", "Profile", "Image size (px)", "Epochs", "Seed",
            "Threshold", "Cross-validated AUC", "Test AUC", "Created (UTC)"} <= set(models.columns)
    vgg = models.set_index("Model id").loc["vgg16-quick-quizset-s0"]
    assert vgg["Training time"] == "13 min 55 s"  # not "seconds 834.7043"
    for frame in at.dataframe:  # every column in words: no model_id, cv_auc, None...
        assert not [c for c in frame.value.columns if "_" in str(c)], list(frame.value.columns)
    coverage = table(at, "Test-split coverage").set_index("Model")
    resnet, vgg = (names[f"{arch}-quick-quizset-s0"] for arch in ("resnet50", "vgg16"))
    assert coverage.loc[resnet, "Test-split coverage"] == 1.0
    assert coverage.loc[vgg, "Test-split coverage"] == 0.0
    assert (coverage.loc[vgg, "CAM method"], coverage.loc[vgg, "Note on the scores"]) == (
        "—", "no heatmap yet")  # never "None"
    assert coverage.loc[resnet, "CAM method"] == "Grad-CAM"
    assert at.selectbox(key="heatmap_model").format_func("vgg16-quick-quizset-s0") == vgg
    at.selectbox(key="heatmap_model").set_value("vgg16-quick-quizset-s0")
    click(at, "Compute the heatmaps")
    assert finish_job(at, "heatmaps") == "done"
    assert asked == [("vgg16-quick-quizset-s0", "test", "gradcam")]
    assert "2 maps computed" in " ".join(messages(at.success))


def test_a_backup_is_written_listed_and_offered_for_download(db):
    make_cases(store(), n=4)
    at = page_as("admin")
    click(at, "Back up now")
    assert finish_job(at, "backup") == "done"
    assert "checked against the store" in " ".join(messages(at.success))
    bundles = list((db.parent / "backups").glob("*.zip"))
    assert len(bundles) == 1
    assert list(table(at, "Written")["Backup"]) == [bundles[0].name]
    with zipfile.ZipFile(bundles[0]) as bundle:
        assert sum(name.startswith("files/cases/") for name in bundle.namelist()) == 8
    assert "python -m core restore" in " ".join(messages(at.markdown))


def test_a_backup_without_recreatable_files_shows_its_size_first(db):
    cases = make_cases(store(), n=4)
    add_model(store(), "resnet50-b", cases)  # with a heatmap per case
    at = page_as("admin")
    choice = at.radio(key="backup_recreatable")
    labels = list(choice.options)
    assert labels[0].startswith("Everything: 13 files") and labels[0].endswith(" MB")
    assert labels[1].startswith("Without checkpoints and heatmaps: 9 files")  # db, images, masks
    choice.set_value(False).run()
    click(at, "Back up now")
    assert finish_job(at, "backup") == "done"
    assert "4 checkpoints and heatmaps left out" in " ".join(messages(at.info))
    [bundle] = (db.parent / "backups").glob("*.zip")
    with zipfile.ZipFile(bundle) as opened:
        assert not any(name.startswith("files/heatmaps/") for name in opened.namelist())
