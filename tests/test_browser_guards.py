"""The set-up guards in a real browser (Debian's chromium driven by Playwright against
``streamlit run``): a supervisor choosing a reader who practised on the test cases is warned
and offered to leave them out; an admin re-splitting a dataset with a trained model is asked
first, and the model is then marked as evaluated on an earlier split. Skipped where chromium
or Playwright is absent."""
from __future__ import annotations

import pytest

from core.split_guard import EARLIER_SPLIT
from core.store import Store
from core.studies import protocol
from tests.quiz_helpers import PASSWORD, add_model, add_practice_reads, make_cases, make_user
from tests.streamlit_server import (CHROMIUM, first_session, launch_chromium, logged_in_page,
                                    streamlit_app)

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")


@pytest.fixture
def server(tmp_path):
    path = tmp_path / "data" / "results.duckdb"
    with Store(path) as store:
        cases = make_cases(store, n=30)
        add_model(store, "resnet50-guard", cases, heatmaps=False)
        anna = make_user(store, "anna", "trainee", "Anna")
        make_user(store, "sue", "supervisor", "Sue")
        make_user(store, "root", "admin", "Root")
        add_practice_reads(store, anna.user_id, protocol.study_case_set(store, "quizset")[:2],
                           ["3", "4A"])
    with streamlit_app(path, tmp_path / "streamlit.log") as running:
        yield running


def test_study_set_up_warning_and_re_split_confirmation(server):
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            first_session(browser, server.url)
            page = logged_in_page(browser, server.url, "reader-studies", "sue", PASSWORD)
            page.locator("label").filter(has_text="Set up a study").click()
            page.locator("[data-testid='stMultiSelect']").click()
            page.get_by_role("option", name="Anna (anna)").click()
            page.keyboard.press("Escape")
            page.get_by_text("Anna has read 2 of these 10 cases in practice").wait_for()
            page.get_by_text("Leave out the 2 cases a reader has read in practice").wait_for()

            admin = logged_in_page(browser, server.url, "administration", "root", PASSWORD)
            admin.get_by_role("tab", name="Data").click()
            admin.get_by_role("button", name="Make the split").click()
            admin.get_by_text("ResNet50 (quick, ").first.wait_for()  # named, not by id
            assert admin.get_by_role("button", name="Make the new split").is_visible()
            admin.get_by_role("button", name="Make the new split").click()
            admin.get_by_text(EARLIER_SPLIT.capitalize()).wait_for()
        finally:
            browser.close()
