"""A login in a real browser (Debian's chromium driven by Playwright against ``streamlit run``)
survives a reload and a new tab, a deep link opens its page after the login, and a logout ends
the login in every tab; nothing is fetched from outside the app (favicon, fonts) and nothing
answers 404. Skipped where chromium or Playwright is absent."""
from __future__ import annotations

import pytest

from core import auth
from core.login_sessions import COOKIE
from core.store import Store
from tests.streamlit_server import CHROMIUM, first_session, launch_chromium, streamlit_app

PASSWORD = "correct-horse-9"
# Streamlit's frontend, opened on a page's URL, first tries that path as the server's base URL
# (404) before the root: its own probing, not a missing file of the app.
PROBES = ("/_stcore/health", "/_stcore/host-config")
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")


@pytest.fixture
def server(tmp_path):
    path = tmp_path / "data" / "results.duckdb"
    with Store(path) as store:
        auth.create_user(store, "sue", PASSWORD, "supervisor", "Sue")
    with streamlit_app(path, tmp_path / "streamlit.log") as running:
        yield running


def heading(page, title: str) -> None:
    page.get_by_role("heading", name=title, exact=True).wait_for()


def test_reload_new_tab_and_deep_link_keep_the_login(server):
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            first_session(browser, server.url)
            context = browser.new_context()
            outside, missing = [], []
            context.on("request", lambda request: outside.append(request.url)
                       if not request.url.startswith((server.url, "data:", "blob:")) else None)
            context.on("response", lambda response: missing.append(response.url)
                       if response.status >= 400 else None)
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{server.url}/model-comparison")
            page.get_by_label("User name").fill("sue")
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            assert "Page not found" not in page.content()
            page.get_by_role("button", name="Log in").click()
            heading(page, "Model comparison")  # the deep link's page, not the role's first
            assert page.locator("[role=dialog]").count() == 0  # no "Page not found"
            assert page.url.endswith("/model-comparison")
            cookie = next(c for c in context.cookies() if c["name"] == COOKIE)
            assert cookie["sameSite"] == "Strict" and not cookie["secure"]  # plain http here

            page.reload()
            heading(page, "Model comparison")
            assert page.get_by_role("button", name="Log in").count() == 0
            assert page.locator("[role=dialog]").count() == 0

            other = context.new_page()
            other.set_default_timeout(60_000)
            other.goto(f"{server.url}/learning-curves")
            heading(other, "Progress")
            assert other.locator("[role=dialog]").count() == 0

            first = context.new_page()  # the role's first page, by its own URL, and at /
            first.set_default_timeout(60_000)
            for url in (f"{server.url}/supervision", server.url):
                first.goto(url)
                heading(first, "Cohort")
                first.wait_for_timeout(1500)  # time for a "Page not found" dialog to show
                assert first.locator("[role=dialog]").count() == 0, url
                assert first.url.endswith("/supervision"), first.url
            first.close()

            other.get_by_role("button", name="Log out").click()
            other.get_by_role("button", name="Log in").wait_for()
            page.reload()  # the logout ended the login in the first tab too
            page.get_by_role("button", name="Log in").wait_for()
            assert not any(c["name"] == COOKIE and c["value"] for c in context.cookies())

            assert outside == []  # favicon and fonts are the app's own: nothing from outside
            assert [url for url in missing if not url.endswith(PROBES)] == []  # no 404s
            fresh = browser.new_context().new_page()  # another browser: not logged in
            fresh.goto(f"{server.url}/model-comparison")
            fresh.get_by_role("button", name="Log in").wait_for()
        finally:
            browser.close()
