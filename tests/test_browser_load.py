"""Ten trainees answering at once in real browsers (Debian's chromium driven by Playwright)
against one ``streamlit run``, with no thinking time: each click is sent as soon as its button
is on screen (the submit buttons double-clicked, as an impatient reader does), and every
trainee's next click goes out while the others' runs are still being served, so reruns overlap
and interrupt each other as under a full classroom's load.

Every trainee must reach the session summary (nobody stranded on an error page), every read
must be stored once, and the server's log must hold no uncaught error (the probe saw
``KeyError: st.session_state has no key "quiz_present_..._shape"`` in 2 of 5 runs).
Skipped where chromium or Playwright is absent (``apt-get install chromium``).
"""
from __future__ import annotations

import re

import pytest

from core.store import Store
from tests.quiz_helpers import PASSWORD, add_model, make_cases, make_user
from tests.streamlit_server import CHROMIUM, launch_chromium, streamlit_app

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")

TRAINEES = 10
CASES = 2
ERRORS_IN_LOG = re.compile(r"Traceback|Uncaught|KeyError|Exception", re.IGNORECASE)


def trainee_clicks(page, url: str, username: str):
    """One trainee's whole session; yields right after each click, without waiting for its
    answer (the next resume waits for the button it needs)."""
    page.goto(url)
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    yield
    page.get_by_label("Cases in this session").fill(str(CASES))
    page.get_by_role("button", name="Start").click()
    yield
    for number in range(CASES):
        page.get_by_role("button", name="Submit my read").wait_for()
        page.locator("label").filter(has_text=re.compile(r"^\s*4A\s*$")).first.click()
        page.get_by_role("button", name="Submit my read").dblclick()  # impatient: twice
        yield
        page.get_by_role("button", name="Store my read and show the truth").dblclick()
        yield
        last = number == CASES - 1
        page.get_by_role("button", name="See the summary" if last else "Next case").click()
        yield
    page.get_by_text("Session summary").wait_for()


def test_ten_trainees_answering_without_thinking_time_all_finish(tmp_path):
    db = tmp_path / "data" / "results.duckdb"
    with Store(db) as store:
        cases = make_cases(store, n=8, size=64)
        add_model(store, "resnet50-load", cases)
        names = [f"trainee{index:02d}" for index in range(TRAINEES)]
        users = {name: make_user(store, name) for name in names}
    log = tmp_path / "streamlit.log"
    with streamlit_app(db, log) as server, sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            pages = []
            for _ in names:
                page = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
                page.set_default_timeout(180_000)
                pages.append(page)
            running = [trainee_clicks(page, server.url, name) for page, name in zip(pages, names)]
            while running:
                for steps in list(running):
                    try:
                        next(steps)
                    except StopIteration:
                        running.remove(steps)
            stranded = [name for page, name in zip(pages, names)
                        if page.locator("[data-testid='stException']").count()]
        finally:
            browser.close()
    assert stranded == []
    errors = [text for text in log.read_text().splitlines() if ERRORS_IN_LOG.search(text)]
    assert errors == []
    with Store(db) as store, store.read() as cur:
        counts = dict(cur.execute("SELECT user_id, count(*) FROM reads GROUP BY user_id")
                      .fetchall())
    assert {name: counts.get(user.user_id, 0) for name, user in users.items()} == {
        name: 2 * CASES for name in names}
