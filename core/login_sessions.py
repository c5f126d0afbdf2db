"""Logins that survive a reload and a new tab: a random session token the browser keeps in a
cookie, of which the store keeps only the SHA-256 (``login_sessions``).

A token is 256 random bits (``secrets``), so a plain SHA-256 is enough to make a stolen copy
of the store useless for logging in (no salt or slow hash is needed for a random secret). A
session ends when its user logs out (:func:`end`), after ``IDLE_LIMIT`` without a request, or
when the user is deactivated or their password is set (``core.auth.end_sessions``, in the same
transaction). A session in use moves its ``last_seen_at`` at most once per ``TOUCH_EVERY``, so
a busy page does not write on every rerun.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from core.auth import Clock, User, get_user, utcnow
from core.store import Store

COOKIE = "sonocase_session"
IDLE_LIMIT = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=1)
_TOKEN_BYTES = 32
_MAX_TOKEN_LENGTH = 128  # a cookie longer than any token we hand out is not looked up


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _plausible(token: object) -> bool:
    """Worth looking up: a string no longer than any token handed out."""
    return isinstance(token, str) and 0 < len(token) <= _MAX_TOKEN_LENGTH


def start(store: Store, user_id: int, clock: Clock = utcnow) -> str:
    """A new session for the user; returns the token for the cookie (never stored)."""
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    now = clock()
    with store.transaction() as cur:
        cur.execute("INSERT INTO login_sessions (token_sha256, user_id, created_at,"
                    " last_seen_at) VALUES (?, ?, ?, ?)", [_digest(token), user_id, now, now])
    return token


def resume(store: Store, token: str | None, clock: Clock = utcnow) -> User | None:
    """The user of a live session, or None: no such token, logged out, idle for longer than
    ``IDLE_LIMIT``, or the user deactivated. Marks the session as used."""
    if not _plausible(token):
        return None
    digest = _digest(token)
    now = clock()
    with store.read() as cur:
        row = cur.execute("SELECT user_id, last_seen_at FROM login_sessions"
                          " WHERE token_sha256 = ? AND revoked_at IS NULL", [digest]).fetchone()
    if row is None or now - row[1] > IDLE_LIMIT:
        return None
    user = get_user(store, row[0])
    if user is not None and now - row[1] >= TOUCH_EVERY:
        with store.transaction() as cur:
            cur.execute("UPDATE login_sessions SET last_seen_at = ? WHERE token_sha256 = ?",
                        [now, digest])
    return user


def end(store: Store, token: str | None, clock: Clock = utcnow) -> None:
    """Log out: the token no longer logs anyone in."""
    if not _plausible(token):
        return
    with store.transaction() as cur:
        cur.execute("UPDATE login_sessions SET revoked_at = ? WHERE token_sha256 = ?"
                    " AND revoked_at IS NULL", [clock(), _digest(token)])


def was_deactivated(store: Store, token: str | None) -> bool:
    """Whether the token belonged to a user who is now deactivated (the login page says so)."""
    if not _plausible(token):
        return False
    with store.read() as cur:
        row = cur.execute("SELECT NOT u.active FROM login_sessions s JOIN users u"
                          " USING (user_id) WHERE s.token_sha256 = ?",
                          [_digest(token)]).fetchone()
    return bool(row and row[0])
