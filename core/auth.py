"""Accounts: argon2 password hashes, roles, login with throttling.

Passwords are never stored or logged in clear: only argon2id hashes reach the store. New
passwords follow NIST SP 800-63B (5.1.1.2): at least 8 characters, no composition rules, and
refused when zxcvbn's estimate finds them guessable (its lists of common passwords, words and
names, repeats, sequences, keyboard patterns) or when they contain the user's own names.

A failed login says the same thing whether or not the user exists. Throttling (800-63B
5.2.2) counts slow guessing too: an account's failures since its last success within a rolling
day back off exponentially (the 5th locks it for 60 s, each further one doubles that, up to an
hour), and one client's failures over all accounts within an hour back off the same way from
the 20th. The current-password check of a password change is limited the same way. Everything
is derived from the append-only ``login_attempts`` table, so it holds across sessions and
restarts. An attempt is checked against the limits and recorded as a failure in one write
transaction, before the slow password check, so parallel guesses are limited too; a success
adds a success row at the same time, which clears the account's count. Attempts on an unknown
name are recorded under a salted hash of what was typed (it may be a password typed into the
wrong field), clients under a salted hash of their address. Setting a password moves
``users.password_set_at`` and ends every login session of the user (``login_sessions``, kept
by :mod:`core.login_sessions`), as a deactivation does. All
times are naive UTC, taken from an injectable clock so that tests can move time.
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
from zxcvbn import zxcvbn

from core.errors import UserError
from core.store import Store

ROLES = ("trainee", "supervisor", "admin")
STAFF_ROLES = ("supervisor", "admin")  # may see every trainee's results and set things up
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
MAX_FAILURES = 5                      # an account's failures before the first lock
CLIENT_MAX_FAILURES = 20              # one client's failures (any account) before its lock
ACCOUNT_WINDOW = timedelta(days=1)
CLIENT_WINDOW = timedelta(hours=1)
LOCK_DURATION = timedelta(seconds=60)  # the first lock; each further failure doubles it
MAX_LOCK = timedelta(hours=1)
MIN_GUESS_SCORE = 2                   # zxcvbn: >= 10^6 guesses, beyond online guessing
NAME_PART_LENGTH = 3                  # name parts this long or longer may not be in a password
PASSWORD_HELP = (f"At least {MIN_PASSWORD_LENGTH} characters, not a common password and not "
                 "your name; a few unrelated words make a good one.")
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


def _name_parts(names: tuple[str | None, ...]) -> list[str]:
    """The user's names and their words (``"Amelia Qx"`` -> ``amelia qx``, ``amelia``), lower
    case, each at least ``NAME_PART_LENGTH`` long."""
    parts = []
    for name in names:
        text = (name or "").strip().lower()
        parts += [text, *re.split(r"[\s_.@-]+", text)]
    return sorted({part for part in parts if len(part) >= NAME_PART_LENGTH}, key=len,
                  reverse=True)


def validate_password(password: str, *names: str | None) -> None:
    """UserError unless ``password`` is 8-256 characters, contains none of the user's
    ``names`` (user name, display name) and is not guessable by zxcvbn's estimate."""
    require_utf8(password, "password")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise UserError("the password cannot be blank")
    lowered = password.lower()
    if any(part in lowered for part in _name_parts(names)):
        raise UserError("the password must not contain your user name or your name")
    estimate = zxcvbn(password[:72], user_inputs=_name_parts(names))  # its limit: 72
    if estimate["score"] < MIN_GUESS_SCORE:
        reason = estimate["feedback"]["warning"] or "it is too easy to guess"
        raise UserError(f"this password is too common or too easy to guess ({reason.rstrip('.')}"
                        "): use a longer one, for example a few unrelated words")


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
                display_name: str | None = None, must_change_password: bool = False,
                first: bool = False) -> User:
    """Add a user; the password is kept only as an argon2 hash. ``first``: only on a store
    without users (the first administrator)."""
    name = validate_username(username)
    validate_role(role)
    display = (display_name or "").strip() or name
    require_utf8(display, "display name")
    validate_password(password, name, display)
    password_hash = _hasher.hash(password)
    with store.transaction() as cur:
        if first and cur.execute("SELECT count(*) FROM users").fetchone()[0]:
            raise UserError("the store already has users: ask an admin for an account")
        if cur.execute("SELECT 1 FROM users WHERE username = ?", [name]).fetchone():
            raise UserError(f"user name {name!r} is taken")
        row = cur.execute(
            "INSERT INTO users (username, display_name, password_hash, role, active,"
            " must_change_password, password_set_at) VALUES (?, ?, ?, ?, TRUE, ?, ?)"
            " RETURNING user_id, username, display_name, role",
            [name, display, password_hash, role, must_change_password, utcnow()]).fetchone()
    return _user(row)


def create_first_admin(store: Store, username: str, password: str,
                       display_name: str | None = None) -> User:
    """The first account of an empty store; refused once any user exists."""
    return create_user(store, username, password, "admin", display_name, first=True)


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


def client_name(store: Store, address: str | None) -> str | None:
    """What ``login_attempts.client`` records for a client's address: a salted SHA-256 (an
    address is personal data); None (no per-client limit) for the command line."""
    if address is None:
        return None
    salted = f"{_attempt_salt(store)}:client:{address}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(salted).hexdigest()


def _back_off(failures: list[datetime], free: int) -> datetime | None:
    """The end of the wait after ``failures`` (newest first): none before ``free`` of them,
    then ``LOCK_DURATION`` doubled for each one beyond, at most ``MAX_LOCK``."""
    if len(failures) < free:
        return None
    wait = min(LOCK_DURATION * 2 ** min(len(failures) - free, 20), MAX_LOCK)
    return failures[0] + wait


def _locked_until(cur, recorded: str, client: str | None, now: datetime) -> datetime | None:
    account = [t for (t,) in cur.execute(
        "SELECT attempted_at FROM login_attempts WHERE username = ? AND NOT success"
        " AND attempted_at > ? AND attempted_at > coalesce((SELECT max(attempted_at)"
        "   FROM login_attempts WHERE username = ? AND success), TIMESTAMP '1970-01-01')"
        " ORDER BY attempted_at DESC", [recorded, now - ACCOUNT_WINDOW, recorded]).fetchall()]
    ends = [_back_off(account, MAX_FAILURES)]
    if client is not None:
        ends.append(_back_off([t for (t,) in cur.execute(
            "SELECT attempted_at FROM login_attempts WHERE client = ? AND NOT success"
            " AND attempted_at > ? ORDER BY attempted_at DESC",
            [client, now - CLIENT_WINDOW]).fetchall()], CLIENT_MAX_FAILURES))
    until = max((end for end in ends if end is not None), default=None)
    return until if until is not None and now < until else None


def locked_until(store: Store, username: str, now: datetime,
                 client: str | None = None) -> datetime | None:
    """When the lock on this user name (or on this client, a :func:`client_name`) ends, or
    None if neither is locked at ``now``.

    The account's failures since its last success within ``ACCOUNT_WINDOW`` lock it from the
    ``MAX_FAILURES``-th on, the client's failures within ``CLIENT_WINDOW`` from the
    ``CLIENT_MAX_FAILURES``-th on: for ``LOCK_DURATION`` after the newest, doubled for each
    further failure, at most ``MAX_LOCK``.
    """
    recorded = attempt_name(store, username)
    with store.read() as cur:
        return _locked_until(cur, recorded, client, now)


def _claim_attempt(store: Store, recorded: str, client: str | None, now: datetime) -> None:
    """Check the limits and record a failed attempt in one transaction; AuthError when locked.

    Parallel attempts queue on the write lock, so no more than ``MAX_FAILURES`` of them can
    pass the check before the lock holds.
    """
    with store.transaction() as cur:
        until = _locked_until(cur, recorded, client, now)
        if until is None:
            cur.execute("INSERT INTO login_attempts (username, success, attempted_at, client)"
                        " VALUES (?, FALSE, ?, ?)", [recorded, now, client])
    if until is not None:
        seconds = max(1, int((until - now).total_seconds() + 0.999))
        raise AuthError(f"too many failed attempts: try again in {seconds} s")


def _record_success(store: Store, recorded: str, client: str | None, now: datetime) -> None:
    """At the claimed time: clears the account's failure just recorded (not the client's)."""
    with store.transaction() as cur:
        cur.execute("INSERT INTO login_attempts (username, success, attempted_at, client)"
                    " VALUES (?, TRUE, ?, ?)", [recorded, now, client])


def _verifies(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError, UnicodeEncodeError):
        return False


def authenticate(store: Store, username: str, password: str, clock: Clock = utcnow,
                 client: str | None = None) -> User:
    """The user, if the password is right and the account active and not locked.

    Raises AuthError otherwise. Every attempt outside a lock is recorded (see
    :func:`attempt_name`), so a lock applies to unknown names too and reveals nothing.
    ``client``: :func:`client_name` of the browser's address, for the per-client limit.
    """
    name = normalise_username(username)[:64]
    now = clock()
    recorded = attempt_name(store, username)
    _claim_attempt(store, recorded, client, now)
    with store.read() as cur:
        row = cur.execute(
            "SELECT user_id, username, display_name, role, password_hash, active"
            " FROM users WHERE username = ?", [name]).fetchone()
    stored_hash = row[4] if row else _dummy_hash()
    if not (_verifies(stored_hash, password) and row is not None):
        raise AuthError(BAD_LOGIN)
    if not row[5]:  # told only to someone who knows the password
        raise AuthError("this account is deactivated: ask an admin")
    _record_success(store, recorded, client, now)
    if _hasher.check_needs_rehash(stored_hash):
        _store_hash(store, row[0], _hasher.hash(password), must_change=None)
    return _user(row[:4])


def end_sessions(cur, user_id: int) -> None:
    """Revoke every login session of the user (inside the caller's write transaction)."""
    cur.execute("UPDATE login_sessions SET revoked_at = ? WHERE user_id = ?"
                " AND revoked_at IS NULL", [utcnow(), user_id])


def _store_hash(store: Store, user_id: int, password_hash: str, must_change: bool | None) -> None:
    """``must_change`` None: the same password rehashed (sessions go on); otherwise a new
    password, which ends all the user's login sessions (the page that changed it starts a
    new one for itself)."""
    with store.transaction() as cur:
        if must_change is None:
            cur.execute("UPDATE users SET password_hash = ? WHERE user_id = ?",
                        [password_hash, user_id])
        else:
            cur.execute("UPDATE users SET password_hash = ?, must_change_password = ?,"
                        " password_set_at = ? WHERE user_id = ?",
                        [password_hash, must_change, utcnow(), user_id])
            end_sessions(cur, user_id)


def _account_row(store: Store, user_id: int) -> tuple:
    with store.read() as cur:
        row = cur.execute("SELECT username, coalesce(display_name, username), password_hash"
                          " FROM users WHERE user_id = ?", [user_id]).fetchone()
    if row is None:
        raise UserError(f"no user with id {user_id}")
    return row


def set_password(store: Store, user_id: int, password: str, must_change: bool = False) -> None:
    """Replace a password (hashed). ``must_change``: a one-time password set by someone else.
    Every login session of the user ends."""
    username, display, _ = _account_row(store, user_id)
    validate_password(password, username, display)
    _store_hash(store, user_id, _hasher.hash(password), must_change)


def change_own_password(store: Store, user_id: int, current: str, new: str,
                        clock: Clock = utcnow, client: str | None = None) -> None:
    """A user replaces their own password; the current one must be given (a wrong one counts
    as a failed login of the account and the client, with the same limits) and the new differ."""
    username, _, password_hash = _account_row(store, user_id)
    now = clock()
    _claim_attempt(store, username, client, now)
    if not _verifies(password_hash, current):
        raise AuthError("the current password is wrong")
    _record_success(store, username, client, now)
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
        if not active:
            end_sessions(cur, user_id)
