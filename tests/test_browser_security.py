"""Several real browser sessions on one running app (Debian's chromium driven by Playwright):
three trainees answer three cases each, their steps interleaved. Everything the browser
receives is recorded (every websocket frame and every media file), and checked:

- every read is stored once, for the right trainee;
- before a case's unaided read is stored, the browser got no heatmap (no JPEG overlay, no
  "Grad-CAM") and only the case's own plain image; before its aided read is stored, nothing of
  the truth (histology, reference BI-RADS, the truth heading);
- no trainee's browser ever receives another trainee's user name or display name, nor any
  password; the server's log holds no password.

Skipped where chromium or Playwright is absent (``apt-get install chromium``).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pytest
from PIL import Image

from core.cases.library import NewCase, save_cases
from core.images import load_grey
from core.store import Store
from tests.quiz_helpers import PASSWORD, add_model, make_user, nodule
from tests.streamlit_server import CHROMIUM, launch_chromium, streamlit_app

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")

TRAINEES = {"amelia": "Amelia Qx", "bartholomew": "Bartholomew Qx", "cordelia": "Cordelia Qx"}
CASES = 3
TRUTH_MARKERS = (b"Reference BI-RADS", b"The nodule is", b"[Malignant]", b"[Benign]",
                 b"lesion outline")


def secret_cases(store: Store) -> dict[int, str]:
    """CASES nodules whose histology is a word found nowhere else; returns case -> histology."""
    rng = np.random.default_rng(7)
    cases = []
    for index in range(CASES):
        label = "malignant" if index % 2 else "benign"
        image, mask = nodule(rng, 64)
        cases.append(NewCase(f"{label}/{index}.png", label, image, mask,
                             histology=f"histology-zq{index}", birads_ref="4C" if index % 2
                             else "3"))
    save_cases(store, "secret", "folder", cases)
    with store.read() as cur:
        return dict(cur.execute("SELECT case_id, histology FROM cases").fetchall())


@dataclass
class Browser:
    """One trainee's browser tab and everything it received, in order."""

    username: str
    page: object
    events: list[tuple] = field(default_factory=list)   # ("frame", bytes) | ("media", type,
    #                                                      bytes) | ("mark", name)

    def mark(self, name: str) -> None:
        """Note the moment (just before an action), with the media received so far."""
        self.events = [("media", event[1].headers.get("content-type", ""), event[1].body())
                       if event[0] == "response" else event for event in self.events]
        self.events.append(("mark", name))

    def segments(self) -> dict[str, list[tuple]]:
        """The events received before each mark (from the previous mark on)."""
        found, current = {}, []
        for event in self.events:
            if event[0] == "mark":
                found[event[1]] = current
                current = []
            else:
                current.append(event)
        found["end"] = current
        return found


def open_browser(context, username: str) -> Browser:
    page = context.new_page()
    page.set_default_timeout(90_000)
    tab = Browser(username, page)

    def on_socket(socket) -> None:
        socket.on("framereceived", lambda payload: tab.events.append(
            ("frame", payload if isinstance(payload, bytes) else payload.encode())))

    def on_response(response) -> None:
        if "/media/" in response.url and "/static/" not in response.url:
            tab.events.append(("response", response))   # its body is read at the next mark

    page.on("websocket", on_socket)
    page.on("response", on_response)
    return tab


def images_loaded(page) -> None:
    """Wait until every image of the main area has arrived (so it lands before the next mark)."""
    page.wait_for_function("() => [...document.querySelectorAll("
                           "\"[data-testid='stMain'] [data-testid='stImage'] img\")]"
                           ".every(image => image.complete && image.naturalWidth > 0)")


def trainee_steps(tab: Browser, url: str):
    """A trainee's whole session, one browser action per step (a generator, so that the
    sessions of several trainees interleave)."""
    page = tab.page
    page.goto(url)
    page.get_by_label("User name").fill(tab.username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Start").wait_for()
    yield
    tab.mark("start")
    page.get_by_role("button", name="Start").click()
    for number in range(CASES):
        page.get_by_role("button", name="Submit my read").wait_for()
        page.locator("[data-testid='stMain'] [data-testid='stImage'] img").first.wait_for()
        images_loaded(page)
        page.locator("label").filter(has_text="4A").first.click()
        yield
        tab.mark(f"unaided {number}")
        page.get_by_role("button", name="Submit my read").click()
        page.get_by_text("Grad-CAM heatmap").wait_for()
        images_loaded(page)
        page.locator("label").filter(has_text="5").last.click()
        yield
        tab.mark(f"aided {number}")
        page.get_by_role("button", name="Store my read and show the truth").click()
        last = number == CASES - 1
        page.get_by_role("button", name="See the summary" if last else "Next case").wait_for()
        page.get_by_test_id("sonocase-outline-legend").wait_for()
        images_loaded(page)
        yield
        tab.mark(f"next {number}")
        page.get_by_role("button", name="See the summary" if last else "Next case").click()
    page.get_by_text("Session summary").wait_for()
    tab.mark("summary")


def run_interleaved(tabs: list[Browser], url: str) -> None:
    steps = [trainee_steps(tab, url) for tab in tabs]
    while steps:
        for step in list(steps):
            try:
                next(step)
            except StopIteration:
                steps.remove(step)


def frames(events: list[tuple]) -> bytes:
    return b"\n".join(event[1] for event in events if event[0] == "frame")


def media(events: list[tuple]) -> list[tuple[str, bytes]]:
    return [(event[1], event[2]) for event in events if event[0] == "media"]


def test_interleaved_trainees_receive_nothing_early_and_nothing_of_each_other(tmp_path):
    db = tmp_path / "data" / "results.duckdb"
    with Store(db) as store:
        histology = secret_cases(store)
        add_model(store, "resnet50-browser", list(histology))
        users = {name: make_user(store, name, display_name=display)
                 for name, display in TRAINEES.items()}
    log = tmp_path / "streamlit.log"
    with streamlit_app(db, log) as server, sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            tabs = [open_browser(browser.new_context(viewport={"width": 1300, "height": 900}),
                                 name) for name in TRAINEES]
            run_interleaved(tabs, server.url)
        finally:
            browser.close()
    assert PASSWORD not in log.read_text()

    with Store(db) as store, store.read() as cur:
        stored = cur.execute("SELECT u.username, r.case_id, r.mode, r.birads FROM reads r"
                             " JOIN users u USING (user_id)").fetchall()
        orders = {name: cur.execute("SELECT case_ids FROM quiz_sessions WHERE user_id = ?",
                                    [user.user_id]).fetchone()[0]
                  for name, user in users.items()}
        images = {case_id: load_grey(store, path) for case_id, path in cur.execute(
            "SELECT case_id, image_path FROM cases").fetchall()}
    assert sorted(stored) == sorted((name, case_id, mode, "4A" if mode == "unaided" else "5")
                                    for name in TRAINEES for case_id in histology
                                    for mode in ("unaided", "aided"))

    import json

    for tab in tabs:
        order = json.loads(orders[tab.username])
        segments = tab.segments()
        everything = frames(tab.events)
        others = [text for name, display in TRAINEES.items() if name != tab.username
                  for text in (name, display)]
        assert [text for text in others if text.encode() in everything] == [], tab.username
        assert PASSWORD.encode() not in everything
        assert TRAINEES[tab.username].encode() in everything   # the recording works
        for number, case_id in enumerate(order):
            before_unaided = segments[f"unaided {number}"]
            before_aided = before_unaided + segments[f"aided {number}"]
            where = f"{tab.username}, case {number + 1}"
            assert b"Grad-CAM" not in frames(before_unaided), where
            shown = media(before_unaided)
            assert all(kind == "image/png" for kind, _ in shown), (where, shown)
            for _, data in shown:
                assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))),
                                      images[case_id]), where
            leaked = [marker for marker in TRUTH_MARKERS if marker in frames(before_aided)]
            leaked += [histology[c] for c in order[number:]
                       if histology[c].encode() in frames(before_aided)]
            assert leaked == [], where
            assert any(kind == "image/jpeg" for kind, _ in media(segments[f"aided {number}"])), \
                f"{where}: the heatmap overlay never arrived"
            assert histology[case_id].encode() in frames(segments[f"next {number}"]), where
