"""Accounts: hashes, login, lockout with an injected clock, deactivation, roles, odd input."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

import pytest
from argon2 import PasswordHasher

from core import auth
from core.auth import AuthError
from core.errors import UserError
from core.store import Store

PASSWORD = "correct horse"
START = datetime(2026, 1, 1, 12, 0, 0)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


pytestmark = pytest.mark.usefixtures("fast_hashing")


def _stored_hash(store, username: str) -> str:
    with store.read() as cur:
        return cur.execute("SELECT password_hash FROM users WHERE username = ?",
                           [username]).fetchone()[0]


def test_password_is_stored_as_argon2_hash_only(store, monkeypatch):
    monkeypatch.undo()  # the production argon2 parameters
    auth.create_user(store, "alice", PASSWORD, "trainee")
    stored = _stored_hash(store, "alice")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in stored
    with store.read() as cur:
        dump = str(cur.execute("SELECT * FROM users").fetchall())
        dump += str(cur.execute("SELECT * FROM login_attempts").fetchall())
    assert PASSWORD not in dump


def test_right_password_logs_in_and_wrong_one_does_not(store):
    created = auth.create_user(store, "Alice", PASSWORD, "supervisor", "Dr Alice")
    user = auth.authenticate(store, "  ALICE ", PASSWORD)
    assert user == created
    assert (user.username, user.display_name, user.role) == ("alice", "Dr Alice", "supervisor")
    with pytest.raises(AuthError) as wrong:
        auth.authenticate(store, "alice", PASSWORD + "x")
    with pytest.raises(AuthError) as unknown:
        auth.authenticate(store, "nobody", PASSWORD)
    assert str(wrong.value) == str(unknown.value)  # the message does not tell who exists


def test_five_failures_lock_for_sixty_seconds(store):
    auth.create_user(store, "alice", PASSWORD, "trainee")
    clock = Clock()
    for _ in range(auth.MAX_FAILURES):
        with pytest.raises(AuthError, match="wrong"):
            auth.authenticate(store, "alice", "wrong password", clock=clock)
        clock.advance(1)
    with pytest.raises(AuthError, match="too many failed attempts"):
        auth.authenticate(store, "alice", PASSWORD, clock=clock)  # even the right password
    clock.advance(58)  # 59 s after the fifth failure: still locked
    with pytest.raises(AuthError, match="try again in 1 s"):
        auth.authenticate(store, "alice", PASSWORD, clock=clock)
    clock.advance(1)
    assert auth.authenticate(store, "alice", PASSWORD, clock=clock).username == "alice"


def test_four_failures_do_not_lock_but_slow_failures_count(store):
    auth.create_user(store, "alice", PASSWORD, "trainee")
    clock = Clock()
    for _ in range(auth.MAX_FAILURES - 1):
        with pytest.raises(AuthError):
            auth.authenticate(store, "alice", "wrong password", clock=clock)
    assert auth.authenticate(store, "alice", PASSWORD, clock=clock)
    clock.advance(1)
    for _ in range(auth.MAX_FAILURES):  # one failure every 20 s still counts (was: never
        with pytest.raises(AuthError, match="wrong"):  # five within a minute, never a lock)
            auth.authenticate(store, "alice", "wrong password", clock=clock)
        clock.advance(20)
    with pytest.raises(AuthError, match="too many"):
        auth.authenticate(store, "alice", PASSWORD, clock=clock)


def test_success_resets_the_failure_count(store):
    auth.create_user(store, "alice", PASSWORD, "trainee")
    clock = Clock()
    for attempt in range(2 * auth.MAX_FAILURES - 2):
        if attempt == auth.MAX_FAILURES - 1:
            assert auth.authenticate(store, "alice", PASSWORD, clock=clock)
        else:
            with pytest.raises(AuthError, match="wrong"):
                auth.authenticate(store, "alice", "nope nope", clock=clock)
        clock.advance(1)
    assert auth.locked_until(store, "alice", clock()) is None


def test_unknown_names_lock_too(store):
    clock = Clock()
    for _ in range(auth.MAX_FAILURES):
        with pytest.raises(AuthError, match="wrong"):
            auth.authenticate(store, "ghost", "whatever1", clock=clock)
    with pytest.raises(AuthError, match="too many"):
        auth.authenticate(store, "ghost", "whatever1", clock=clock)


def test_a_password_typed_as_the_user_name_is_kept_only_as_a_salted_hash(store):
    auth.create_user(store, "alice", PASSWORD, "trainee")
    clock = Clock()
    for _ in range(auth.MAX_FAILURES):
        with pytest.raises(AuthError, match="wrong"):
            auth.authenticate(store, PASSWORD, "alice", clock=clock)  # fields swapped
    with pytest.raises(AuthError, match="too many"):  # the lock holds per typed name
        auth.authenticate(store, PASSWORD, "alice", clock=clock)
    assert auth.authenticate(store, "alice", PASSWORD, clock=clock).username == "alice"
    with store.read() as cur:
        rows = cur.execute("SELECT username, success FROM login_attempts").fetchall()
        salt = json.loads(cur.execute("SELECT value FROM settings WHERE key = ?",
                                      [auth.ATTEMPT_SALT_KEY]).fetchone()[0])
    hidden = "unknown:" + hashlib.sha256(f"{salt}:{PASSWORD}".encode()).hexdigest()
    assert sorted(set(rows)) == [("alice", False), ("alice", True), (hidden, False)]
    assert PASSWORD not in str(rows) and len(salt) >= 32


def test_each_store_has_its_own_salt(store, tmp_path):
    with Store(tmp_path / "other" / "results.duckdb") as other:
        assert auth.attempt_name(store, "ghost") != auth.attempt_name(other, "ghost")
    assert auth.attempt_name(store, " Ghost ") == auth.attempt_name(store, "ghost")


def test_account_text_that_is_not_utf8_is_refused(store):
    with pytest.raises(UserError, match="display name is not valid UTF-8"):
        auth.create_user(store, "alice", PASSWORD, "trainee", display_name="caf\udce9")
    with pytest.raises(UserError, match="password is not valid UTF-8"):
        auth.create_user(store, "alice", "caf\udce9-password", "trainee")
    assert auth.list_users(store) == []


def test_deactivated_user_is_refused_and_reactivated_user_accepted(store):
    auth.create_user(store, "root", PASSWORD, "admin")
    alice = auth.create_user(store, "alice", PASSWORD, "trainee")
    auth.set_active(store, alice.user_id, False)
    with pytest.raises(AuthError, match="deactivated"):
        auth.authenticate(store, "alice", PASSWORD)
    assert auth.get_user(store, alice.user_id) is None
    auth.set_active(store, alice.user_id, True)
    assert auth.authenticate(store, "alice", PASSWORD) == alice


def test_sql_looking_input_is_plain_text(store):
    evil = "x'); DROP TABLE users; --"
    user = auth.create_user(store, "bobby", PASSWORD, "trainee", display_name=evil)
    assert auth.get_user(store, user.user_id).display_name == evil
    with pytest.raises(AuthError):
        auth.authenticate(store, evil, PASSWORD)
    with pytest.raises(AuthError):
        auth.authenticate(store, "' OR '1'='1", "' OR '1'='1")
    with store.read() as cur:
        names = {n for (n,) in cur.execute("SELECT username FROM login_attempts").fetchall()}
        assert cur.execute("SELECT count(*) FROM users").fetchone()[0] == 1
    assert names == {auth.attempt_name(store, evil), auth.attempt_name(store, "' OR '1'='1")}
    assert len(names) == 2 and not names & {evil.lower(), "' or '1'='1"}
    with pytest.raises(UserError, match="not allowed"):
        auth.create_user(store, evil, PASSWORD, "trainee")


@pytest.mark.parametrize("username,password,role,message", [
    ("a", PASSWORD, "trainee", "not allowed"),
    ("alice smith", PASSWORD, "trainee", "not allowed"),
    ("alice", "short", "trainee", "at least 8"),
    ("alice", " " * 9, "trainee", "blank"),
    ("alice", PASSWORD, "boss", "unknown role"),
])
def test_bad_input_is_refused_with_a_clear_error(store, username, password, role, message):
    with pytest.raises(UserError, match=message):
        auth.create_user(store, username, password, role)
    assert not auth.has_users(store)


def test_taken_username_is_refused(store):
    auth.create_user(store, "alice", PASSWORD, "trainee")
    with pytest.raises(UserError, match="taken"):
        auth.create_user(store, "ALICE", PASSWORD, "admin")


def test_first_admin_only_on_an_empty_store(store):
    assert not auth.has_users(store)
    admin = auth.create_first_admin(store, "root", PASSWORD)
    assert admin.role == "admin" and auth.has_users(store)
    with pytest.raises(UserError, match="already has users"):
        auth.create_first_admin(store, "intruder", PASSWORD)


def test_one_time_password_must_be_changed(store):
    alice = auth.create_user(store, "alice", "one-time-pw", "trainee", must_change_password=True)
    assert auth.must_change_password(store, alice.user_id)
    with pytest.raises(AuthError, match="current password is wrong"):
        auth.change_own_password(store, alice.user_id, "not it at all", "brand new pw")
    with pytest.raises(UserError, match="differ"):
        auth.change_own_password(store, alice.user_id, "one-time-pw", "one-time-pw")
    auth.change_own_password(store, alice.user_id, "one-time-pw", "brand new pw")
    assert not auth.must_change_password(store, alice.user_id)
    with pytest.raises(AuthError):
        auth.authenticate(store, "alice", "one-time-pw")
    assert auth.authenticate(store, "alice", "brand new pw") == alice
    auth.set_password(store, alice.user_id, "admin reset 1", must_change=True)
    assert auth.must_change_password(store, alice.user_id)


def test_the_last_active_admin_cannot_be_removed(store):
    root = auth.create_user(store, "root", PASSWORD, "admin")
    with pytest.raises(UserError, match="active admin"):
        auth.set_role(store, root.user_id, "trainee")
    with pytest.raises(UserError, match="active admin"):
        auth.set_active(store, root.user_id, False)
    other = auth.create_user(store, "other", PASSWORD, "admin")
    auth.set_role(store, root.user_id, "supervisor")
    assert auth.get_user(store, root.user_id).role == "supervisor"
    with pytest.raises(UserError, match="active admin"):
        auth.set_active(store, other.user_id, False)


def test_list_and_find_users(store):
    auth.create_user(store, "zoe", PASSWORD, "trainee", must_change_password=True)
    auth.create_user(store, "adam", PASSWORD, "supervisor")
    accounts = auth.list_users(store)
    assert [a.username for a in accounts] == ["adam", "zoe"]
    assert auth.find_user(store, "ZOE").must_change_password is True
    with pytest.raises(UserError, match="no user named"):
        auth.find_user(store, "eve")


def test_a_weaker_hash_is_upgraded_at_login(store, monkeypatch):
    auth.create_user(store, "alice", PASSWORD, "trainee")
    weak = _stored_hash(store, "alice")
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    monkeypatch.setattr(auth, "_hasher", stronger)
    assert auth.authenticate(store, "alice", PASSWORD)
    upgraded = _stored_hash(store, "alice")
    assert upgraded != weak and not stronger.check_needs_rehash(upgraded)
    assert auth.authenticate(store, "alice", PASSWORD)


def test_user_command_adds_lists_resets_and_deactivates(tmp_path, monkeypatch, capsys):
    import io
    import json

    from core.cli import main
    from core.store import Store

    db = str(tmp_path / "users.duckdb")
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["user", "--db", db, "add", "Alice", "--role", "supervisor",
                 "--password-stdin"]) == 0
    assert main(["user", "--db", db, "add", "root", "--role", "admin", "--one-time"]) == 0
    one_time = capsys.readouterr().out.strip().splitlines()[-1].split()[-1]
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "--db", db, "add", "bob", "--role", "trainee",
                 "--password-stdin"]) == 2
    assert "at least 8" in capsys.readouterr().err
    assert main(["user", "--db", db, "reset", "alice"]) == 0
    reset = capsys.readouterr().out.strip().splitlines()[-1].split()[-1]
    assert main(["user", "--db", db, "deactivate", "alice"]) == 0
    assert main(["user", "--db", db, "deactivate", "root"]) == 2  # the last admin
    assert "active admin" in capsys.readouterr().err
    assert main(["user", "--db", db, "list", "--json"]) == 0
    listed = {u["username"]: u for u in json.loads(capsys.readouterr().out)}
    assert listed["alice"]["active"] is False and listed["alice"]["must_change_password"]
    assert listed["root"]["must_change_password"] and "bob" not in listed
    with Store(db) as store:
        assert auth.authenticate(store, "root", one_time).role == "admin"
        with pytest.raises(AuthError, match="deactivated"):
            auth.authenticate(store, "alice", reset)
