"""Accounts: argon2 password hashes, roles, login with lockout.

Passwords are never stored or logged in clear: only argon2id hashes reach the store. A failed
login says the same thing whether or not the user exists. Five failures within a minute lock
the user name for a minute; the lock is derived from the append-only ``login_attempts`` table,
so it holds across sessions and restarts. An attempt is checked against the lock and recorded
as a failure in one write transaction, before the slow password check, so parallel guesses
are limited too; a success adds a success row at the same time, which clears the count.
Attempts on an unknown name are recorded under a salted hash of what was typed (it may be a
password typed into the wrong field). All times are naive UTC, taken from an injectable clock
so that tests can move time.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import UserError
from core.store import Store

ROLES = ("trainee", "supervisor", "admin")
STAFF_ROLES = ("supervisor", "admin")  # may see every trainee's results and set things up
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(seconds=60)
LOCK_DURATION = timedelta(seconds=60)
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")
BAD_LOGIN = "wrong user name or password"
ATTEMPT_SALT_KEY = "login_attempt_salt"

_hasher = PasswordHasher()

Clock = Callable[[], datetime]


class AuthError(UserError):
    """A login was refused; the message never tells whether the user exists."""


@dataclass(frozen=True)
class User:
    """A logged-in user as the pages see it (kept in ``st.session_state["user"]``)."""

    user_id: int
    username: str
    display_name: str
    role: str


@dataclass(frozen=True)
class Account:
    """A row of the user list, for administration."""

    user_id: int
    username: str
    display_name: str
    role: str
    active: bool
    must_change_password: bool
    created_at: datetime


@cache
def _dummy_hash() -> str:
    """Verified when the user name is unknown, so a miss costs as long as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(16))


def utcnow() -> datetime:
    """Now, as naive UTC (the store's TIMESTAMP columns hold naive UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def normalise_username(username: str) -> str:
    return username.strip().lower()


def validate_username(username: str) -> str:
    """The normalised name; raises UserError unless it is 2-32 of ``a-z 0-9 _ . -``."""
    name = normalise_username(username)
    if not USERNAME_PATTERN.fullmatch(name):
        raise UserError(
            f"user name {username!r} is not allowed: use 2 to 32 characters, lower-case "
            "letters, digits, '_', '.' or '-', starting with a letter or digit")
    return name


def require_utf8(text: str, what: str) -> None:
    """UserError for text with bytes that are not UTF-8 (kept by Python as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"the {what} is not valid UTF-8 text: retype it, or set a UTF-8 "
                        "locale (for example LANG=C.UTF-8)") from None


def validate_password(password: str) -> None:
    require_utf8(password, "password")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise UserError("the password cannot be blank")


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def one_time_password() -> str:
    """A random password to hand over once (about 96 bits, URL-safe characters)."""
    return secrets.token_urlsafe(12)


def _user(row: tuple) -> User:
    user_id, username, display_name, role = row
    return User(user_id, username, display_name or username, role)


def has_users(store: Store) -> bool:
    with store.read() as cur:
        return cur.execute("SELECT count(*) FROM users").fetchone()[0] > 0


def create_user(store: Store, username: str, password: str, role: str,
                display_name: str | None = None, must_change_password: bool = False) -> User:
    """Add a user; the password is kept only as an argon2 hash."""
    name = validate_username(username)
    validate_role(role)
    validate_password(password)
    display = (display_name or "").strip() or name
    require_utf8(display, "display name")
    password_hash = _hasher.hash(password)
    with store.transaction() as cur:
        if cur.execute("SELECT 1 FROM users WHERE username = ?", [name]).fetchone():
            raise UserError(f"user name {name!r} is taken")
        row = cur.execute(
            "INSERT INTO users (username, display_name, password_hash, role, active,"
            " must_change_password) VALUES (?, ?, ?, ?, TRUE, ?)"
            " RETURNING user_id, username, display_name, role",
            [name, display, password_hash, role, must_change_password]).fetchone()
    return _user(row)


def create_first_admin(store: Store, username: str, password: str,
                       display_name: str | None = None) -> User:
    """The first account of an empty store; refused once any user exists."""
    name = validate_username(username)
    validate_password(password)
    display = (display_name or "").strip() or name
    require_utf8(display, "display name")
    with store.transaction() as cur:
        if cur.execute("SELECT count(*) FROM users").fetchone()[0]:
            raise UserError("the store already has users: ask an admin for an account")
        row = cur.execute(
            "INSERT INTO users (username, display_name, password_hash, role, active,"
            " must_change_password) VALUES (?, ?, ?, 'admin', TRUE, FALSE)"
            " RETURNING user_id, username, display_name, role",
            [name, display, _hasher.hash(password)]).fetchone()
    return _user(row)


def _attempt_salt(store: Store) -> str:
    """The store's random salt for hashing unknown user names (made on first use)."""
    with store.read() as cur:
        row = cur.execute("SELECT value FROM settings WHERE key = ?", [ATTEMPT_SALT_KEY]).fetchone()
    if row is None:
        with store.transaction() as cur:
            cur.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key)"
                        " DO NOTHING", [ATTEMPT_SALT_KEY, json.dumps(secrets.token_hex(16))])
            row = cur.execute("SELECT value FROM settings WHERE key = ?",
                              [ATTEMPT_SALT_KEY]).fetchone()
    return json.loads(row[0])


def attempt_name(store: Store, username: str) -> str:
    """What ``login_attempts`` records for a typed user name: the normalised name when it is
    an account's, else ``'unknown:'`` and a salted SHA-256 of it, so the lock still holds per
    typed name but a password typed into the name field is never kept in clear."""
    name = normalise_username(username)[:64]
    with store.read() as cur:
        if cur.execute("SELECT 1 FROM users WHERE username = ?", [name]).fetchone():
            return name
    salted = f"{_attempt_salt(store)}:{name}".encode("utf-8", "surrogatepass")
    return "unknown:" + hashlib.sha256(salted).hexdigest()


def _locked_until(cur, recorded: str, now: datetime) -> datetime | None:
    times = [t for (t,) in cur.execute(
        "SELECT attempted_at FROM login_attempts WHERE username = ? AND NOT success"
        " AND attempted_at > coalesce((SELECT max(attempted_at) FROM login_attempts"
        "   WHERE username = ? AND success), TIMESTAMP '1970-01-01')"
        " ORDER BY attempted_at DESC LIMIT ?",
        [recorded, recorded, MAX_FAILURES]).fetchall()]
    if len(times) < MAX_FAILURES or times[0] - times[-1] >= FAILURE_WINDOW:
        return None
    until = times[0] + LOCK_DURATION
    return until if now < until else None


def locked_until(store: Store, username: str, now: datetime) -> datetime | None:
    """When the lock on this user name ends, or None if it is not locked at ``now``.

    Locked while the last ``MAX_FAILURES`` attempts since the last success were all failures,
    made within ``FAILURE_WINDOW`` of each other, and the newest is under ``LOCK_DURATION`` old.
    """
    recorded = attempt_name(store, username)
    with store.read() as cur:
        return _locked_until(cur, recorded, now)


def _claim_attempt(store: Store, recorded: str, now: datetime) -> None:
    """Check the lock and record a failed attempt in one transaction; AuthError when locked.

    Parallel attempts queue on the write lock, so no more than ``MAX_FAILURES`` of them can
    pass the check before the lock holds.
    """
    with store.transaction() as cur:
        until = _locked_until(cur, recorded, now)
        if until is None:
            cur.execute("INSERT INTO login_attempts (username, success, attempted_at)"
                        " VALUES (?, FALSE, ?)", [recorded, now])
    if until is not None:
        seconds = max(1, int((until - now).total_seconds() + 0.999))
        raise AuthError(f"too many failed attempts: try again in {seconds} s")


def authenticate(store: Store, username: str, password: str, clock: Clock = utcnow) -> User:
    """The user, if the password is right and the account active and not locked.

    Raises AuthError otherwise. Every attempt outside a lock is recorded (see
    :func:`attempt_name`), so a lock applies to unknown names too and reveals nothing.
    """
    name = normalise_username(username)[:64]
    now = clock()
    recorded = attempt_name(store, username)
    _claim_attempt(store, recorded, now)
    with store.read() as cur:
        row = cur.execute(
            "SELECT user_id, username, display_name, role, password_hash, active"
            " FROM users WHERE username = ?", [name]).fetchone()
    stored_hash = row[4] if row else _dummy_hash()
    try:
        _hasher.verify(stored_hash, password)
        verified = row is not None
    except (VerificationError, InvalidHashError, UnicodeEncodeError):
        verified = False
    if not verified:
        raise AuthError(BAD_LOGIN)
    if not row[5]:  # told only to someone who knows the password
        raise AuthError("this account is deactivated: ask an admin")
    with store.transaction() as cur:  # at the claimed time: clears the failure just recorded
        cur.execute("INSERT INTO login_attempts (username, success, attempted_at)"
                    " VALUES (?, TRUE, ?)", [recorded, now])
    if _hasher.check_needs_rehash(stored_hash):
        _store_hash(store, row[0], _hasher.hash(password), must_change=None)
    return _user(row[:4])


def _store_hash(store: Store, user_id: int, password_hash: str, must_change: bool | None) -> None:
    with store.transaction() as cur:
        if must_change is None:
            cur.execute("UPDATE users SET password_hash = ? WHERE user_id = ?",
                        [password_hash, user_id])
        else:
            cur.execute("UPDATE users SET password_hash = ?, must_change_password = ?"
                        " WHERE user_id = ?", [password_hash, must_change, user_id])


def _require_user(store: Store, user_id: int) -> None:
    with store.read() as cur:
        if not cur.execute("SELECT 1 FROM users WHERE user_id = ?", [user_id]).fetchone():
            raise UserError(f"no user with id {user_id}")


def set_password(store: Store, user_id: int, password: str, must_change: bool = False) -> None:
    """Replace a password (hashed). ``must_change``: a one-time password set by someone else."""
    validate_password(password)
    _require_user(store, user_id)
    _store_hash(store, user_id, _hasher.hash(password), must_change)


def change_own_password(store: Store, user_id: int, current: str, new: str) -> None:
    """A user replaces their own password; the current one must be given and the new differ."""
    with store.read() as cur:
        row = cur.execute("SELECT password_hash FROM users WHERE user_id = ?",
                          [user_id]).fetchone()
    if row is None:
        raise UserError(f"no user with id {user_id}")
    try:
        _hasher.verify(row[0], current)
    except (VerificationError, InvalidHashError):
        raise AuthError("the current password is wrong") from None
    if new == current:
        raise UserError("the new password must differ from the current one")
    set_password(store, user_id, new, must_change=False)


def must_change_password(store: Store, user_id: int) -> bool:
    with store.read() as cur:
        row = cur.execute("SELECT coalesce(must_change_password, FALSE) FROM users"
                          " WHERE user_id = ?", [user_id]).fetchone()
    return bool(row and row[0])


def get_user(store: Store, user_id: int) -> User | None:
    """The active user with this id, or None (unknown or deactivated)."""
    with store.read() as cur:
        row = cur.execute("SELECT user_id, username, display_name, role FROM users"
                          " WHERE user_id = ? AND active", [user_id]).fetchone()
    return _user(row) if row else None


def find_user(store: Store, username: str) -> Account:
    """The account with this user name (active or not); UserError if there is none."""
    name = normalise_username(username)
    for account in list_users(store):
        if account.username == name:
            return account
    raise UserError(f"no user named {name!r}")


def list_users(store: Store) -> list[Account]:
    with store.read() as cur:
        rows = cur.execute(
            "SELECT user_id, username, coalesce(display_name, username), role, active,"
            " coalesce(must_change_password, FALSE), created_at FROM users"
            " ORDER BY username").fetchall()
    return [Account(*row) for row in rows]


def _check_admins_remain(cur, user_id: int, role: str, active: bool) -> None:
    """Refuse a change that would leave the store without an active admin."""
    if role == "admin" and active:
        return
    others = cur.execute("SELECT count(*) FROM users WHERE role = 'admin' AND active"
                         " AND user_id <> ?", [user_id]).fetchone()[0]
    if others == 0:
        raise UserError("at least one active admin must remain")


def set_role(store: Store, user_id: int, role: str) -> None:
    validate_role(role)
    with store.transaction() as cur:
        row = cur.execute("SELECT active FROM users WHERE user_id = ?", [user_id]).fetchone()
        if row is None:
            raise UserError(f"no user with id {user_id}")
        _check_admins_remain(cur, user_id, role, row[0])
        cur.execute("UPDATE users SET role = ? WHERE user_id = ?", [role, user_id])


def set_active(store: Store, user_id: int, active: bool) -> None:
    """Deactivate (the user can no longer log in; their reads stay) or reactivate."""
    with store.transaction() as cur:
        row = cur.execute("SELECT role FROM users WHERE user_id = ?", [user_id]).fetchone()
        if row is None:
            raise UserError(f"no user with id {user_id}")
        _check_admins_remain(cur, user_id, row[0], active)
        cur.execute("UPDATE users SET active = ? WHERE user_id = ?", [active, user_id])
