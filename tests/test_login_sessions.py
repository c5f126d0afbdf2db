"""Logins that survive a reload (``core.login_sessions``): the store keeps only a hash of the
cookie's token; a session ends by logout, 12 h idle, deactivation or a password change; and
through the app (AppTest), a browser session with the cookie resumes it."""
from __future__ import annotations

import hashlib

import pytest

from core import auth, login_sessions
from core.store import Store
from tests.test_auth import PASSWORD, Clock

pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def alice(store) -> auth.User:
    return auth.create_user(store, "alice", PASSWORD, "trainee")


def test_the_store_keeps_only_the_tokens_hash(store, alice):
    token = login_sessions.start(store, alice.user_id)
    assert len(token) >= 43  # 256 random bits
    with store.read() as cur:
        rows = cur.execute("SELECT * FROM login_sessions").fetchall()
    assert token not in str(rows)
    assert rows[0][0] == hashlib.sha256(token.encode()).hexdigest()
    assert login_sessions.resume(store, token) == alice
    assert login_sessions.start(store, alice.user_id) != token


@pytest.mark.parametrize("token", [None, "", "forged", "x" * 5000, b"bytes", 42])
def test_unknown_or_odd_tokens_log_nobody_in(store, alice, token):
    login_sessions.start(store, alice.user_id)
    assert login_sessions.resume(store, token) is None


def test_twelve_idle_hours_end_a_session_and_use_keeps_it(store, alice):
    clock = Clock()
    token = login_sessions.start(store, alice.user_id, clock=clock)
    for _ in range(4):  # used every 11 hours: goes on
        clock.advance(11 * 3600)
        assert login_sessions.resume(store, token, clock=clock) == alice
    clock.advance(12 * 3600 + 1)
    assert login_sessions.resume(store, token, clock=clock) is None


def test_logout_ends_only_that_session(store, alice):
    here = login_sessions.start(store, alice.user_id)
    elsewhere = login_sessions.start(store, alice.user_id)
    login_sessions.end(store, here)
    assert login_sessions.resume(store, here) is None
    assert login_sessions.resume(store, elsewhere) == alice


def test_deactivation_ends_every_session_and_reactivation_revives_none(store, alice):
    auth.create_user(store, "root", PASSWORD + "-r", "admin")
    tokens = [login_sessions.start(store, alice.user_id) for _ in range(2)]
    auth.set_active(store, alice.user_id, False)
    assert [login_sessions.resume(store, t) for t in tokens] == [None, None]
    assert all(login_sessions.was_deactivated(store, t) for t in tokens)
    auth.set_active(store, alice.user_id, True)
    assert [login_sessions.resume(store, t) for t in tokens] == [None, None]
    assert not login_sessions.was_deactivated(store, tokens[0])


@pytest.mark.parametrize("by_admin", [False, True])
def test_setting_the_password_ends_every_session(store, alice, by_admin):
    bert = auth.create_user(store, "bert", PASSWORD + "-b", "trainee")
    token, bystander = (login_sessions.start(store, u.user_id) for u in (alice, bert))
    if by_admin:
        auth.set_password(store, alice.user_id, "gravel lantern orbit", must_change=True)
    else:
        auth.change_own_password(store, alice.user_id, PASSWORD, "gravel lantern orbit")
    assert login_sessions.resume(store, token) is None
    assert login_sessions.resume(store, bystander) == bert


def test_a_rehash_at_login_keeps_the_sessions(store, alice, monkeypatch):
    token = login_sessions.start(store, alice.user_id)
    from argon2 import PasswordHasher
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=2, memory_cost=2048,
                                                        parallelism=1))
    auth.authenticate(store, "alice", PASSWORD)  # parameters changed: the hash is redone
    assert login_sessions.resume(store, token) == alice


def test_the_app_logs_in_with_the_cookie_and_logout_revokes_it(app_db, monkeypatch):
    """AppTest cannot send cookies, so the cookie jar Streamlit reads is replaced."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from pages import ui
    from tests.app_pages import APP

    with Store(app_db) as store:
        user = auth.create_user(store, "alice", PASSWORD, "trainee")
        auth.create_user(store, "root", PASSWORD + "-r", "admin")  # an admin remains
        token = login_sessions.start(store, user.user_id)
    jar = {login_sessions.COOKIE: token}
    monkeypatch.setattr(type(st.context), "cookies", property(lambda self: jar))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert at.session_state["user"] == user
    assert "Quiz" in [title.value for title in at.title]
    next(button for button in at.sidebar.button if button.label == "Log out").click()
    at.run()
    assert at.session_state["user"] is None
    again = AppTest.from_file(str(APP), default_timeout=60).run()  # a reload: revoked
    assert again.session_state["user"] is None
    assert [button.label for button in again.button] == ["Log in"]
    jar[login_sessions.COOKIE] = login_sessions.start(ui.get_store(), user.user_id)
    auth.set_active(ui.get_store(), user.user_id, False)
    gone = AppTest.from_file(str(APP), default_timeout=60).run()
    assert gone.session_state["user"] is None
    assert [w.value for w in gone.warning] == [ui.DEACTIVATED]
