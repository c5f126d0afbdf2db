"""The app's pages in tests, through Streamlit's AppTest: a store served to the app, the app as
one account sees it, every string a page shows, and a button click."""
from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from core.server_objects import release_all

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"


def clear_caches() -> None:
    """Close the store and forget the runner and cached figures of an earlier test."""
    release_all()
    st.cache_resource.clear()
    st.cache_data.clear()


def app_as(account, page: str | None = None, query: dict[str, str] | None = None,
           timeout: float = 90) -> AppTest:
    """The app as ``account`` sees it, on ``page`` (default: the role's first page) with the
    URL's ``query``; fails on any exception the page raised."""
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.session_state["user"] = account
    at.run()
    if page:
        at.switch_page(page)
        at.query_params.update(query or {})
        at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def page_text(at: AppTest) -> str:
    """Every string of every element on the page (the protobuf text of the whole tree)."""
    parts = []

    def walk(node) -> None:
        if getattr(node, "proto", None) is not None:
            parts.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def click(at: AppTest, label: str) -> AppTest:
    """Click the button labelled ``label`` and rerun; fails on any exception."""
    next(button for button in at.button if button.label == label).click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def change_password(at: AppTest, current: str, new: str) -> AppTest:
    """Fill the Account page's password form (the new one twice), submit and rerun."""
    fields = {widget.label: widget for widget in at.text_input}
    fields["Current password"].input(current)
    fields["New password"].input(new)
    fields["Repeat the new password"].input(new)
    next(button for button in at.button if button.label == "Change the password").click()
    return at.run()
