"""The server's shared objects survive Streamlit's ``clear_cache`` message: any browser, logged
in or not, can send it, and Streamlit then empties ``st.cache_resource`` for every session. The
store handle and the job runner must stay the same objects, so a running import is still seen
and a second one is still refused."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.runtime.app_session import AppSession, AppSessionState
from streamlit.runtime.state import SessionState
from streamlit.testing.v1 import AppTest

from core import server_objects
from core.errors import UserError
from tests.app_pages import APP
from tests.quiz_helpers import make_user
from tests.test_admin_page import PAGE as ADMIN_PAGE


def send_clear_cache(session_state: SessionState) -> None:
    """What the server does with a browser's ``clear_cache`` message: Streamlit's own
    ``AppSession.handle_backmsg`` on that session (it clears the process's caches and the
    sender's session state)."""
    message = BackMsg()
    message.clear_cache = True
    session = AppSession.__new__(AppSession)  # only the state its clear_cache handler uses
    session._session_state = session_state
    session._state = AppSessionState.SHUTDOWN_REQUESTED  # its __del__ then has nothing to do
    session.handle_backmsg(message)


@pytest.fixture
def db(app_db, monkeypatch) -> Path:
    monkeypatch.delenv("SONOCASE_IMPORT_ROOT", raising=False)
    return app_db


def test_a_clear_cache_from_the_login_page_keeps_the_store_runner_and_running_job(db):
    from pages import ui

    visitor = AppTest.from_file(str(APP), default_timeout=60).run()
    assert [button.label for button in visitor.button] == ["Create the administrator"]
    store, runner = ui.get_store(), ui.get_runner()
    admin = make_user(store, "root", "admin")
    release = threading.Event()

    def slow_import(progress, cancel):
        progress({"fraction": 0.76, "message": "read 76 of 100 images"})
        release.wait(60)

    job_id = runner.start("import", {"kind": "folder", "dataset": "big"}, slow_import)
    try:
        send_clear_cache(SessionState())  # a visitor nobody logged in
        assert ui.get_store() is store and ui.get_runner() is runner
        assert server_objects.server_objects().store is store
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.session_state["user"] = admin
        at.run()
        assert (76, "Importing cases: read 76 of 100 images") in [
            (bar.value, bar.text) for bar in at.sidebar.progress]
        at = AppTest.from_file(str(ADMIN_PAGE), default_timeout=60)
        at.session_state["user"] = admin
        at.run()
        assert (76, "import: read 76 of 100 images") in [(bar.value, bar.text)
                                                          for bar in at.progress]
        # the page offers no second import while the first runs, and the runner refuses one
        labels = [button.label for button in at.button]
        assert "Import the upload" not in labels and "Cancel" in labels
        with pytest.raises(UserError, match="already running"):
            runner.start("import", {}, lambda progress, cancel: None)
    finally:
        release.set()
    assert runner.wait(job_id, 30).status == "done"
    assert [job.job_id for job in ui.get_runner().status()] == [job_id]


def test_a_store_another_process_holds_is_not_kept(tmp_path, monkeypatch):
    """A failed open keeps nothing, so the next run tries again (and gets the same object
    afterwards)."""
    from core.errors import StoreLocked

    calls = []

    def locked(path):
        calls.append(path)
        raise StoreLocked("in use")

    monkeypatch.setattr(server_objects, "Store", locked)
    for _ in range(2):
        with pytest.raises(StoreLocked):
            server_objects.server_objects(tmp_path / "x.duckdb")
    assert len(calls) == 2
    monkeypatch.undo()
    try:
        first = server_objects.server_objects(tmp_path / "x.duckdb")
        assert server_objects.server_objects(tmp_path / "x.duckdb") is first
    finally:
        server_objects.release_all()
