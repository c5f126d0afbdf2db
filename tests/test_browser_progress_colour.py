"""A job's progress bar has one colour: in the sidebar's job panel and on the page (the admin's
job list, the Models page), drawn with the project's Streamlit config, in Debian's chromium
with Playwright (skipped where absent)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.streamlit_server import (CHROMIUM, ROOT, free_port, launch_chromium,
                                    wait_until_healthy)

sync_api = pytest.importorskip("playwright.sync_api")
BARS = """() => [...document.querySelectorAll("[data-testid='stProgressBarTrack'] > div")]
    .map(bar => getComputedStyle(bar).backgroundColor)"""
SCRIPT = """import streamlit as st
with st.sidebar:
    st.progress(0.3, text="Training models: resnet50 (1/6): epoch 2/5")
st.progress(0.3, text="train: resnet50 (1/6): epoch 2/5")
"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_a_progress_bar_has_the_same_colour_in_the_sidebar_and_on_the_page(tmp_path):
    script = tmp_path / "bars.py"
    script.write_text(SCRIPT)
    port = free_port()
    server = subprocess.Popen(  # from the project's folder: its .streamlit/config.toml applies
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1"], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, server)
        with sync_api.sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                page = browser.new_page()
                page.goto(url)
                page.locator("[data-testid='stProgressBarTrack']").nth(1).wait_for(
                    timeout=60_000)
                colours = page.evaluate(BARS)
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert len(colours) == 2 and colours[0] == colours[1], colours
