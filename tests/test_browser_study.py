"""A reader study in a real browser: Debian's chromium driven by Playwright against
``streamlit run``.

A supervisor sets up a two-reader study with a zero-day washout through the form; two trainees
log in and read every case unaided, then aided; the supervisor's report page and its printable
HTML then show the BI-RADS AUCs that ``core.stats`` computes on the same stored reads. Skipped
where chromium or Playwright is absent (``apt-get install chromium``).
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

from core import auth
from core.stats.readers import reader_summary
from core.store import Store
from core.studies.tables import fmt_ci
from tests.quiz_helpers import add_model, make_cases
from tests.streamlit_server import CHROMIUM, launch_chromium, streamlit_app

PASSWORD = "correct-horse-9"
READERS = {"anna": ("Anna", ("2", "4A", "3", "5", "2", "4B", "3", "4C", "2", "5"),
                    ("4B", "2", "5", "3", "4A", "2", "5", "3", "4C", "2")),
           "ben": ("Ben", ("3", "3", "4C", "2", "4A", "5", "2", "3", "4B", "2"),
                   ("5", "4A", "2", "4B", "3", "4C", "2", "5", "3", "4A"))}
CASES = 10  # the test split of 30 cases: 5 malignant and 5 benign, the fewest a study takes
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")


@pytest.fixture
def served_store(tmp_path):
    """A store with 10 test-split cases (5 benign, 5 malignant), a fake model with cached
    heatmaps, a supervisor and two trainees, served by ``streamlit run app.py``; the server
    is always stopped."""
    path = tmp_path / "data" / "results.duckdb"
    with Store(path) as store:
        cases = make_cases(store, n=30, size=96)
        add_model(store, "resnet50-browser", cases)
        auth.create_user(store, "sue", PASSWORD, "supervisor", "Sue",
                         must_change_password=False)
        for username, (name, _, _) in READERS.items():
            auth.create_user(store, username, PASSWORD, "trainee", name,
                             must_change_password=False)
    with streamlit_app(path, tmp_path / "streamlit.log") as server:
        yield path, server


def log_in(page, url: str, username: str, page_title: str) -> None:
    page.goto(url)
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # the login lands on "/", which switches to the role's first page: a link clicked before
    # that switch has finished is overridden by it
    page.wait_for_url(lambda address: urlparse(address).path.strip("/") != "")
    settled(page)
    page.get_by_role("link", name=page_title).click()
    page.get_by_role("heading", name=page_title, exact=True).wait_for()


def log_out(page) -> None:
    """Log out and wait for the login form: a page opened before the logout has reached the
    server would still find the session's login and show no form."""
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("User name").wait_for()


def main_text(page) -> str:
    return page.locator("[data-testid='stMain']").inner_text()


def set_up_study(page, url: str) -> None:
    log_in(page, url, "sue", "Reader studies")
    page.locator("label").filter(has_text="Set up a study").click()
    page.get_by_label("Study name").fill("Browser pilot")
    page.get_by_role("spinbutton", name="Washout (days)").fill("0")
    for name, (display, _, _) in READERS.items():
        page.locator("[data-testid='stMultiSelect']").click()
        page.get_by_role("option", name=f"{display} ({name})").click()
    page.keyboard.press("Escape")  # close the list: while open it hides the rest of the page
    page.get_by_role("button", name="Set up the study").click()
    page.get_by_text("set up: its readers can start now").wait_for()


def at_case(page, index: int) -> None:
    """Wait until case ``index`` is shown and the script run that draws it has ended (until
    then the previous case's form may still be on the page)."""
    page.get_by_text(f"Case {index} of {CASES}").wait_for()
    settled(page)


def settled(page) -> None:
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for()


def choose(page, birads: str) -> None:
    page.get_by_role("radiogroup", name="BI-RADS category").locator("label").filter(
        has_text=re.compile(rf"^{re.escape(birads)}$")).click()


def read_study(page, url: str, username: str, unaided: tuple, aided: tuple) -> None:
    log_in(page, url, username, "Study reading")
    page.get_by_role("button", name="Start reading").click()
    for index, birads in enumerate(unaided, 1):
        at_case(page, index)
        text = main_text(page).lower()
        assert "ai probability" not in text and "benign" not in text and "malignant" not in text
        choose(page, birads)
        page.get_by_role("button", name="Store my read").click()
    page.get_by_role("button", name="Start the aided reading").click()
    for index, birads in enumerate(aided, 1):
        at_case(page, index)
        page.get_by_text("AI probability of malignancy").wait_for()
        page.get_by_text("Grad-CAM heatmap").wait_for()
        choose(page, birads)
        page.get_by_role("button", name="Store my read").click()
    page.get_by_text("Your results").wait_for()
    log_out(page)
    page.get_by_role("button", name="Log in").wait_for()


def expected_aucs(path: Path) -> dict[str, str]:
    """Each reader's (and the pooled) BI-RADS AUC with its logit DeLong CI (or "too few
    cases"), unaided and aided, straight from ``core.stats`` on the stored reads, as the
    report writes them."""
    with Store(path, read_only=True) as store, store.read() as cur:
        reads = cur.execute("""
            SELECT u.display_name, r.case_id, r.mode, r.birads,
                   CAST(c.label = 'malignant' AS INTEGER) AS y
            FROM reads r JOIN users u USING (user_id) JOIN cases c USING (case_id)
            ORDER BY u.display_name, r.case_id""").df()
    found = {}
    for reader, rows in [*reads.groupby("display_name"), ("pooled", reads)]:
        for mode in ("unaided", "aided"):
            part = rows[rows["mode"] == mode]
            auc = reader_summary(part["y"].to_numpy(), part["birads"])["birads_auc"]
            found[f"{reader}, {mode}"] = auc.get("too_few") or fmt_ci(auc["auc"], *auc["ci"])
    return found


def test_a_supervisor_runs_a_two_reader_study_and_reads_its_report(served_store, tmp_path):
    path, server = served_store
    url = server.url
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100},
                                    accept_downloads=True)
            page.set_default_timeout(60_000)
            set_up_study(page, url)
            log_out(page)
            for username, (_, unaided, aided) in READERS.items():
                read_study(page, url, username, unaided, aided)
            log_in(page, url, "sue", "Reader studies")
            page.get_by_text("The paper's reader beside ours", exact=True).wait_for()
            page.get_by_text("Multi-reader analysis", exact=True).wait_for()
            settled(page)
            sync_api.expect(page.locator("[data-testid='stTable']")).to_have_count(6)
            report_text = main_text(page)
            rows = [[cell.strip() for cell in row.split("\t")] for row in
                    page.locator("[data-testid='stTable'] tr").all_inner_texts()]
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            with page.expect_download() as download:
                page.get_by_role("button", name="Printable report (HTML)").click()
            printable = Path(download.value.path()).read_text(encoding="utf-8")
        finally:
            browser.close()
    server.stop()
    expected = expected_aucs(path)
    assert len(set(expected.values())) > 1
    for key, value in expected.items():
        assert value in report_text, key
        assert value in printable, key
    shown = {f"{row[0]}, {row[1]}": row[3] for row in rows  # the per-reader table
             if len(row) == 11 and row[0] in ("Anna", "Ben")}
    assert shown == {key: value for key, value in expected.items() if "pooled" not in key}
    pooled = {row[1]: row[3] for row in rows if row[0] == "All readers (pooled reads)"
              and len(row) == 11}
    assert pooled == {mode: expected[f"pooled, {mode}"] for mode in ("unaided", "aided")}
    assert "0.597" in report_text and "0.904" in report_text
    assert "<svg" in printable and "<script" not in printable
