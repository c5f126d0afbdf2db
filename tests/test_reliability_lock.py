"""A second writer on the same store: the running app (``streamlit run``) holds it and a command
gets the clear message (exit 3, no traceback, nothing written); the app as the second writer.
``tests/test_store.py`` covers the command line against the Store class.

The server opens the store when a session first runs ``app.py``; a session is opened here
without a browser, over Streamlit's websocket, so these tests need no chromium.
"""
from __future__ import annotations

import subprocess
import sys
import time

from PIL import Image
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import connect

from core.store import Store
from tests.app_pages import clear_caches
from tests.quiz_helpers import make_user
from tests.streamlit_server import ROOT, streamlit_app

SECRET = "lock-test-password-4711"


def run_a_session(url: str, timeout: float = 120) -> list[ForwardMsg]:
    """Open a session as a browser tab does and wait until ``app.py`` has run once; returns
    the messages the server sent."""
    received = []
    with connect(url.replace("http", "ws", 1) + "/_stcore/stream",
                 subprotocols=["streamlit"]) as socket_:
        rerun = BackMsg()
        rerun.rerun_script.query_string = ""
        rerun.rerun_script.page_script_hash = ""
        socket_.send(rerun.SerializeToString())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = ForwardMsg()
            message.ParseFromString(socket_.recv(timeout=timeout))
            received.append(message)
            if message.WhichOneof("type") == "script_finished":
                return received
    raise TimeoutError("the app did not finish its first run")


def core_command(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_a_command_against_the_running_app_says_so_and_writes_nothing(tmp_path):
    db = tmp_path / "data" / "results.duckdb"
    with Store(db) as store:
        make_user(store, "anna")
    images = tmp_path / "images" / "benign"
    images.mkdir(parents=True)
    Image.new("L", (32, 32), 90).save(images / "a.png")
    with streamlit_app(db, tmp_path / "streamlit.log") as server:
        messages = run_a_session(server.url)
        outcomes = [core_command("import", "folder", str(images.parent), "--db", str(db)),
                    core_command("--db", str(db), "user", "add", "bert", "--role", "trainee",
                                 "--password-stdin", stdin=SECRET + "\n"),
                    core_command("init", "--db", str(db))]
    assert not [m for m in messages if m.WhichOneof("type") == "delta"
                and m.delta.new_element.HasField("exception")]
    for out in outcomes:
        assert out.returncode == 3, (out.args, out.stderr)
        assert f"The results store {db}" in out.stderr and "is in use by process" in out.stderr
        assert "--db PATH" in out.stderr and "SONOCASE_DB" in out.stderr
        assert "Traceback" not in out.stderr + out.stdout
        assert SECRET not in out.stderr + out.stdout
        assert out.stdout == ""
    # the app has stopped: the lock is gone, and the refused commands wrote nothing
    out = core_command("--db", str(db), "user", "add", "bert", "--role", "trainee",
                       "--password-stdin", stdin=SECRET + "\n")
    assert out.returncode == 0, out.stderr
    with Store(db) as store, store.read() as cur:
        assert cur.execute("SELECT username FROM users ORDER BY user_id").fetchall() == [
            ("anna",), ("bert",)]
        assert cur.execute("SELECT count(*) FROM cases").fetchone()[0] == 0


def test_the_app_as_second_writer_shows_the_clear_message(tmp_path, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    db = tmp_path / "data" / "results.duckdb"
    Store(db).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom core.store import Store\n"
         f"store = Store({str(db)!r})\nprint('held', flush=True)\ntime.sleep(120)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("SONOCASE_DB", str(db))
        monkeypatch.setenv("SONOCASE_AUTOTRAIN", "0")
        clear_caches()
        at = AppTest.from_file(ROOT / "app.py", default_timeout=60).run()
        assert not at.exception, [e.message for e in at.exception]
        assert any("is in use by process" in error.value for error in at.error)
        holder.kill()
        holder.wait()
        at.run()  # the other process let go: the failure was not cached, the store opens
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert [button.label for button in at.button] == ["Create the administrator"]
    finally:
        holder.kill()
        holder.wait()
        clear_caches()
