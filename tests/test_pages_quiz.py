"""The quiz, progress and cohort pages through Streamlit's AppTest: nothing of the truth or the
heatmap before the answer is stored, the steps in order, reloads, roles."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.elements.image import ImageMixin
from streamlit.testing.v1 import AppTest

from core import shown_model
from core.heatmaps.colour_overlay import overlay
from core.heatmaps.contours import HOTTEST_COLOUR, draw_outlines, hottest_area
from core.heatmaps.stored import cached_heatmap, read_region
from core.images import OUTLINE_COLOUR, load_grey, mask_edge, zoom
from core.models.framing import describe_region, lesion_box, region_record, zoom_box
from core.plain_text import plain
from core.quiz import flow
from core.store import Store
from pages.case_widgets import ZOOMED_SIDE_PX
from tests.app_pages import ROOT, app_as, click, page_text
from tests.quiz_helpers import HISTOLOGY, add_model, add_practice_reads, labels_of, make_cases, \
    make_user

TRUTH_WORDS = ("benign", "malignant", *HISTOLOGY.values(), "Reference BI-RADS", "outline",
               "The nodule is")


@pytest.fixture
def shown_images(monkeypatch) -> list[np.ndarray]:
    """Every image the pages hand to ``image()`` (in columns), decoded, in order."""
    shown: list[np.ndarray] = []
    original = ImageMixin.image

    def record(self, image, *args, **kwargs):
        shown.append(np.asarray(Image.open(io.BytesIO(image))))
        return original(self, image, *args, **kwargs)

    monkeypatch.setattr(ImageMixin, "image", record)
    return shown


@pytest.fixture
def library(app_db):
    """A store with 6 cases, a model with cached heatmaps, two trainees and a supervisor."""
    with Store(app_db) as store:
        cases = make_cases(store, n=6)
        add_model(store, "resnet50-quiz", cases)
        users = {name: make_user(store, name, role, display_name=name.capitalize())
                 for name, role in (("anna", "trainee"), ("ben", "trainee"),
                                    ("sue", "supervisor"))}
    return app_db, users


def start(at: AppTest, length: int = 2) -> AppTest:
    at.number_input(key="quiz_length").set_value(length)
    return click(at, "Start")


def reads(path: Path, user_id: int) -> list[tuple]:
    with Store(path) as store, store.read() as cur:
        return cur.execute("SELECT case_id, mode, birads, probability, seconds FROM reads"
                           " WHERE user_id = ? ORDER BY read_id", [user_id]).fetchall()


def current_view(path: Path, user) -> flow.QuizView:
    with Store(path) as store:
        return flow.state(store, flow.unfinished_session(store, user.user_id), user.user_id)


def case_image(path: Path, case_id: int) -> np.ndarray:
    with Store(path) as store, store.read() as cur:
        relative = cur.execute("SELECT image_path FROM cases WHERE case_id = ?",
                               [case_id]).fetchone()[0]
        return load_grey(store, relative)


def assert_no_truth(at: AppTest) -> None:
    text = page_text(at)
    for word in TRUTH_WORDS:
        assert word not in text, word


def test_the_quiz_shows_the_truth_and_heatmap_only_after_the_answer(library, shown_images):
    path, users = library
    anna = users["anna"]
    at = app_as(anna)
    assert [t.value for t in at.title] == ["Quiz"]
    start(at)
    view = current_view(path, anna)
    assert isinstance(view, flow.PresentView)
    grey = case_image(path, view.case_id)
    assert len(shown_images) == 1 and np.array_equal(shown_images[0], grey)
    assert len(at.image) == 1 and at.image[0].captions == [""]
    assert_no_truth(at)
    assert reads(path, anna.user_id) == []

    at.radio[0].set_value("3")
    at.slider[0].set_value(35)
    click(at, "Submit my read")
    stored = reads(path, anna.user_id)
    assert [(r[0], r[1], r[2], r[3]) for r in stored] == [(view.case_id, "unaided", "3", 35.0)]
    assert stored[0][4] >= 0
    assert "AI probability of malignancy" in [m.label for m in at.metric]
    assert len(at.image) == 1 and at.image[0].captions == ["Grad-CAM heatmap"]
    assert not np.array_equal(shown_images[-1][..., 0], grey)  # the overlay, in colour
    text = page_text(at)
    for word in (*HISTOLOGY.values(), "Reference BI-RADS", "outline", "The nodule is"):
        assert word not in text

    at.radio[0].set_value("4B")
    click(at, "Store my read and show the truth")
    with Store(path) as store:
        label = labels_of(store)[view.case_id]
    assert [(r[1], r[2]) for r in reads(path, anna.user_id)] == [("unaided", "3"),
                                                                  ("aided", "4B")]
    text = page_text(at)
    assert HISTOLOGY[label] in text and "outline" in text
    assert [m.value for m in at.markdown if m.value.startswith("###")] == \
        [f"### :{'red' if label == 'malignant' else 'green'}[{label.capitalize()}]"]
    assert shown_images[-1].shape == grey.shape + (3,)

    click(at, "Next case")
    assert isinstance(current_view(path, anna), flow.PresentView)
    assert_no_truth(at)


def test_a_lesion_framed_models_map_colours_its_square_and_zooms_to_it(library, shown_images):
    path, users = library
    with Store(path) as store, store.transaction() as cur:
        cur.execute("UPDATE models SET framing = 'lesion', config = ?",
                    [json.dumps({"region": region_record("lesion")})])
    anna = users["anna"]
    at = start(app_as(anna))
    view = current_view(path, anna)
    at.radio[0].set_value("3")
    click(at, "Submit my read")
    assert any(f"It {describe_region('lesion')}." in caption.value for caption in at.caption)
    with Store(path) as store:
        cam = cached_heatmap(store, "resnet50-quiz", view.case_id)
        region = read_region(store, "resnet50-quiz", view.case_id)
    grey = case_image(path, view.case_id)
    inside = np.zeros(grey.shape, bool)
    inside[max(region.top, 0):region.top + region.height,
           max(region.left, 0):region.left + region.width] = True
    assert 0 < inside.sum() < inside.size
    hottest = hottest_area(cam, region).mask
    expected = draw_outlines(overlay(grey, cam, 0.45, region), hottest=hottest)
    assert np.abs(shown_images[-1].astype(int) - expected).mean() < 4  # sent as JPEG
    outside = shown_images[-1][~inside].astype(int)
    to_grey = np.abs(outside - grey[~inside, None]).mean()
    to_colour = np.abs(outside - overlay(grey, cam, 0.45)[~inside]).mean()
    assert to_grey < 4 and to_grey < to_colour / 3  # grey beyond the square, not blended

    switch = at.toggle(key=f"quiz_ai_{view.session_id}_{view.case_id}_zoom")
    assert switch.value is False  # the whole image first
    switch.set_value(True).run()
    square = zoom_box(region, grey.shape)
    near = draw_outlines(zoom(overlay(grey, cam, 0.45, region), square, ZOOMED_SIDE_PX),
                         hottest=zoom(hottest, square, ZOOMED_SIDE_PX))
    assert shown_images[-1].shape == near.shape and near.shape[0] == ZOOMED_SIDE_PX
    assert np.abs(shown_images[-1].astype(int) - near).mean() < 4

    click(at, "Store my read and show the truth")
    with Store(path) as store, store.read() as cur:
        mask_path = cur.execute("SELECT mask_path FROM cases WHERE case_id = ?",
                                [view.case_id]).fetchone()[0]
        mask = load_grey(store, mask_path) > 127
    at.toggle(key=f"quiz_truth_{view.session_id}_{view.case_id}_zoom").set_value(True).run()
    box = zoom_box(lesion_box(mask), grey.shape)
    outlined = draw_outlines(zoom(grey, box, ZOOMED_SIDE_PX), lesion=zoom(mask, box, ZOOMED_SIDE_PX),
                             hottest=zoom(hottest, box, ZOOMED_SIDE_PX))
    assert shown_images[-1].shape == outlined.shape == (ZOOMED_SIDE_PX, ZOOMED_SIDE_PX, 3)
    assert np.abs(shown_images[-1].astype(int) - outlined).mean() < 4


def test_a_whole_image_model_offers_no_zoom(library):
    path, users = library
    at = start(app_as(users["anna"]))
    at.radio[0].set_value("3")
    click(at, "Submit my read")
    assert "Show the heatmap" in [t.label for t in at.toggle]
    assert "Zoom to the nodule" not in [t.label for t in at.toggle]


def case_maps(path: Path, case_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The case's grey image, its stored Grad-CAM map and its lesion mask."""
    with Store(path) as store, store.read() as cur:
        mask_path = cur.execute("SELECT mask_path FROM cases WHERE case_id = ?",
                                [case_id]).fetchone()[0]
        return (case_image(path, case_id), cached_heatmap(store, "resnet50-quiz", case_id),
                load_grey(store, mask_path) > 127)


def near(shown: np.ndarray, expected: np.ndarray) -> bool:
    """Whether a drawn image came back as expected (sent as JPEG: a few levels off)."""
    return shown.shape == expected.shape and np.abs(shown.astype(int) - expected).mean() < 4


def line_pixels(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Pixels within JPEG's error of ``colour``."""
    return (np.abs(image.astype(int) - colour) < 60).all(axis=2)


def html_of(at: AppTest) -> str:
    """The page's colour scales and legends (not the login's cookie script)."""
    return "\n".join(element.value for element in at.html
                     if 'data-testid="sonocase-' in element.value)


def mask_edge_of(area: np.ndarray) -> np.ndarray:
    """The line ``core.images.outline`` draws around ``area``."""
    return mask_edge(area, max(1, round(min(area.shape) / 250)))


def at_ai_step(library) -> tuple[AppTest, flow.AIView]:
    """Anna's first case, answered: the page at its AI step, and the step's view."""
    path, users = library
    at = start(app_as(users["anna"]))
    at.radio[0].set_value("3")
    click(at, "Submit my read")
    return at, current_view(path, users["anna"])


def test_the_ai_step_outlines_the_hottest_20_percent_until_switched_off(library, shown_images):
    at, view = at_ai_step(library)
    grey, cam, _ = case_maps(library[0], view.case_id)
    coloured = overlay(grey, cam, 0.45)
    hottest = hottest_area(cam).mask
    switch = at.toggle(key=f"quiz_ai_{view.session_id}_{view.case_id}_hottest")
    assert switch.label == "Outline the hottest 20%" and switch.value is True
    assert near(shown_images[-1], draw_outlines(coloured, hottest=hottest))
    assert line_pixels(shown_images[-1], HOTTEST_COLOUR)[mask_edge_of(hottest)].mean() > 0.8
    assert "low" in html_of(at) and "how strongly the model attended" in html_of(at)

    switch.set_value(False).run()
    assert near(shown_images[-1], coloured)
    assert not line_pixels(shown_images[-1], HOTTEST_COLOUR).any()
    assert "how strongly the model attended" in html_of(at)  # the colour scale stays
    at.toggle(key=f"quiz_ai_{view.session_id}_{view.case_id}_overlay").set_value(False).run()
    assert at.toggle(key=f"quiz_ai_{view.session_id}_{view.case_id}_hottest").disabled
    assert np.array_equal(shown_images[-1], grey) and html_of(at) == ""


def test_the_truth_step_draws_the_lesion_and_the_ais_hottest_20_percent_with_a_legend(
        library, shown_images):
    at, view = at_ai_step(library)
    click(at, "Store my read and show the truth")
    grey, cam, mask = case_maps(library[0], view.case_id)
    hottest = hottest_area(cam).mask
    assert near(shown_images[-1], draw_outlines(grey, lesion=mask, hottest=hottest))
    assert line_pixels(shown_images[-1], OUTLINE_COLOUR)[mask_edge_of(mask) & ~mask_edge_of(
        hottest)].mean() > 0.8
    assert line_pixels(shown_images[-1], HOTTEST_COLOUR)[mask_edge_of(hottest)].mean() > 0.8
    legend = html_of(at)
    assert ">lesion<" in legend and "AI&#x27;s hottest 20%" in legend
    assert "how strongly the model attended" not in legend  # no colours, no colour scale

    at.toggle(key=f"quiz_truth_{view.session_id}_{view.case_id}_overlay").set_value(True).run()
    assert near(shown_images[-1], draw_outlines(overlay(grey, cam, 0.45), lesion=mask,
                                                hottest=hottest))
    assert "how strongly the model attended" in html_of(at) and ">lesion<" in html_of(at)


def test_no_line_of_heat_or_lesion_is_drawn_before_the_answer_is_stored(library, monkeypatch):
    path, users = library
    anna = users["anna"]
    outlined, areas = [], []
    import core.heatmaps.contours as contours
    import core.images as images

    original_edge, original_area = images.mask_edge, contours.hottest_area
    monkeypatch.setattr(images, "mask_edge", lambda mask, thickness=1: (
        outlined.append(np.array(mask)), original_edge(mask, thickness))[1])
    monkeypatch.setattr(contours, "hottest_area", lambda *args, **kwargs: (
        areas.append(args), original_area(*args, **kwargs))[1])
    at = start(app_as(anna))
    assert outlined == [] and areas == [] and html_of(at) == ""
    view = current_view(path, anna)
    _, cam, mask = case_maps(path, view.case_id)

    at.radio[0].set_value("3")
    click(at, "Submit my read")
    assert areas and outlined  # the AI's line, after the unaided read is stored
    assert not any(np.array_equal(drawn, mask) for drawn in outlined)
    assert all(np.array_equal(drawn, hottest_area(cam).mask) for drawn in outlined)
    assert "lesion" not in html_of(at)

    click(at, "Store my read and show the truth")
    assert any(np.array_equal(drawn, mask) for drawn in outlined)  # the truth step's outline


def test_an_answer_without_birads_is_refused_on_the_page(library):
    path, users = library
    at = start(app_as(users["anna"]))
    click(at, "Submit my read")
    assert "choose a BI-RADS category" in [e.value for e in at.error]
    assert reads(path, users["anna"].user_id) == []
    assert_no_truth(at)


def test_a_reload_resumes_at_the_stored_step(library, shown_images):
    path, users = library
    anna = users["anna"]
    at = start(app_as(anna))
    fresh = app_as(anna)  # a reload or a second tab: a new browser session
    assert "Submit my read" in [b.label for b in fresh.button]
    assert_no_truth(fresh)
    at.radio[0].set_value("5")
    click(at, "Submit my read")
    fresh = app_as(anna)
    assert "AI probability of malignancy" in [m.label for m in fresh.metric]
    assert "Submit my read" not in [b.label for b in fresh.button]
    # The stale first tab cannot store a second unaided read.
    assert len(reads(path, anna.user_id)) == 1


def test_without_a_model_the_truth_follows_the_answer(app_db):
    path = app_db
    with Store(path) as store:
        make_cases(store, n=4)
        anna = make_user(store, "anna")
    at = start(app_as(anna), length=1)
    at.radio[0].set_value("2")
    click(at, "Submit my read")
    assert any("no model is trained yet" in i.value for i in at.info)
    assert [r[1] for r in reads(path, anna.user_id)] == ["unaided"]
    click(at, "See the summary")
    assert "Session summary" in [t.value for t in at.title]
    assert any("The AI was not shown for 1 case" in i.value for i in at.info)


def test_the_start_form_says_how_many_cases_have_an_honest_ai_output(app_db):
    with Store(app_db) as store:
        cases = make_cases(store, n=6)
        add_model(store, "resnet50-quiz", cases[:4], heatmaps=False)
        with store.transaction() as cur:  # the model trained on two of the four
            cur.execute("UPDATE predictions SET source = 'in_sample' WHERE case_id IN"
                        " (SELECT unnest(?))", [cases[:2]])
        anna = make_user(store, "anna")
    at = app_as(anna)
    assert any("honestly show for 2 of the 6 cases" in i.value for i in at.info)
    assert "All cases (2 cases)" in at.selectbox(key="quiz_set").options


def test_the_summary_follows_the_last_case(library):
    path, users = library
    at = start(app_as(users["ben"]), length=1)
    at.radio[0].set_value("4C")
    click(at, "Submit my read")
    click(at, "Store my read and show the truth")
    click(at, "See the summary")
    assert "Session summary" in [t.value for t in at.title]
    metrics = {m.label: m.value for m in at.metric}
    assert set(metrics) >= {"Correct calls", "Sensitivity", "Specificity", "BI-RADS AUC",
                            "Median time"}
    assert metrics["BI-RADS AUC"] in ("too few cases (1 + 0)", "too few cases (0 + 1)")
    assert re.fullmatch(r"\d+% \(\d+%–\d+%\)", metrics["Correct calls"])  # with its CI
    click(at, "Start a new session")
    assert "Start" in [b.label for b in at.button]


def test_ending_a_session_early(library):
    path, users = library
    at = start(app_as(users["ben"]), length=3)
    at.radio[0].set_value("4C")
    click(at, "Submit my read")
    click(at, "Store my read and show the truth")
    click(at, "End the session now")
    assert "Session summary" in [t.value for t in at.title]


def test_a_trainee_sees_their_progress_but_nobody_elses(library):
    path, users = library
    anna, ben = users["anna"], users["ben"]
    with Store(path) as store:
        cases = list(labels_of(store))
        add_practice_reads(store, anna.user_id, cases, ["4C", "2"] * 3, aided=["4A"] * 6)
        add_practice_reads(store, ben.user_id, cases, ["3"] * 6)
    at = app_as(anna, "pages/progress.py")
    assert [t.value for t in at.title] == ["Progress"]
    assert not at.error and len(at.get("plotly_chart")) == 5
    assert "Ben" not in page_text(at)
    at = app_as(anna, "pages/progress.py", {"user": str(ben.user_id)})
    assert "a trainee can see only their own progress" in [e.value for e in at.error]
    assert not at.get("plotly_chart") and "Ben" not in page_text(at)


def test_a_supervisor_opens_any_trainees_progress(library):
    path, users = library
    with Store(path) as store:
        cases = list(labels_of(store))
        add_practice_reads(store, users["ben"].user_id, cases, ["3"] * 6)
    at = app_as(users["sue"], "pages/progress.py", {"user": str(users["ben"].user_id)})
    assert at.selectbox(key="progress_trainee").value == users["ben"].user_id
    assert len(at.get("plotly_chart")) == 5
    at.selectbox(key="progress_trainee").set_value(users["anna"].user_id).run()
    assert any("No cases read yet" in i.value for i in at.info)


def test_the_cohort_page_refuses_a_trainee(library):
    _, users = library
    at = AppTest.from_file(str(ROOT / "pages" / "cohort.py"), default_timeout=60)
    at.session_state["user"] = users["anna"]
    at.run()
    assert at.error and "supervisor" in at.error[0].value
    assert not at.get("arrow_data_frame") and "Anna" not in page_text(at)


def test_the_cohort_page_for_a_supervisor(library):
    path, users = library
    with Store(path) as store:
        cases = list(labels_of(store))
        add_practice_reads(store, users["ben"].user_id, cases, ["3"] * 6)
        add_model(store, "vgg16-quiz", cases, cv_auc=0.7, heatmaps=False)
    at = app_as(users["sue"], "pages/cohort.py")
    assert [t.value for t in at.title] == ["Cohort"]
    table = at.dataframe[0].value
    assert list(table["Trainee"]) == ["Anna", "Ben"]
    assert list(table["Practice"]) == [0, 6] and list(table["Study"]) == [0, 0]
    assert not [column for column in table.columns if "_" in column]
    assert at.get("download_button")
    model_box = next(s for s in at.selectbox if s.label == "Model")
    assert model_box.format_func("vgg16-quiz").startswith("ResNet50 (quick, whole image, ")
    model_box.set_value("vgg16-quiz")
    click(at, "Use this model in the quiz")
    with Store(path) as store:
        assert shown_model.saved_quiz_model(store) == "vgg16-quiz"


def no_cached_heatmaps(path: Path) -> None:
    with Store(path) as store, store.transaction() as cur:
        cur.execute("DELETE FROM heatmaps")


def test_without_a_cached_heatmap_it_is_computed_on_the_cached_model(library, monkeypatch):
    path, users = library
    no_cached_heatmaps(path)
    computed = []

    def compute(store, loaded, case_id, method, image, mask):
        computed.append((loaded, case_id, method))
        return np.full(image.shape, 0.5, dtype=np.float32)

    monkeypatch.setattr("core.heatmaps.compute.compute_heatmap", compute)
    monkeypatch.setattr("pages.ui.cached_model", lambda model_id, sha: f"loaded {model_id}")
    at = start(app_as(users["anna"]), length=1)
    at.radio[0].set_value("3")
    click(at, "Submit my read")
    view = current_view(path, users["anna"])
    assert computed == [("loaded resnet50-quiz", view.case_id, "gradcam")]
    assert at.image[0].captions == ["Grad-CAM heatmap"]


def test_a_heatmap_that_cannot_be_made_leaves_the_ai_probability(library):
    path, users = library
    no_cached_heatmaps(path)  # and the fake model has no checkpoint to compute one with
    at = start(app_as(users["anna"]), length=1)
    at.radio[0].set_value("3")
    click(at, "Submit my read")
    assert "AI probability of malignancy" in [m.label for m in at.metric]
    assert any("heatmap cannot be shown" in w.value for w in at.warning)
    assert at.image[0].captions == [""]
    click(at, "Store my read and show the truth")
    assert [r[1] for r in reads(path, users["anna"].user_id)] == ["unaided", "aided"]


def test_the_chosen_practice_set_and_length_make_the_session(library):
    path, users = library
    at = app_as(users["anna"])
    at.selectbox(key="quiz_set").set_value("balanced:birads")
    start(at, length=2)
    with Store(path) as store:
        session = flow.unfinished_session(store, users["anna"].user_id)
        labels = labels_of(store)
        with store.read() as cur:
            chosen = json.loads(cur.execute("SELECT case_ids FROM quiz_sessions"
                                            " WHERE session_id = ?", [session]).fetchone()[0])
    assert len(chosen) == 2 and {labels[c] for c in chosen} == {"benign", "malignant"}
    assert [s.value for s in at.subheader] == ["Case 1 of 2"]


def drop_widget(at: AppTest, key: str) -> None:
    """What an interrupted rerun under load can leave: the widget neither in the browser's
    next message nor in the session state (Streamlit dropped it as not drawn)."""
    def prune(node) -> None:
        children = getattr(node, "children", {})
        for index, child in list(children.items()):
            if getattr(child, "key", None) == key:
                del children[index]
            else:
                prune(child)

    prune(at._tree)
    del at.session_state[key]


@pytest.mark.parametrize("lost", ["shape", "birads"])
def test_a_submit_whose_widget_state_was_dropped_draws_the_step_again(library, lost):
    path, users = library
    at = start(app_as(users["anna"]))
    view = current_view(path, users["anna"])
    at.radio(key=f"quiz_present_{view.session_id}_{view.case_id}_birads").set_value("4A")
    drop_widget(at, f"quiz_present_{view.session_id}_{view.case_id}_{lost}")
    next(button for button in at.button if button.label == "Submit my read").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    if lost == "birads":  # refused with its reason, the case drawn again from the store
        assert "choose a BI-RADS category" in [e.value for e in at.error]
        assert reads(path, users["anna"].user_id) == []
        assert [b.label for b in at.button if b.label == "Submit my read"]
    else:  # an optional descriptor lost: the read is stored without it
        assert [(mode, birads) for _, mode, birads, _, _ in reads(
            path, users["anna"].user_id)] == [("unaided", "4A")]
        assert [b.label for b in at.button if b.label.startswith("Store my read")]


def test_the_ai_step_and_the_truth_show_figures_that_agree_with_the_call(library):
    """A cut-off of 80.1% beside a probability of 80%: whole percents would read "80% (its
    cut-off is 80%)" beside a benign call."""
    path, users = library
    with Store(path) as store, store.transaction() as cur:
        cur.execute("UPDATE models SET threshold = 0.801")
    anna = users["anna"]
    at = start(app_as(anna), length=6)
    while True:  # to a case the model gives 0.8 (benign at 0.801)
        view = current_view(path, anna)
        at.radio[0].set_value("3")
        click(at, "Submit my read")
        if at.metric[0].value != "20%":
            break
        click(at, "Store my read and show the truth")
        click(at, "Next case")
    assert at.metric[0].value == "80.0%"
    assert any("at its cut-off of 80.1% it calls this nodule benign" in c.value
               for c in at.caption)
    click(at, "Store my read and show the truth")
    assert view.case_id == current_view(path, anna).case_id
    assert any(plain("The AI gave 80.0% (its cut-off is 80.1%) and called it benign") in m.value
               for m in at.markdown)


def test_the_bi_rads_refusal_goes_once_a_category_is_picked(library):
    """In a browser a widget inside a form sends nothing until the submit: BI-RADS sits outside
    the form, so picking it reruns the page and the refusal of the last submit goes."""
    path, users = library
    anna = users["anna"]
    at = start(app_as(anna))
    click(at, "Submit my read")
    assert [e.value for e in at.error] == [plain("choose a BI-RADS category")]
    view = current_view(path, anna)
    birads = at.radio(key=f"quiz_present_{view.session_id}_{view.case_id}_birads")
    assert birads.form_id == "" and at.slider[0].form_id != ""
    birads.set_value("4A").run()
    assert not at.error and reads(path, anna.user_id) == []
    click(at, "Submit my read")
    assert [r[2] for r in reads(path, anna.user_id)] == ["4A"]
