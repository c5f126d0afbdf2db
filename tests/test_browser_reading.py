"""Study reading in a real browser (chromium through Playwright against ``streamlit run``): a
reader in two studies finishes one, and the study selector shows it done at once and still
switches studies (a selectbox keeps the label it was sent, so a label that changes under it
left "(aided)" on screen and, on the next click, sent a label no option has any more).
Skipped where chromium or Playwright is absent."""
from __future__ import annotations

import pytest

from core import auth
from core.store import Store
from core.studies import protocol
from tests.quiz_helpers import add_model, make_cases
from tests.streamlit_server import CHROMIUM, first_session, launch_chromium, \
    logged_in_page, streamlit_app
from tests.test_browser_study import PASSWORD, at_case, choose, settled

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
CASES = 10


@pytest.fixture
def two_studies(tmp_path):
    """Anna reads in two studies of 10 cases each (5 benign, 5 malignant), washout 0; the
    store is served by ``streamlit run app.py``."""
    path = tmp_path / "data" / "results.duckdb"
    with Store(path) as store:
        cases = make_cases(store, n=30, size=48)
        add_model(store, "resnet50-browser", cases)
        sue = auth.create_user(store, "sue", PASSWORD, "supervisor", "Sue",
                               must_change_password=False)
        anna = auth.create_user(store, "anna", PASSWORD, "trainee", "Anna",
                                must_change_password=False)
        test = protocol.study_case_set(store, "quizset")
        other = [case for case in cases if case not in test][:CASES]
        protocol.create_study(store, sue, "Spring", test, [anna.user_id], 0)
        protocol.create_study(store, sue, "Summer", other, [anna.user_id], 0)
    with streamlit_app(path, tmp_path / "streamlit.log") as server:
        yield server


def selector(page):
    return page.get_by_role("combobox", name="Study")


def test_a_finished_studys_selector_shows_it_done_at_once(two_studies):
    url = two_studies.url
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            first_session(browser, url)
            page = logged_in_page(browser, url, "study-reading", "anna", PASSWORD,
                                  viewport={"width": 1400, "height": 1000})
            page.get_by_role("heading", name="Study reading", exact=True).wait_for()
            sync_api.expect(selector(page)).to_have_value("Summer (unaided)")
            for start in ("Start reading", "Start the aided reading"):
                page.get_by_role("button", name=start).click()
                for index in range(1, CASES + 1):
                    at_case(page, index)
                    choose(page, "3")
                    page.get_by_role("button", name="Store my read").click()
            page.get_by_text("Your results").wait_for()
            settled(page)
            sync_api.expect(selector(page)).to_have_value("Summer (done)")
            selector(page).click()
            page.get_by_role("option", name="Spring (unaided)").click()
            page.get_by_role("heading", name="Spring").wait_for()
            settled(page)
            sync_api.expect(selector(page)).to_have_value("Spring (unaided)")
            selector(page).click()
            page.get_by_role("option", name="Summer (done)").click()
            page.get_by_text("Your results").wait_for()
            sync_api.expect(selector(page)).to_have_value("Summer (done)")
        finally:
            browser.close()
