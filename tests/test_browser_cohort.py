"""The cohort table fits a 1400 x 900 window beside the sidebar: no sideways scrolling (the
data grid's scroller is no wider inside than its box), in Debian's chromium with Playwright
(skipped where absent)."""
from __future__ import annotations

import pytest

from core.store import Store
from tests.comparison_support import populate
from tests.quiz_helpers import PASSWORD, make_user
from tests.streamlit_server import CHROMIUM, logged_in_browser

sync_api = pytest.importorskip("playwright.sync_api")
SCROLLER = """() => [...document.querySelectorAll(
    "[data-testid='stDataFrame'] .dvn-scroller")].map(s => [s.scrollWidth, s.clientWidth])"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_the_cohort_table_needs_no_sideways_scrolling_at_1400_px(tmp_path):
    path = tmp_path / "data" / "results.duckdb"
    with Store(path) as store:
        populate(store, n_test=40, n_train=10)  # three trainees with practice reads
        make_user(store, "sue", "supervisor", "Sue")
    with logged_in_browser(path, tmp_path / "streamlit.log", "supervision", "sue", PASSWORD,
                           viewport={"width": 1400, "height": 900}) as page:
        page.get_by_text("Compare trainees").wait_for()
        page.locator("[data-testid='stDataFrame'] .dvn-scroller").first.wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=tmp_path / "cohort-1400.png")
        sizes = page.evaluate(SCROLLER)
    assert sizes, "no data grid on the page"
    scroll_width, client_width = sizes[0]
    assert scroll_width <= client_width, (scroll_width, client_width)
