"""The model-comparison page through Streamlit's AppTest, for each role, on a temporary store
with fake models (rows and predictions, no training): every section renders, trainees see no
other trainee, the gallery keeps unread cases from trainees, presentation mode declutters."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.auth import User
from core.store import Store
from tests.app_pages import page_text
from comparison_support import (TRAINEES, add_trainee_reads, add_user, populate,
                                store_heatmap)

PAGE = Path(__file__).resolve().parent.parent / "pages" / "models.py"
SECTIONS = ("ROC curves", "Study table", "DeLong tests", "Confusion matrices", "Calibration")
OTHER_TRAINEES = [name for _, name in TRAINEES[1:]]


@pytest.fixture
def filled(app_db) -> dict:
    with Store(app_db) as store:
        info = populate(store, n_test=40, n_train=10)
        info["supervisor"] = add_user(store, "sue", "supervisor", "Sue Supervisor")
        info["admin"] = add_user(store, "root", "admin", "Root Admin")
    return info


def page_as(user: User) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.session_state["user"] = user
    return at


def users(info: dict) -> dict[str, User]:
    return {"trainee": User(info["users"]["ana"], "ana", "Ana Trainee", "trainee"),
            "supervisor": User(info["supervisor"], "sue", "Sue Supervisor", "supervisor"),
            "admin": User(info["admin"], "root", "Root Admin", "admin")}


def show_section(at: AppTest, section: str) -> AppTest:
    at.radio(key="models_section").set_value(section)
    return at.run()


def test_logged_out_visitors_are_stopped(app_db):
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception
    assert "log in" in at.error[0].value


@pytest.mark.parametrize("role", ["trainee", "supervisor", "admin"])
def test_without_models_every_architecture_says_not_trained_yet(app_db, role):
    with Store(app_db) as store:
        user_id = add_user(store, f"u{role}", role)
    at = page_as(User(user_id, f"u{role}", f"u{role}", role)).run()
    assert not at.exception
    text = " ".join(caption.value for caption in at.caption)
    assert text.count("not trained yet") == 6
    for name in ("VGG16", "GoogLeNet", "AlexNet", "ResNet50", "ViT-B/16", "DenseNet121"):
        assert f"**{name}**: not trained yet" in text


@pytest.mark.parametrize("role", ["trainee", "supervisor", "admin"])
def test_every_section_renders_for_every_role(filled, role):
    at = page_as(users(filled)[role]).run()
    assert not at.exception
    for section in SECTIONS:
        show_section(at, section)
        assert not at.exception, section
        assert not at.error, section
        if section == "Study table":
            shown = at.dataframe[0].value
            assert "published (2026 study)" in set(shown["Source"])
            assert len(shown) == 7
        elif section != "DeLong tests":
            assert at.get("plotly_chart"), section
        assert {b.proto.label for b in at.download_button} >= {"CSV"}


def test_a_trainee_sees_no_other_trainee(filled):
    at = page_as(users(filled)["trainee"]).run()
    text = page_text(at)
    assert "You, unaided" in text and "Cohort (pooled, 3 trainees), aided" in text
    for name in OTHER_TRAINEES:
        assert name not in text
    assert all(box.key != "models_trainee" for box in at.selectbox)


def test_a_supervisor_can_show_any_trainee(filled):
    at = page_as(users(filled)["supervisor"]).run()
    picker = at.selectbox(key="models_trainee")
    assert [picker.format_func(option) for option in picker.options] == [
        "cohort only", "Ana Trainee", "Ben Trainee", "Cleo Trainee"]
    picker.set_value(filled["users"]["ben"]).run()
    assert not at.exception
    text = page_text(at)
    assert "Ben Trainee, aided" in text and "Ana Trainee, aided" not in text


def test_presentation_mode_hides_secondary_controls_and_keeps_the_selection(filled):
    at = page_as(users(filled)["supervisor"]).run()
    chosen = [filled["models"]["resnet50"], filled["models"]["vgg16"]]
    at.multiselect(key="models_ids").set_value(chosen).run()
    at.toggle(key="models_presentation").set_value(True).run()
    assert not at.exception
    assert not at.download_button
    assert at.expander and at.expander[0].label == "Settings"
    show_section(at, "Study table")
    assert not at.dataframe and "sc-slide" in page_text(at)  # wrapping slides, no cut cells
    assert at.multiselect(key="models_ids").value == chosen
    at.toggle(key="models_presentation").set_value(False).run()
    assert at.multiselect(key="models_ids").value == chosen
    assert at.download_button


def test_gallery_shows_stored_maps_and_keeps_unread_cases_from_trainees(filled, app_db):
    first, second = filled["test_cases"][:2]
    with Store(app_db) as store:
        for model_id in (filled["models"]["resnet50"], filled["models"]["vgg16"]):
            store_heatmap(store, model_id, sorted(filled["test_cases"])[0])
        dan = add_trainee_reads(store, "dan", [first, second])
    staff = show_section(page_as(users(filled)["supervisor"]).run(), "Heatmap gallery")
    assert not staff.exception
    assert staff.selectbox(key="models_case").options == [
        f"case {c}" for c in sorted(filled["test_cases"])]
    gallery = [json.loads(c.proto.spec) for c in staff.get("plotly_chart")
               if c.key == "chart_gallery"]
    assert [trace["type"] for trace in gallery[0]["data"]] == ["image"] * 3  # case + 2 maps
    scale = [h.value for h in staff.html if "sonocase-colour-scale" in h.value]
    assert len(scale) == 1 and "Grad-CAM: how strongly the model attended" in scale[0]
    assert staff.toggle(key="models_zoom").value  # the case has a mask: zoomed at first
    staff.toggle(key="models_zoom").set_value(False).run()
    whole = [json.loads(c.proto.spec) for c in staff.get("plotly_chart")
             if c.key == "chart_gallery"]
    assert whole[0]["data"][0]["source"] != gallery[0]["data"][0]["source"]
    assert any(c.value.startswith("No stored Grad-CAM heatmap") for c in staff.caption)
    assert staff.button(key="models_compute")
    trainee = show_section(page_as(User(dan, "dan", "Dan", "trainee")).run(), "Heatmap gallery")
    assert not trainee.exception
    assert trainee.selectbox(key="models_case").options == [
        f"case {c}" for c in sorted([first, second])]
    assert not [b for b in trainee.button if b.key == "models_compute"]


def test_a_trainee_with_no_finished_case_gets_an_empty_gallery(filled, app_db):
    with Store(app_db) as store:
        newcomer = add_user(store, "eve", "trainee", "Eve")
    at = show_section(page_as(User(newcomer, "eve", "Eve", "trainee")).run(), "Heatmap gallery")
    assert not at.exception
    assert "No case is open to you" in at.info[0].value


class _Payload:
    """Pickled, it would create a folder when loaded."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.mkdir, (self.marker,))


def test_compute_them_now_shows_why_a_refused_checkpoint_gives_no_map(filled, app_db,
                                                                       tmp_path):
    import torch

    from core.models.checkpoints import FORMAT

    marker = tmp_path / "payload-ran"
    model_id = filled["models"]["resnet50"]
    evil = app_db.parent / "models" / model_id / "evil.pt"
    evil.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "arch": "resnet50", "image_size": 32, "state_dict": {},
                "class_names": ["benign", "malignant"], "config": {},
                "extra": _Payload(str(marker))}, evil)
    with Store(app_db) as store, store.transaction() as cur:
        cur.execute("UPDATE models SET checkpoint_path = ?, checkpoint_sha256 = ?"
                    " WHERE model_id = ?", [f"models/{model_id}/evil.pt",
                                            hashlib.sha256(evil.read_bytes()).hexdigest(),
                                            model_id])
    at = show_section(page_as(users(filled)["admin"]).run(), "Heatmap gallery")
    at.button(key="models_compute").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("pickled code" in error.value for error in at.error), [e.value for e in at.error]
    assert not marker.exists()


def test_model_chips_show_readable_names(filled):
    at = page_as(users(filled)["supervisor"]).run()
    picker = at.multiselect(key="models_ids")
    shown = set(picker.options)
    today = f"{datetime.now(timezone.utc):%Y-%m-%d}"
    assert f"ResNet50 (quick, whole image, {today})" in shown
    assert f"VGG16 (quick, whole image, {today})" in shown
    assert not any(model_id in option for option in shown
                   for model_id in filled["models"].values())  # no model ids


def test_a_model_that_finishes_training_joins_the_open_selection(filled):
    at = page_as(users(filled)["supervisor"]).run()
    old = filled["models"]["resnet50"]
    assert old in at.multiselect(key="models_ids").value
    from pages import ui

    with ui.get_store().transaction() as cur:  # a retrained ResNet50 lands, the page open
        cur.execute("INSERT INTO models (model_id, arch, dataset, init, profile, image_size,"
                    " threshold, config, created_at) SELECT 'resnet50-new', arch, dataset, init,"
                    " profile, image_size, threshold, config, created_at + INTERVAL 1 HOUR"
                    " FROM models WHERE model_id = ?", [old])
        cur.execute("INSERT INTO predictions SELECT 'resnet50-new', case_id, prob_malignant,"
                    " source, fold FROM predictions WHERE model_id = ?", [old])
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    picker = at.multiselect(key="models_ids")
    assert "resnet50-new" in picker.value and old not in picker.value
    assert filled["models"]["vgg16"] in picker.value  # the rest of the selection stays
    new_name = picker.format_func("resnet50-new")
    assert new_name.startswith("ResNet50 (quick, whole image, ") and "resnet50-new" not in new_name
