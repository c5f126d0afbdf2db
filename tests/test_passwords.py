"""Passwords and guessing as NIST SP 800-63B asks: common and name-based passwords refused,
throttling that counts slow guessing (per account over a day, per client over all accounts),
the same limit on the Account page's current-password check, and a password change that ends
the user's other sessions."""
from __future__ import annotations

import pytest

from core import auth
from core.auth import AuthError
from core.errors import UserError
from tests.app_pages import app_as, change_password
from tests.test_auth import PASSWORD, Clock

pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.mark.parametrize("weak", ["password", "12345678", "aaaaaaaa", "P@ssw0rd", "Password1",
                                  "qwertyuiop", "iloveyou1"])
def test_common_passwords_are_refused(store, weak):
    with pytest.raises(UserError, match="too common or too easy to guess"):
        auth.create_user(store, "alice", weak, "trainee")
    assert not auth.has_users(store)


@pytest.mark.parametrize("weak", ["amelia2024!", "Xq-AMELIA-77", "Wellingtonia#1"])
def test_passwords_holding_the_users_names_are_refused(store, weak):
    with pytest.raises(UserError, match="your user name or your name"):
        auth.create_user(store, "amelia", weak, "trainee", display_name="Jo Wellingtonia")
    account = auth.create_user(store, "amelia", "gravel lantern orbit", "trainee",
                               display_name="Jo Wellingtonia")
    with pytest.raises(UserError, match="your user name or your name"):
        auth.set_password(store, account.user_id, weak)


def test_a_reasonable_passphrase_is_accepted_and_the_length_minimum_holds(store):
    with pytest.raises(UserError, match="at least 8"):
        auth.create_user(store, "alice", "k7#pQz", "trainee")
    assert auth.create_user(store, "alice", "k7#pQz2m", "trainee").username == "alice"


def test_one_guess_every_15_seconds_is_throttled(store):
    """The probe: 40 guesses in 10 minutes, then the right password worked. Now the waits
    double after the fifth failure, so few guesses are ever checked and the right password
    right after them is refused too."""
    auth.create_user(store, "alice", PASSWORD, "trainee")
    clock = Clock()
    checked = 0
    for _ in range(40):
        try:
            auth.authenticate(store, "alice", "wrong password", clock=clock)
        except AuthError as error:
            checked += str(error) == auth.BAD_LOGIN
        clock.advance(15)
    assert checked <= 8
    with pytest.raises(AuthError, match="too many failed attempts"):
        auth.authenticate(store, "alice", PASSWORD, clock=clock)


def test_the_back_off_doubles_over_a_day_and_a_success_resets_it(store):
    auth.create_user(store, "alice", PASSWORD, "trainee")
    clock = Clock()
    waits = []
    for _ in range(auth.MAX_FAILURES + 3):
        until = auth.locked_until(store, "alice", clock())
        if until is not None:
            waits.append(round((until - clock()).total_seconds()))
            clock.now = until
        with pytest.raises(AuthError, match="wrong"):
            auth.authenticate(store, "alice", "wrong password", clock=clock)
    assert waits == [60, 120, 240]
    clock.advance(3 * 3600)  # hours later, the same day: still counted
    with pytest.raises(AuthError, match="wrong"):
        auth.authenticate(store, "alice", "wrong password", clock=clock)
    assert auth.locked_until(store, "alice", clock()) == clock() + 16 * auth.LOCK_DURATION
    for _ in range(3):  # the waits stop growing at MAX_LOCK
        clock.now = auth.locked_until(store, "alice", clock())
        with pytest.raises(AuthError, match="wrong"):
            auth.authenticate(store, "alice", "wrong password", clock=clock)
    assert auth.locked_until(store, "alice", clock()) == clock() + auth.MAX_LOCK
    clock.advance(auth.MAX_LOCK.total_seconds())
    assert auth.authenticate(store, "alice", PASSWORD, clock=clock).username == "alice"
    clock.advance(1)
    with pytest.raises(AuthError, match="wrong"):  # the success cleared the count
        auth.authenticate(store, "alice", "wrong password", clock=clock)
    assert auth.locked_until(store, "alice", clock()) is None


def test_one_client_guessing_over_many_accounts_is_limited(store):
    names = [f"user{index:02d}" for index in range(auth.CLIENT_MAX_FAILURES + 2)]
    for name in names:
        auth.create_user(store, name, PASSWORD, "trainee")
    attacker = auth.client_name(store, "203.0.113.9")
    clock = Clock()
    outcomes = []
    for name in names:  # one guess per account: no account lock ever holds
        with pytest.raises(AuthError) as refused:
            auth.authenticate(store, name, "guess-" + name, clock=clock, client=attacker)
        outcomes.append(str(refused.value))
        clock.advance(10)
    assert outcomes[:auth.CLIENT_MAX_FAILURES] == [auth.BAD_LOGIN] * auth.CLIENT_MAX_FAILURES
    assert all("too many failed attempts" in text
               for text in outcomes[auth.CLIENT_MAX_FAILURES:])
    with pytest.raises(AuthError, match="too many"):
        auth.authenticate(store, names[0], PASSWORD, clock=clock, client=attacker)
    colleague = auth.client_name(store, "198.51.100.4")
    assert auth.authenticate(store, names[0], PASSWORD, clock=clock, client=colleague)
    with store.read() as cur:
        clients = {c for (c,) in cur.execute("SELECT DISTINCT client FROM login_attempts")
                   .fetchall()}
    assert clients == {attacker, colleague} and "203.0.113.9" not in str(clients)


def test_the_current_password_check_is_limited_like_a_login(store):
    user = auth.create_user(store, "alice", PASSWORD, "trainee")
    clock = Clock()
    for _ in range(auth.MAX_FAILURES):
        with pytest.raises(AuthError, match="current password is wrong"):
            auth.change_own_password(store, user.user_id, "wrong guess", "gravel lantern orbit",
                                     clock=clock)
        clock.advance(1)
    with pytest.raises(AuthError, match="too many failed attempts"):
        auth.change_own_password(store, user.user_id, PASSWORD, "gravel lantern orbit",
                                 clock=clock)
    with pytest.raises(AuthError, match="too many failed attempts"):  # one count for both
        auth.authenticate(store, "alice", PASSWORD, clock=clock)
    clock.advance(60)
    auth.change_own_password(store, user.user_id, PASSWORD, "gravel lantern orbit", clock=clock)
    assert auth.authenticate(store, "alice", "gravel lantern orbit", clock=clock)


def test_a_password_change_ends_the_users_other_sessions(app_db):
    from pages import ui

    user = auth.create_user(ui.get_store(), "alice", PASSWORD, "trainee")
    here = app_as(user, "pages/account.py")
    elsewhere = app_as(user, "pages/account.py")
    other = auth.create_user(ui.get_store(), "bert", PASSWORD + "-b", "trainee")
    bystander = app_as(other, "pages/account.py")
    change_password(here, PASSWORD, "gravel lantern orbit")
    assert not here.error, [e.value for e in here.error]
    assert here.session_state["user"] == user  # the session that changed it goes on
    assert any("Password changed" in message.value for message in here.success)
    elsewhere.run()
    assert [title.value for title in elsewhere.title] == ["SonoCase"]  # logged out
    assert [button.label for button in elsewhere.button] == ["Log in"]
    bystander.run()
    assert bystander.session_state["user"] == other
    here.run()
    assert here.session_state["user"] == user
