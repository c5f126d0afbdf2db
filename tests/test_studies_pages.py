"""The reader-study pages through Streamlit's AppTest: roles, a supervisor setting up a study,
trainees reading both phases with no truth shown, the washout notice, and the report."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.plain_text import plain
from core.store import Store
from core.studies import protocol
from core.studies.definitions import POOLED
from core.studies.report import PAIRED_METHOD, study_report
from core.studies.tables import fmt_ci, fmt_p
from tests.app_pages import APP, ROOT, app_as, click, page_text
from tests.quiz_helpers import HISTOLOGY, add_model, make_cases, make_user

TRUTH_WORDS = ("benign", "malignant", *HISTOLOGY.values(), "Reference BI-RADS", "outline")


@pytest.fixture
def lab(app_db):
    """A store with 30 cases (10 in the test split: 5 malignant, 5 benign, the fewest a study
    takes), a model with cached heatmaps, two trainees and a supervisor, served to the app."""
    with Store(app_db) as store:
        cases = make_cases(store, n=30)
        add_model(store, "resnet50-study", cases)
        users = {name: make_user(store, name, role, display_name=name.capitalize())
                 for name, role in (("anna", "trainee"), ("ben", "trainee"),
                                    ("sue", "supervisor"))}
    return app_db, users


def set_up(path: Path, users, washout: float) -> int:
    with Store(path) as store:
        return protocol.create_study(store, users["sue"], "Pilot",
                                    protocol.study_case_set(store, "quizset"),
                                    [users["anna"].user_id, users["ben"].user_id], washout)


def table_with(at: AppTest, column: str):
    """The first table or dataframe on the page with ``column``."""
    return next(frame.value for frame in [*at.table, *at.dataframe]
                if column in frame.value.columns)


def stored_reads(path: Path, user_id: int) -> list[tuple]:
    with Store(path) as store, store.read() as cur:
        return cur.execute("SELECT case_id, mode, birads, probability, ai_prob FROM reads"
                           " WHERE user_id = ? ORDER BY read_id", [user_id]).fetchall()


def test_a_trainee_cannot_open_the_studies_page(lab):
    path, users = lab
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["user"] = users["anna"]
    at.run()
    with pytest.raises(ValueError, match="navigation page"):
        at.switch_page("pages/studies.py")
    direct = AppTest.from_file(str(ROOT / "pages" / "studies.py"), default_timeout=60)
    direct.session_state["user"] = users["anna"]
    direct.run()
    assert "supervisor or admin accounts" in direct.error[0].value
    assert not direct.dataframe and not direct.button


def test_a_supervisor_cannot_open_the_reading_page(lab):
    path, users = lab
    direct = AppTest.from_file(str(ROOT / "pages" / "reading.py"), default_timeout=60)
    direct.session_state["user"] = users["sue"]
    direct.run()
    assert "trainee accounts" in direct.error[0].value


def test_a_supervisor_sets_up_a_study(lab):
    path, users = lab
    at = app_as(users["sue"], "pages/studies.py")
    assert "No reader study yet" in at.info[0].value
    at.radio(key="studies_view").set_value("Set up a study").run()
    at.text_input(key="study_name").input("Pilot")
    at.number_input(key="study_washout").set_value(0.0)
    model_name = at.selectbox(key="study_model").format_func("resnet50-study")
    assert model_name.startswith("ResNet50 (quick, ") and "resnet50-study" not in model_name
    click(at, "Set up the study")
    assert "choose at least one reader" in at.error[0].value
    at.multiselect(key="study_readers").set_value([users["anna"].user_id,
                                                  users["ben"].user_id])
    click(at, "Set up the study")
    assert not at.error
    with Store(path) as store:
        [study] = protocol.list_studies(store, users["sue"])
        test_split = protocol.study_case_set(store, "quizset")
    assert (study.name, study.washout_days, study.model_id) == ("Pilot", 0.0, "resnet50-study")
    assert sorted(study.case_ids) == test_split
    assert study.reader_ids == (users["anna"].user_id, users["ben"].user_id)
    assert at.radio(key="studies_view").value == "Studies"
    progress = table_with(at, "Unaided reads")
    assert list(progress["Reader"]) == ["Anna", "Ben"] and set(progress["Phase"]) == {"unaided"}
    assert not [column for column in progress.columns if "_" in column]
    assert any(plain(model_name) in caption.value for caption in at.caption)  # not its id


def read_case(at: AppTest, birads: str, probability: int) -> AppTest:
    at.radio[0].set_value(birads)
    at.slider[0].set_value(probability)
    return click(at, "Store my read")


def test_trainees_read_both_phases_without_seeing_the_truth(lab):
    path, users = lab
    anna = users["anna"]
    study_id = set_up(path, users, washout=0)
    at = app_as(anna, "pages/reading.py")
    assert [t.value for t in at.title] == ["Study reading"]
    click(at, "Start reading")
    answers = [(("3", "4A", "2", "5")[index % 4], 10 + 8 * index) for index in range(10)]
    for index, (birads, probability) in enumerate(answers):
        assert len(at.image) == 1 and "AI probability" not in page_text(at)
        assert not any("how strongly the model attended" in h.value for h in at.html)
        assert f"Case {index + 1} of 10" in page_text(at)
        for word in TRUTH_WORDS:
            assert word not in page_text(at), word
        read_case(at, birads, probability)
    reads = stored_reads(path, anna.user_id)
    assert [(r[1], r[2], r[3], r[4]) for r in reads] == [
        ("unaided", b, float(p), None) for b, p in answers]
    click(at, "Start the aided reading")
    for _ in range(10):
        assert "AI probability of malignancy" in [m.label for m in at.metric]
        assert at.image[0].captions == ["Grad-CAM heatmap"]
        assert any("how strongly the model attended" in h.value for h in at.html)
        # The study's stimulus stays the paper's heatmap: no line around its hottest part.
        assert "Outline the hottest 20%" not in [t.label for t in at.toggle]
        text = page_text(at)
        for word in ("Reference BI-RADS", "outline", *HISTOLOGY.values(), "Your first read"):
            assert word not in text, word
        read_case(at, "4B", 60)
    aided = stored_reads(path, anna.user_id)[10:]
    assert [r[1] for r in aided] == ["aided"] * 10 and all(r[4] is not None for r in aided)
    with Store(path) as store:
        assert protocol.reader_phase(store, study_id, anna.user_id).phase == "done"
    assert "Your results" in [h.value for h in at.subheader]
    results = table_with(at, "Phase")
    assert list(results["Phase"]) == ["Unaided", "With the AI"]


def test_the_washout_notice_shows_between_the_phases(lab):
    path, users = lab
    study_id = set_up(path, users, washout=14)
    at = app_as(users["ben"], "pages/reading.py")
    click(at, "Start reading")
    for index in range(10):
        read_case(at, ("2", "3", "4C", "5")[index % 4], 40)
    with Store(path) as store:
        until = protocol.reader_phase(store, study_id, users["ben"].user_id).washout_until
    assert f"Washout until {until:%Y-%m-%d %H:%M} UTC" in at.info[0].value
    assert "Start the aided reading" not in [b.label for b in at.button]
    assert not at.image
    quiz = app_as(users["ben"])  # the practice set of the study's cases says it is locked
    assert (f"The test split: locked by the reader study 'Pilot' during its washout (until "
            f"{until:%Y-%m-%d %H:%M} UTC) and then until you have read its cases with the AI"
            ) in quiz.selectbox(key="quiz_set").options


def test_the_report_on_the_page_shows_the_statistics_of_the_reads(lab):
    path, users = lab
    study_id = set_up(path, users, washout=0)
    with Store(path) as store:
        for user, answers in ((users["anna"], ("2", "4A", "3", "5", "3", "4B", "2", "4C")),
                              (users["ben"], ("3", "3", "4A", "4C", "2", "5", "3", "4A"))):
            for phase in range(2):
                session_id = protocol.start_or_resume(store, study_id, user.user_id)
                for index in range(10):
                    answer = answers[(4 * phase + index) % len(answers)]
                    view = protocol.next_study_case(store, session_id, user.user_id)
                    protocol.submit_study_read(store, session_id, user.user_id, view.case_id, answer, 50)
        report = study_report(store, study_id, users["sue"])
    at = app_as(users["sue"], "pages/studies.py")
    summary = table_with(at, "Probability AUC (95% CI)")
    for result in report.results:
        for phase in ("unaided", "aided"):
            auc = getattr(result, phase)["birads_auc"]
            row = summary[(summary["Reader"] == result.reader) & (summary["Phase"] == phase)]
            assert list(row["BI-RADS AUC (95% CI)"]) == [fmt_ci(auc["auc"], *auc["ci"])]
    tests = table_with(at, "p (AUC test)")
    pooled = tests[tests["Reader"] == POOLED].iloc[0]  # the multi-reader test, no McNemar p
    assert pooled["p (AUC test)"] == fmt_p(report.mrmc["p"])
    assert pooled["AUC test"].startswith("Obuchowski-Rockette")
    assert pooled["McNemar p (exact)"] == "—"
    assert set(tests["AUC test"]) == {PAIRED_METHOD, pooled["AUC test"]}
    assert "logit DeLong 95% CIs" in page_text(at)
    assert "Multi-reader analysis" in page_text(at)
    assert "difference (aided - unaided)" in list(table_with(at, "Test")["Quantity"])
    published = table_with(at, "Source")
    assert list(published["Single-point (sens+spec)/2"][:2]) == ["0.597", "0.904"]
    text = page_text(at)
    assert "study_roc" in text and "Printable report (HTML)" in text and "reads.csv" in text


def test_both_phases_offer_the_same_zoom_to_the_marked_region(lab, monkeypatch):
    from core.heatmaps.stored import marked_region
    from pages import case_widgets

    path, users = lab
    set_up(path, users, washout=0)
    zoomed = []
    original = case_widgets.around

    def record(image, box):
        zoomed.append(box)
        return original(image, box)

    monkeypatch.setattr(case_widgets, "around", record)
    at = app_as(users["anna"], "pages/reading.py")
    click(at, "Start reading")
    for phase in ("unaided", "aided"):
        if phase == "aided":
            click(at, "Start the aided reading")
        with Store(path) as store, store.read() as cur:
            case_id = cur.execute(
                "SELECT s.case_ids FROM quiz_sessions s WHERE s.kind = ? AND s.user_id = ?",
                [f"study_{phase}", users["anna"].user_id]).fetchone()[0]
        zooms = [t for t in at.toggle if t.label == "Zoom to the nodule"]
        assert len(zooms) == 1 and zooms[0].value is False
        zooms[0].set_value(True).run()
        first = json.loads(case_id)[0] if isinstance(case_id, str) else case_id[0]
        with Store(path) as store:
            assert zoomed[-1] == marked_region(store, first) is not None
        for _ in range(10):
            read_case(at, "3", 20)
