"""The quiz in a real browser: Debian's chromium driven by Playwright against ``streamlit run``.

A trainee logs in, answers a case, sees no heatmap before submitting and one after, revises,
sees the truth; both reads are then in the store. Skipped where chromium or Playwright is
absent (``apt-get install chromium``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.heatmaps.contours import HOTTEST_COLOUR
from core.store import Store
from tests.quiz_helpers import PASSWORD, add_model, labels_of, make_cases, make_user
from tests.streamlit_server import CHROMIUM, launch_chromium, streamlit_app

sync_api = pytest.importorskip("playwright.sync_api")
sync_api.expect.set_options(timeout=60_000)  # as the pages' timeout: two shared, busy cores
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")


@pytest.fixture
def served_store(tmp_path):
    """A prepared store and a ``streamlit run app.py`` serving it; the server is always
    stopped."""
    path = tmp_path / "data" / "results.duckdb"
    with Store(path) as store:
        cases = make_cases(store, n=4, size=96)
        add_model(store, "resnet50-browser", cases)
        make_user(store, "anna")
    with streamlit_app(path, tmp_path / "streamlit.log") as server:
        yield path, server


def headings(page) -> list[str]:
    return [text.strip() for text in
            page.locator("[data-testid='stMain'] h1, [data-testid='stMain'] h2,"
                         " [data-testid='stMain'] h3").all_inner_texts()]


def radio_option(page, text: str):
    """The one radio option labelled exactly ``text`` (the form on screen has one radio)."""
    option = page.locator("label").filter(has_text=re.compile(rf"^\s*{text}\s*$"))
    sync_api.expect(option).to_have_count(1)
    return option


def case_images(page):
    return page.locator("[data-testid='stMain'] [data-testid='stImage'] img")


def test_a_trainee_answers_revises_and_sees_the_truth(served_store, tmp_path):
    path, server = served_store
    url = server.url
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url)
            page.get_by_label("User name").fill("anna")
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("button", name="Start").click()

            page.get_by_role("button", name="Submit my read").wait_for()
            sync_api.expect(page.get_by_role("button", name="Start")).to_have_count(0)
            case_images(page).first.wait_for()
            assert case_images(page).count() == 1
            assert page.get_by_text("AI probability").count() == 0
            assert page.get_by_text("Grad-CAM").count() == 0
            headings_before = headings(page)
            page.screenshot(path=str(tmp_path / "1_present.png"))
            radio_option(page, "4A").click()
            page.get_by_role("button", name="Submit my read").click()

            page.get_by_text("AI probability of malignancy").wait_for()
            page.get_by_text("Grad-CAM heatmap").wait_for()
            sync_api.expect(page.get_by_role("button", name="Submit my read")).to_have_count(0)
            assert case_images(page).count() == 1
            assert page.get_by_test_id("sonocase-outline-legend").count() == 0
            headings_before += headings(page)
            page.screenshot(path=str(tmp_path / "2_ai.png"))
            radio_option(page, "5").click()
            page.get_by_role("button", name="Store my read and show the truth").click()

            page.get_by_role("button", name="Next case").wait_for()
            page.get_by_test_id("sonocase-outline-legend").wait_for()
            sync_api.expect(page.get_by_role(
                "button", name="Store my read and show the truth")).to_have_count(0)
            page.screenshot(path=str(tmp_path / "3_truth.png"))
            headings_at_truth = headings(page)
        finally:
            browser.close()
    server.stop()
    with Store(path, read_only=True) as store, store.read() as cur:
        stored = cur.execute("SELECT case_id, mode, birads FROM reads ORDER BY read_id").fetchall()
        labels = labels_of(store)
    assert [(mode, birads) for _, mode, birads in stored] == [("unaided", "4A"), ("aided", "5")]
    assert stored[0][0] == stored[1][0]
    label = labels[stored[0][0]].capitalize()
    assert label in headings_at_truth and "Benign" not in headings_before \
        and "Malignant" not in headings_before


def screenshot_folder(tmp_path: Path) -> Path:
    """Where screenshots go: ``$SONOCASE_SCREENSHOTS`` (to attach them to a report), else the
    test's own temporary folder."""
    folder = Path(os.environ.get("SONOCASE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def magenta_pixels(png: Path) -> int:
    """Pixels of a screenshot close to the colour of the hottest-20% line."""
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return int((np.abs(pixels - HOTTEST_COLOUR) < 50).all(axis=2).sum())


def test_the_ai_step_outlines_the_hottest_20_percent_and_the_truth_step_sets_it_by_the_lesion(
        served_store, tmp_path):
    _, server = served_store
    folder = screenshot_folder(tmp_path)
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(server.url)
            page.get_by_label("User name").fill("anna")
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("button", name="Start").click()
            page.get_by_role("button", name="Submit my read").wait_for()
            sync_api.expect(page.get_by_text("Outline the hottest 20%")).to_have_count(0)
            radio_option(page, "4A").click()
            page.get_by_role("button", name="Submit my read").click()

            switch = page.get_by_role("switch", name="Outline the hottest 20%")
            sync_api.expect(switch).to_be_visible()
            sync_api.expect(switch).to_be_checked()
            scale = page.get_by_test_id("sonocase-colour-scale")
            sync_api.expect(scale).to_be_visible()
            sync_api.expect(scale).to_contain_text("low")
            case_images(page).first.wait_for()
            page.wait_for_timeout(500)  # the image painted
            ai_shot = folder / "quiz_ai_step_hottest_20.png"
            page.screenshot(path=str(ai_shot), full_page=True)
            assert magenta_pixels(ai_shot) > 20

            radio_option(page, "4B").click()
            page.get_by_role("button", name="Store my read and show the truth").click()
            legend = page.get_by_test_id("sonocase-outline-legend")
            sync_api.expect(legend).to_be_visible()
            sync_api.expect(legend).to_contain_text("lesion")
            sync_api.expect(legend).to_contain_text("AI's hottest 20%")
            page.wait_for_timeout(500)
            truth_shot = folder / "quiz_truth_step_lesion_and_hottest_20.png"
            page.screenshot(path=str(truth_shot), full_page=True)
            assert magenta_pixels(truth_shot) > 20
        finally:
            browser.close()
