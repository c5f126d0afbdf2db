"""How long from ``python -m core serve`` to the login form in a browser (target: 3 s).

Builds a small demo in a temporary store, then for each run starts the server, loads the page
in headless chromium until the login form shows, loads it once more (warm server) and stops the
server. Prints the seconds; asserts nothing.

    .venv/bin/python bench/app_start.py [--runs 3] [--autotrain]
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from core.demo import build_demo  # noqa: E402
from core.store import Store  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = 120) -> None:
    deadline = time.perf_counter() + timeout_s
    while True:
        try:
            socket.create_connection(("localhost", port), 0.2).close()
            return
        except OSError:
            if time.perf_counter() > deadline:
                raise
            time.sleep(0.05)


def login_form_seconds(page, url: str) -> tuple[float, float]:
    """Seconds until the page's HTML has loaded, then until the login form shows."""
    started = time.perf_counter()
    page.goto(url)
    loaded = time.perf_counter()
    page.get_by_role("textbox", name="User name", exact=True).wait_for(timeout=60000)
    return loaded - started, time.perf_counter() - loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", type=int, default=20, help="demo cases (default 20)")
    parser.add_argument("--autotrain", action="store_true",
                        help="let the app start demo training (default: off)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        db = Path(tmp) / "results.duckdb"
        with Store(db) as store:
            build_demo(store, n=args.cases)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        env = dict(os.environ, SONOCASE_AUTOTRAIN="1" if args.autotrain else "0")
        for run in range(1, args.runs + 1):
            port = free_port()
            started = time.perf_counter()
            server = subprocess.Popen(
                [sys.executable, "-m", "core", "serve", "--db", str(db), "--port", str(port)],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_for_port(port)
                server_up = time.perf_counter() - started
                page = browser.new_page()
                url = f"http://localhost:{port}/"
                html, form = login_form_seconds(page, url)
                warm_html, warm_form = login_form_seconds(page, url)
                page.close()
            finally:
                server.terminate()
                server.wait(30)
            print(f"run {run}: serve to login form {server_up + html + form:.2f} s (server up "
                  f"{server_up:.2f} s, page {html:.2f} s, login form {form:.2f} s); on the warm "
                  f"server {warm_html + warm_form:.2f} s; load average {os.getloadavg()[0]:.1f} "
                  f"on {os.cpu_count()} CPUs; autotrain {'on' if args.autotrain else 'off'}")
        browser.close()


if __name__ == "__main__":
    main()
