"""``streamlit run app.py`` on a given store, for the tests that talk to a real server (browser
tests, the lock test): started on a free port, waited for, always stopped; and Debian's
chromium launched for Playwright the one way that works here."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")  # Playwright's own browser download fails here


def launch_chromium(playwright):
    """Headless Debian chromium for a ``sync_playwright()`` context; the caller closes it."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(url: str, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout} s")


class Server:
    """A running ``streamlit run app.py``: its URL, and :meth:`stop` (a test that opens the
    store itself stops the server first: only one process may hold it)."""

    def __init__(self, url: str, process: subprocess.Popen) -> None:
        self.url, self.process = url, process

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def streamlit_app(db: Path, log: Path) -> Iterator[Server]:
    """``streamlit run app.py`` on the store ``db`` (the project's config, no background
    training), its output in ``log``; yields the running :class:`Server` and always stops it."""
    port = free_port()
    env = dict(os.environ, SONOCASE_DB=str(db), SONOCASE_AUTOTRAIN="0")
    with open(log, "w") as output:
        server = Server(f"http://127.0.0.1:{port}", subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT))
        try:
            wait_until_healthy(server.url, server.process)
            yield server
        finally:
            server.stop()


def first_session(browser, url: str) -> None:
    """Open the app once and wait for its login form. A fresh server runs its very first
    session in Streamlit's pages-folder mode (before any ``st.navigation`` call in the
    process), which answers a deep link with "Page not found" before app.py runs; tests of
    deep links start after it."""
    page = browser.new_page()
    page.goto(url)
    page.get_by_role("button", name="Log in").wait_for(timeout=60_000)
    page.close()


def logged_in_page(browser, url: str, path: str, username: str, password: str, **context):
    """A new browser context's page, logged in through the form at ``url/path``."""
    page = browser.new_context(**context).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/{path}")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    return page


@contextmanager
def logged_in_browser(db: Path, log: Path, path: str, username: str, password: str,
                      **context) -> Iterator:
    """The app served on ``db`` (its output in ``log``) and a chromium page logged in through
    the form at ``path`` (after the server's first session, see :func:`first_session`);
    browser and server are always stopped."""
    from playwright.sync_api import sync_playwright

    with streamlit_app(db, log) as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            first_session(browser, server.url)
            yield logged_in_page(browser, server.url, path, username, password, **context)
        finally:
            browser.close()
