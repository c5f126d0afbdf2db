"""The app shell through Streamlit's AppTest: first admin, login, role navigation, page role
checks, logout, forced password change, the admin page."""
from __future__ import annotations

import re

import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import auth
from core.store import Store
from tests.app_pages import change_password

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
PASSWORD = "correct horse"
ROLE_PAGES = {  # every page app.py may route, with the roles that may see it
    "pages/quiz.py": {"trainee"},
    "pages/reading.py": {"trainee"},
    "pages/studies.py": {"supervisor", "admin"},
    "pages/admin.py": {"admin"},
    "pages/cohort.py": {"supervisor", "admin"},
    "pages/progress.py": {"trainee", "supervisor", "admin"},
    "pages/models.py": {"trainee", "supervisor", "admin"},
    "pages/account.py": {"trainee", "supervisor", "admin"},
}


@pytest.fixture
def db(app_db, fast_hashing) -> Path:
    """A fresh store for the app, with cheap hashing."""
    return app_db


def add_user(db: Path, username: str, role: str, must_change: bool = False) -> auth.User:
    with Store(db) as store:
        return auth.create_user(store, username, PASSWORD, role,
                                must_change_password=must_change)


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=30)


def log_in(at: AppTest, username: str, password: str = PASSWORD) -> AppTest:
    inputs = {widget.label: widget for widget in at.text_input}
    inputs["User name"].input(username)
    inputs["Password"].input(password)
    at.button[0].click()
    return at.run()


def titles(at: AppTest) -> list[str]:
    return [title.value for title in at.title]


def fill(at: AppTest, **values: str) -> AppTest:
    """Type into the text inputs named by their labels, click the first button, rerun."""
    inputs = {widget.label: widget for widget in at.text_input}
    for label, value in values.items():
        inputs[label].input(value)
    at.button[0].click()
    return at.run()


TOKEN = "Setup token (from the server's terminal)"


def test_empty_store_offers_the_first_admin_only_with_the_terminals_token(db, capfd):
    at = app().run()
    assert titles(at) == ["Welcome to SonoCase"]
    token = re.search(r"one-time setup token: (\S+)", capfd.readouterr().err).group(1)
    first = {"User name": "root", "Password": PASSWORD, "Repeat the password": PASSWORD}
    for typed in ("", "guess", token[:-1]):  # whoever opens the page first: refused
        fill(at, **{TOKEN: typed}, **first)
        assert "not the setup token" in at.error[0].value
        assert at.session_state["user"] is None
    with Store(db) as store:
        assert not auth.has_users(store)
    fill(at, **{TOKEN: token, "Repeat the password": PASSWORD + "!"})
    assert "differ" in at.error[0].value
    fill(at, **{"Repeat the password": PASSWORD})
    assert at.session_state["user"].role == "admin"
    assert "Administration" in titles(at)
    assert token not in capfd.readouterr().err  # printed once, at the first visit
    with Store(db) as store:
        assert [a.username for a in auth.list_users(store)] == ["root"]


def test_wrong_password_shows_an_error_and_logs_nobody_in(db):
    add_user(db, "alice", "trainee")
    at = log_in(app().run(), "alice", "not the password")
    assert at.error[0].value == auth.BAD_LOGIN
    assert at.session_state["user"] is None
    assert titles(at) == ["SonoCase"]


@pytest.mark.parametrize("role", ["trainee", "supervisor", "admin"])
def test_navigation_holds_exactly_the_pages_of_the_role(db, role):
    add_user(db, "someone", role)
    at = log_in(app().run(), "someone")
    assert at.session_state["user"].role == role
    assert not at.exception
    for page, roles in ROLE_PAGES.items():
        if not (ROOT / page).is_file():
            continue
        if role in roles:
            at.switch_page(page).run()
            assert not at.exception, page
            assert not at.error, (page, [e.value for e in at.error])
        else:
            with pytest.raises(ValueError, match="navigation page"):
                at.switch_page(page)


@pytest.mark.parametrize("role", ["trainee", "supervisor"])
def test_the_admin_page_refuses_other_roles_when_run_directly(db, role):
    user = add_user(db, "someone", role)
    at = AppTest.from_file(ROOT / "pages" / "admin.py", default_timeout=30)
    at.session_state["user"] = user
    at.run()
    assert "admin accounts" in at.error[0].value
    assert "Administration" not in titles(at)
    assert not at.dataframe


def test_pages_refuse_a_visitor_who_is_not_logged_in(db):
    add_user(db, "root", "admin")
    for page in ("admin.py", "account.py"):
        at = AppTest.from_file(ROOT / "pages" / page, default_timeout=30).run()
        assert at.error[0].value == "Please log in first.", page
        assert not at.title, page


def test_logout_clears_the_session(db):
    add_user(db, "alice", "trainee")
    at = log_in(app().run(), "alice")
    at.session_state["scratch"] = "left by a page"
    logout = next(button for button in at.sidebar.button if button.label == "Log out")
    logout.click()
    at.run()
    assert at.session_state["user"] is None
    assert "scratch" not in at.session_state
    assert titles(at) == ["SonoCase"]


def test_one_time_password_forces_a_new_password(db):
    user = add_user(db, "alice", "trainee", must_change=True)
    at = log_in(app().run(), "alice")
    assert titles(at) == ["Account"]
    assert "one-time password" in at.warning[0].value
    with pytest.raises(ValueError):
        at.switch_page("pages/progress.py")  # nothing but the account page until changed
    change_password(at, PASSWORD, "my very own")
    assert at.success[0].value.startswith("Password changed")
    with Store(db) as store:
        assert not auth.must_change_password(store, user.user_id)
        assert auth.authenticate(store, "alice", "my very own") == user
    at.switch_page("pages/account.py").run()  # the full navigation is back
    assert titles(at) == ["Account"] and not at.warning


def test_admin_adds_a_user_with_a_one_time_password(db):
    add_user(db, "root", "admin")
    at = log_in(app().run(), "root")
    assert "Administration" in titles(at)
    form = {widget.label: widget for widget in at.text_input}
    form["User name"].input("newbie")
    next(b for b in at.button if b.label == "Add the user").click()
    at.run()
    one_time = at.code[0].value
    assert "newbie" in at.success[0].value
    with Store(db) as store:
        newbie = auth.authenticate(store, "newbie", one_time)
        assert newbie.role == "trainee" and auth.must_change_password(store, newbie.user_id)


def test_admin_changes_a_role_and_deactivates_a_user(db):
    add_user(db, "root", "admin")
    alice = add_user(db, "alice", "trainee")
    at = log_in(app().run(), "root")
    at.selectbox(key="manage_user").select("alice").run()
    at.selectbox(key=f"role_{alice.user_id}").select("supervisor").run()
    next(b for b in at.button if b.label == "Save the role").click()
    at.run()
    next(b for b in at.button if b.label == "Deactivate").click()
    at.run()
    assert "Deactivate alice?" in at.warning[0].value  # asked first: it cannot be undone
    next(b for b in at.button if b.label == "Cancel").click()
    at.run()
    with Store(db) as store:
        assert auth.find_user(store, "alice").active
    next(b for b in at.button if b.label == "Deactivate").click()
    at.run()
    next(b for b in at.button if b.label == "Yes, deactivate").click()
    at.run()
    with Store(db) as store:
        account = auth.find_user(store, "alice")
    assert (account.role, account.active) == ("supervisor", False)
    assert "deactivated" in at.success[0].value


def test_admin_resets_a_password_after_confirming_and_sees_the_new_user_at_once(db):
    add_user(db, "root", "admin")
    at = log_in(app().run(), "root")
    form = {widget.label: widget for widget in at.text_input}
    form["User name"].input("newbie")
    next(b for b in at.button if b.label == "Add the user").click()
    at.run()
    users = next(f.value for f in at.dataframe if "User name" in f.value.columns)
    assert "newbie" in list(users["User name"])  # in the list on the same run
    assert at.selectbox(key="manage_user").value == "newbie"
    first = at.code[0].value
    next(b for b in at.button if b.label == "Reset the password").click()
    at.run()
    assert "Reset the password of newbie?" in at.warning[0].value
    with Store(db) as store:
        assert auth.authenticate(store, "newbie", first)  # nothing changed yet
    next(b for b in at.button if b.label == "Yes, reset the password").click()
    at.run()
    second = at.code[0].value
    assert second != first and "newbie" in at.success[0].value
    with Store(db) as store:
        assert auth.authenticate(store, "newbie", second)


def test_admin_sees_and_cancels_a_running_job(db):
    from pages import ui

    add_user(db, "root", "admin")
    at = log_in(app().run(), "root")
    started = threading.Event()

    def work(progress, cancel):
        progress({"fraction": 0.3, "message": "resnet50 epoch 1/3"})
        started.set()
        cancel.wait(30)

    runner = ui.get_runner()
    job_id = runner.start("train", {"dataset": "phantom", "archs": ["resnet50"],
                                    "profile": "quick"}, work)
    assert started.wait(30)
    at.run()
    bars = [(bar.value, bar.text) for bar in at.progress]
    assert (30, "train: resnet50 epoch 1/3") in bars  # the admin page's job list
    assert (30, "Training models: resnet50 epoch 1/3") in [
        (bar.value, bar.text) for bar in at.sidebar.progress]  # the panel every page shows
    assert "Still to train: resnet50" in [caption.value for caption in at.sidebar.caption]
    next(b for b in at.button if b.label == "Cancel").click()
    at.run()
    assert runner.wait(job_id, 30).status == "cancelled"


def test_app_start_recovers_stale_jobs_and_trains_the_missing_demo_models(db, monkeypatch):
    from core.demo import FIRST_ARCH, build_demo
    from pages import ui
    from tests.demo_fakes import install_fake_phantoms, install_fake_training

    install_fake_phantoms(monkeypatch)
    calls = install_fake_training(monkeypatch)
    monkeypatch.setenv("SONOCASE_AUTOTRAIN", "1")
    with Store(db) as store:
        build_demo(store, n=20)
        with store.transaction() as cur:
            cur.execute("INSERT INTO jobs (job_id, kind, status, progress, started_at)"
                        " VALUES ('killed', 'train', 'running', 0.5, TIMESTAMP '2026-01-01')")
    at = app().run()
    assert titles(at) == ["SonoCase"]  # the login page, served while training starts
    ui.start_autotrain().join(30)
    job = ui.get_runner().status()[0]
    assert ui.get_runner().wait(job.job_id, 30).status == "done"
    assert calls[0]["archs"][0] == FIRST_ARCH and len(calls[0]["archs"]) == 6
    with ui.get_store().read() as cur:
        assert cur.execute("SELECT status FROM jobs WHERE job_id = 'killed'").fetchone() == (
            "failed",)


def test_cached_model_loads_once_per_checkpoint_on_the_available_device(db, monkeypatch):
    import sys
    import types

    import torch

    from pages import ui

    loads = []

    def load_model(store, model_id, device, checkpoint_sha256):
        loads.append((model_id, device, checkpoint_sha256))
        return object()

    loading = types.ModuleType("core.models.loading")
    loading.load_model = load_model
    monkeypatch.setitem(sys.modules, "core.models.loading", loading)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert ui.cached_model("m1", "aaa") is ui.cached_model("m1", "aaa")
    assert loads == [("m1", device, "aaa")]
    ui.cached_model("m1", "bbb")  # retrained, or a cross-fitted fold: that checkpoint
    assert loads == [("m1", device, "aaa"), ("m1", device, "bbb")]


def test_a_deactivated_user_sees_why_on_the_login_page(db):
    from pages import ui

    add_user(db, "root", "admin")
    alice = add_user(db, "alice", "trainee")
    at = log_in(app().run(), "alice")
    assert "Quiz" in titles(at)
    auth.set_active(ui.get_store(), alice.user_id, False)  # an admin deactivates her
    at.run()
    assert titles(at) == ["SonoCase"]  # back at the login page, told why
    assert [w.value for w in at.warning] == [ui.DEACTIVATED]
    fresh = log_in(app().run(), "alice")  # a new browser: told once the password is right
    assert any("deactivated" in error.value for error in fresh.error)
    wrong = log_in(app().run(), "alice", "not her password")  # never told without it
    assert not any("deactivated" in error.value for error in wrong.error)
