"""Presentation mode fits a projector: tables become slides of a few columns whose cells wrap
(CIs on a second line), so no cell's text overflows its box at 1280 x 720 or 1920 x 1080.
Checked on the slides themselves and in a real browser (Debian's chromium with Playwright,
skipped where absent), comparing each cell's scrollWidth with its clientWidth."""
from __future__ import annotations

import pandas as pd
import pytest

from core.presentation import html_table, slides
from core.store import Store
from tests.comparison_support import populate
from tests.quiz_helpers import PASSWORD, make_user
from tests.streamlit_server import CHROMIUM, logged_in_browser

SIZES = ((1280, 720), (1920, 1080))
OVERFLOWING = """() => [...document.querySelectorAll('.sc-slide th, .sc-slide td')]
    .filter(cell => cell.scrollWidth > cell.clientWidth).map(cell => cell.innerText)"""


def test_a_wide_table_becomes_slides_that_repeat_the_first_column():
    table = pd.DataFrame({"Model": ["GoogLeNet", "<b>x</b>"],
                          **{f"M{i}": ["0.81 (0.75-0.86)", "1"] for i in range(9)}})
    parts = slides(table, max_columns=4)
    assert [list(part.columns) for part in parts] == [
        ["Model", "M0", "M1", "M2", "M3"], ["Model", "M4", "M5", "M6", "M7"], ["Model", "M8"]]
    assert slides(table.iloc[:, :5], max_columns=4)[0].equals(table.iloc[:, :5])
    page = html_table(parts[0], "Test <split>")
    assert "0.81<br>(0.75-0.86)" in page  # the CI on its own line
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "Test &lt;split&gt;" in page and "table-layout:fixed" in page


sync_api = pytest.importorskip("playwright.sync_api")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_no_cell_overflows_at_projector_sizes(tmp_path):
    path = tmp_path / "data" / "results.duckdb"
    with Store(path) as store:
        populate(store, n_test=40, n_train=10)
        make_user(store, "sue", "supervisor", "Sue")
    with logged_in_browser(path, tmp_path / "streamlit.log", "model-comparison", "sue",
                           PASSWORD, viewport={"width": 1280, "height": 720}) as page:
        page.get_by_text("Presentation mode").click()
        page.locator("label").filter(has_text="Study table").click()
        page.get_by_text("Slide 1 of 3").wait_for()
        page.evaluate("document.activeElement.blur()")  # focus off the radio
        page.keyboard.press("ArrowRight")
        page.get_by_text("Slide 2 of 3").wait_for()
        settled(page)
        page.keyboard.press("ArrowLeft")
        page.get_by_text("Slide 1 of 3").wait_for()
        checked = 0
        for section in ("Study table", "DeLong tests"):
            page.locator("label").filter(has_text=section).click()
            page.locator(".sc-slide").first.wait_for()
            for width, height in SIZES:
                page.set_viewport_size({"width": width, "height": height})
                while True:
                    settled(page)
                    page.screenshot(path=tmp_path / f"{section}-{width}-{checked}.png")
                    assert page.evaluate(OVERFLOWING) == [], (section, width)
                    checked += page.locator(".sc-slide td").count()
                    after = page.get_by_role("button", name="Next")
                    if not after.count() or after.is_disabled():
                        break
                    after.click()
                while (back := page.get_by_role("button", name="Previous")).count() \
                        and not back.is_disabled():
                    back.click()
                    settled(page)
        assert checked > 50  # cells were really there to check


def settled(page) -> None:
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for()
    page.wait_for_timeout(300)
