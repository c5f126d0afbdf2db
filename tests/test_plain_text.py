"""Text a user typed is shown as plain text: a display name, a study name, a manifest's
histology and descriptors holding Markdown (an image that would fetch a tracking beacon, a
link, an autolink) render no image and no link. Every Markdown string a page sends (bodies,
labels, captions) is rendered here with a CommonMark + GFM renderer (markdown-it-py with
linkify, as Streamlit's remark-gfm autolinks bare URLs)."""
from __future__ import annotations

import json

import pytest
from markdown_it import MarkdownIt

from core.quiz import flow
from core.studies import protocol
from core.plain_text import plain
from core.store import Store
from tests.app_pages import app_as
from tests.quiz_helpers import add_model, make_cases, make_user

INJECTED = "![x](http://127.0.0.1:9/beacon.png) [link](http://x) www.example.com"
RENDER = MarkdownIt("gfm-like")
MARKDOWN_FIELDS = ("body", "label", "caption", "help")


def rendered_html(at) -> list[str]:
    """Every Markdown string of the page, rendered to HTML."""
    found = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            for name in MARKDOWN_FIELDS:
                value = getattr(proto, name, None)
                if isinstance(value, str) and value:
                    found.append(RENDER.render(value))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return found


def injected_markup(at) -> list[str]:
    return [html for html in rendered_html(at) if "<img" in html or "<a " in html]


def test_the_checker_sees_markdown_and_the_escape_removes_it():
    assert "<img" in RENDER.render(INJECTED) and "<a " in RENDER.render(INJECTED)
    shown = RENDER.render(plain(INJECTED + "\n# heading :red[x] $x$"))
    assert "<img" not in shown and "<a " not in shown and "<h1" not in shown
    assert "![x](http://127.0.0.1:9/beacon.png)" in shown and "# heading :red[x] $x$" in shown


@pytest.fixture
def hostile(app_db):
    """A trainee, a supervisor and a study whose names hold Markdown; cases whose histology
    and descriptors hold it too; the trainee at the truth step of a practice case."""
    with Store(app_db) as store:
        cases = make_cases(store, n=30)  # a test split of 5 malignant and 5 benign: a study
        add_model(store, "resnet50-md", cases)
        with store.transaction() as cur:
            cur.execute("UPDATE cases SET histology = ?, descriptors = ?",
                        [INJECTED, json.dumps({"shape": INJECTED})])
        trainee = make_user(store, "anna", display_name="Anna " + INJECTED)
        other = make_user(store, "ben", display_name="Ben " + INJECTED)
        supervisor = make_user(store, "sue", "supervisor", display_name="Sue " + INJECTED)
        protocol.create_study(store, supervisor, "Pilot " + INJECTED,
                             protocol.study_case_set(store, "quizset"),
                             [trainee.user_id, other.user_id], 0)
        session = flow.start_session(store, trainee.user_id, "all", 1)
        view = flow.state(store, session, trainee.user_id)
        flow.submit_unaided(store, session, trainee.user_id, view.case_id, "4A", 60)
        flow.submit_aided(store, session, trainee.user_id, view.case_id, "4A", 60)
    return trainee, supervisor


@pytest.mark.parametrize("who, page", [
    ("trainee", "pages/account.py"), ("trainee", "pages/quiz.py"),
    ("trainee", "pages/reading.py"), ("supervisor", "pages/studies.py"),
    ("supervisor", "pages/cohort.py"), ("supervisor", "pages/progress.py")])
def test_user_text_renders_no_image_and_no_link(hostile, who, page):
    trainee, supervisor = hostile
    at = app_as(trainee if who == "trainee" else supervisor, page)
    html = "\n".join(rendered_html(at))
    assert "127.0.0.1:9/beacon.png" in html  # the text is on the page, as text
    assert injected_markup(at) == []
