"""Security: SQL injection in every text field is stored as plain text (or refused by the
field's own rule), paths never escape their folder, passwords are hashed and never printed or
logged, logins are rate limited, logout clears the session, a trainee's pages hold nobody
else's data, and a checkpoint carrying pickled code is refused without running it.
(The browser's websocket frames are checked in ``tests/test_browser_security.py``.)"""
from __future__ import annotations

import csv
import json
import logging
import os
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
import torch
from argon2 import PasswordHasher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from PIL import Image
from streamlit.testing.v1 import AppTest

from core import auth, shown_model
from core.admin_jobs import save_upload, server_path
from core.cases.importers import import_cases
from core.errors import UserError
from core.jobs import JobRunner
from core.models.checkpoints import FORMAT, file_sha256
from core.quiz import flow
from core.store import Store
from tests.app_pages import APP, ROOT, app_as, page_text
from tests.quiz_helpers import PASSWORD, add_model, add_practice_reads, make_cases, make_user

PAYLOADS = ["x'); DROP TABLE users; --", "' OR '1'='1' --", "Robert'); DELETE FROM reads;--",
            "1; UPDATE users SET role='admin'", "\"; ATTACH 'evil.db' AS e; --", "$$ || $$",
            "%' OR username LIKE '%", "\\'; SELECT 1; --", "nul\x00byte", "🙂'--"]
payloads = hs.one_of(hs.sampled_from(PAYLOADS),
                     hs.text(hs.characters(blacklist_categories=["Cs"]), min_size=1,
                             max_size=60))
SECURITY = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def tables(store: Store) -> dict[str, int]:
    with store.read() as cur:
        names = [n for (n,) in cur.execute("SELECT table_name FROM duckdb_tables()"
                                           " ORDER BY table_name").fetchall()]
        return {name: cur.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                for name in names}


# ---- SQL injection -------------------------------------------------------------------------

@pytest.fixture
def library(store, tmp_path, fast_hashing):
    case_ids = make_cases(store, n=4, size=16)
    add_model(store, "resnet50-sec", case_ids, heatmaps=False)
    image = tmp_path / "manifest" / "a.png"
    image.parent.mkdir()
    Image.new("L", (16, 16), 70).save(image)
    return store, make_user(store, "trainee1")


def write_manifest(path: Path, text: str, quoting: int) -> Path:
    """A manifest of one image (``a.png`` beside it) whose patient and histology are ``text``."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, quoting=quoting).writerows([
            ["image", "label", "patient", "histology"], ["a.png", "benign", text, text]])
    return path


@SECURITY
@given(payload=payloads)
def test_injection_in_free_text_fields_is_stored_verbatim(library, tmp_path, payload):
    store, trainee = library
    before = tables(store)
    display = payload.strip() or "x"
    user = auth.create_user(store, f"u{before['users']}", PASSWORD, "trainee", display)
    assert auth.find_user(store, user.username).display_name == display
    with pytest.raises(auth.AuthError):
        auth.authenticate(store, payload, "not " + PASSWORD)
    with store.read() as cur:
        typed = cur.execute("SELECT username FROM login_attempts ORDER BY attempted_at DESC"
                            " LIMIT 1").fetchone()[0]
    name = auth.normalise_username(payload)[:64]
    if name in {account.username for account in auth.list_users(store)}:
        assert typed == name
    else:  # what was typed is kept only as a salted hash, one per typed name (the lock holds)
        assert re.fullmatch(r"unknown:[0-9a-f]{64}", typed) and typed != name
        assert typed == auth.attempt_name(store, payload)
    manifest = write_manifest(tmp_path / "manifest" / "m.csv", payload, csv.QUOTE_ALL)
    dataset = f"d{before['datasets']}"
    result = import_cases(store, "csv", manifest, dataset)
    assert result.imported + result.already_present == 1, result.skipped
    with store.read() as cur:
        stored = cur.execute("SELECT patient_id, histology FROM cases WHERE dataset = ?",
                             [dataset]).fetchone()
    assert stored == (payload.strip() or None, payload.strip() or None)
    runner = JobRunner(store)
    job = runner.start("import", {"path": payload}, lambda progress, cancel: None)
    runner.wait(job, 30)
    with store.read() as cur:
        params = cur.execute("SELECT params FROM jobs WHERE job_id = ?", [job]).fetchone()[0]
    assert json.loads(params) == {"path": payload}
    after = tables(store)
    assert after.keys() == before.keys()
    assert after["users"] == before["users"] + 1 and after["reads"] == before["reads"]


def test_a_standard_csv_manifest_reads_back_its_values_exactly(library, tmp_path):
    store, _ = library
    value = "' OR '1'='1' --"
    import_cases(store, "csv", write_manifest(tmp_path / "manifest" / "m.csv", value,
                                              csv.QUOTE_MINIMAL), "quoted")
    with store.read() as cur:
        assert cur.execute("SELECT patient_id, histology FROM cases WHERE dataset = 'quoted'"
                           ).fetchone() == (value, value)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_in_checked_fields_is_refused_and_changes_nothing(library, tmp_path, payload):
    store, trainee = library
    staff = make_user(store, "boss", "supervisor")
    folder = tmp_path / "images" / "benign"
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("L", (16, 16), 30).save(folder / "a.png")
    session = flow.start_session(store, trainee.user_id, "all", 1)
    case_id = flow.state(store, session, trainee.user_id).case_id
    before = tables(store)
    attempts = [
        lambda: auth.create_user(store, payload, PASSWORD, "trainee"),
        lambda: auth.create_user(store, "fine_name", PASSWORD, payload),
        lambda: import_cases(store, "folder", folder.parent, payload),
        lambda: flow.start_session(store, trainee.user_id, payload, 3),
        lambda: flow.start_session(store, trainee.user_id, f"balanced:{payload}", 3),
        lambda: flow.submit_unaided(store, session, trainee.user_id, case_id, payload, 50),
        lambda: flow.submit_unaided(store, session, trainee.user_id, case_id, "3", 50,
                                    {"margin": payload}),
        lambda: shown_model.set_quiz_model(store, staff, payload),
    ]
    for attempt in attempts:
        with pytest.raises(UserError):
            attempt()
    assert tables(store) == before


def test_file_names_that_look_like_sql_are_stored_as_names(store, tmp_path):
    folder = tmp_path / "images" / "malignant"
    folder.mkdir(parents=True)
    names = ["x'); DROP TABLE cases; --.png", "a\"b.png", "%' OR 1=1.png"]
    for value, name in enumerate(names):
        Image.new("L", (16, 16), 40 + 40 * value).save(folder / name)
    import_cases(store, "folder", folder.parent, "names")
    with store.read() as cur:
        stored = sorted(p for (p,) in cur.execute("SELECT source_path FROM cases").fetchall())
    assert stored == sorted(f"malignant/{name}" for name in names)


# ---- paths ----------------------------------------------------------------------------------

def test_zip_slip_and_links_are_refused_with_their_reason(store, tmp_path):
    png = tmp_path / "p.png"
    Image.new("L", (16, 16), 50).save(png)
    archive = tmp_path / "evil.zip"
    link = zipfile.ZipInfo("benign/link.png")
    link.external_attr = 0o120777 << 16
    with zipfile.ZipFile(archive, "w") as bundle:
        for name in ("benign/../../escaped.png", "/benign/absolute.png", "C:/benign/drive.png",
                     "benign/ok.png"):
            bundle.writestr(zipfile.ZipInfo(name), png.read_bytes())   # names as given
        bundle.writestr(link, "/etc/passwd")
    result = import_cases(store, "folder", archive, "slip")
    reasons = {entry["path"]: entry["reason"] for entry in result.skipped}
    assert result.imported == 1
    assert "zip-slip" in reasons["benign/../../escaped.png"]
    assert "zip-slip" in reasons["/benign/absolute.png"]
    assert "zip-slip" in reasons["C:/benign/drive.png"]
    assert "symbolic link" in reasons["benign/link.png"]
    assert not (tmp_path.parent / "escaped.png").exists()


def test_manifest_paths_escaping_their_root_are_refused(store, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    Image.new("L", (16, 16), 50).save(root / "a.png")
    Image.new("L", (16, 16), 90).save(tmp_path / "outside.png")
    (root / "inner-link.png").symlink_to(tmp_path / "outside.png")
    manifest = root / "m.csv"
    manifest.write_text("image,label,mask\n"
                        "../outside.png,benign,\n"
                        f"{tmp_path / 'outside.png'},benign,\n"
                        "inner-link.png,benign,\n"
                        "a.png,benign,../outside.png\n"
                        "a.png,malignant,\n")
    result = import_cases(store, "csv", manifest, "paths")
    assert result.imported == 1
    assert [entry["reason"] for entry in result.skipped] == [
        "path escapes its folder", "path escapes its folder", "path escapes its folder",
        "mask ../outside.png: path escapes its folder"]


def test_server_paths_and_upload_names_stay_in_their_folders(store, tmp_path, monkeypatch):
    allowed = tmp_path / "imports"
    (allowed / "sub").mkdir(parents=True)
    (tmp_path / "private").mkdir()
    (allowed / "sneaky").symlink_to(tmp_path / "private")
    monkeypatch.setenv("SONOCASE_IMPORT_ROOT", str(allowed))
    assert server_path(str(allowed / "sub")) == (allowed / "sub").resolve()
    for escape in (f"{allowed}/../private", str(allowed / "sneaky"), "/etc"):
        with pytest.raises(UserError, match="outside"):
            server_path(escape)
    for name in ("../../evil.zip", "..\\..\\evil.zip", "/etc/evil.zip"):
        saved = save_upload(store, name, b"PK")
        assert saved.name == "evil.zip"
        assert saved.resolve().is_relative_to((store.data_dir / "uploads").resolve())


# ---- passwords --------------------------------------------------------------------------------

def test_passwords_are_hashed_and_never_printed_logged_or_stored_in_clear(tmp_path, caplog,
                                                                          capfd):
    secret = "Tr0ub4dor&3-secret"
    db = tmp_path / "data" / "results.duckdb"
    added = subprocess.run([sys.executable, "-m", "core", "--db", str(db), "user", "add",
                            "carol", "--role", "trainee", "--password-stdin"],
                           input=secret + "\n", capture_output=True, text=True, cwd=ROOT,
                           timeout=120)
    assert added.returncode == 0, added.stderr
    assert secret not in added.stdout + added.stderr
    caplog.set_level(logging.DEBUG)
    with Store(db) as store:
        assert auth.authenticate(store, "carol", secret).username == "carol"
        for wrong in (secret + "x", secret.upper()):
            with pytest.raises(auth.AuthError) as refused:
                auth.authenticate(store, "carol", wrong)
            assert secret not in str(refused.value)
        with store.read() as cur:
            (stored_hash,) = cur.execute("SELECT password_hash FROM users").fetchone()
            attempts = cur.execute("SELECT * FROM login_attempts").fetchall()
    captured = capfd.readouterr()
    assert stored_hash.startswith("$argon2id$") and secret not in stored_hash
    assert PasswordHasher().verify(stored_hash, secret)
    assert secret not in caplog.text + captured.out + captured.err + repr(attempts)
    for path in db.parent.iterdir():
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_five_failed_logins_lock_the_name_in_the_app(app_db, fast_hashing):
    with Store(app_db) as store:
        auth.create_user(store, "dave", PASSWORD, "trainee")
    at = AppTest.from_file(APP, default_timeout=60).run()
    shown = []
    for password in ["wrong-1", "wrong-2", "wrong-3", "wrong-4", "wrong-5", PASSWORD]:
        inputs = {widget.label: widget for widget in at.text_input}
        inputs["User name"].input("dave")
        inputs["Password"].input(password)
        at.button[0].click()
        at.run()
        shown.append(at.error[0].value if at.error else None)
    assert shown[:5] == [auth.BAD_LOGIN] * 5
    assert shown[5].startswith("too many failed attempts")
    assert at.session_state["user"] is None


def test_parallel_guesses_are_rate_limited_too(store, fast_hashing):
    auth.create_user(store, "erin", PASSWORD, "trainee")
    barrier = threading.Barrier(20)
    outcomes = []

    def guess(number: int) -> None:
        barrier.wait()
        try:
            auth.authenticate(store, "erin", f"guess-{number}")
        except auth.AuthError as error:
            outcomes.append(str(error))

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(auth.BAD_LOGIN) <= auth.MAX_FAILURES


# ---- sessions and other trainees' data -------------------------------------------------------

@pytest.fixture
def cohort(app_db):
    """Three trainees with reads (distinctive names) and a supervisor, served by the app."""
    with Store(app_db) as store:
        case_ids = make_cases(store, n=6, size=32)
        add_model(store, "resnet50-cohort", case_ids)
        people = {}
        for name in ("amelia", "bartholomew", "cordelia"):
            people[name] = make_user(store, name, display_name=f"{name.capitalize()} Zq")
            add_practice_reads(store, people[name].user_id, case_ids, ["3", "4A"] * 3,
                               aided=["2", "5"] * 3, model_id="resnet50-cohort")
        people["sue"] = make_user(store, "sue", "supervisor", display_name="Sue Supervisor")
    return people


def others_named(text: str, people: dict, me: str) -> list[str]:
    return [name for name, user in people.items() if name != me
            and (user.username in text or user.display_name in text)]


def test_a_trainees_pages_hold_nobody_elses_data(cohort):
    amelia, bart = cohort["amelia"], cohort["bartholomew"]
    for page in ("pages/quiz.py", "pages/progress.py", "pages/models.py", "pages/account.py"):
        at = app_as(amelia, page)
        assert others_named(page_text(at), cohort, "amelia") == [], page
    at = app_as(amelia, "pages/progress.py", {"user": str(bart.user_id)})
    assert at.error and others_named(page_text(at), cohort, "amelia") == []
    staff_view = app_as(cohort["sue"], "pages/cohort.py")   # the check can see names
    assert set(others_named(page_text(staff_view), cohort, "sue")) == {
        "amelia", "bartholomew", "cordelia"}


def test_logout_clears_the_session_and_the_next_user_starts_clean(cohort, fast_hashing):
    amelia, bart = cohort["amelia"], cohort["bartholomew"]
    at = app_as(amelia, "pages/quiz.py")
    at.number_input(key="quiz_length").set_value(2)
    next(b for b in at.button if b.label == "Start").click()
    at.run()
    assert at.session_state["quiz_session"] is not None
    next(b for b in at.button if b.label == "Log out").click()
    at.run()
    assert [t.value for t in at.title] == ["SonoCase"]
    assert at.session_state["user"] is None
    assert "quiz_session" not in at.session_state
    assert "Amelia Zq" not in page_text(at)
    at.session_state["user"] = bart
    at.run()
    assert [t.value for t in at.title] == ["Quiz"]
    assert at.session_state["quiz_session"] is None   # amelia's session is not bart's
    assert others_named(page_text(at), cohort, "bartholomew") == []


# ---- checkpoints carrying code --------------------------------------------------------------

class Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_checkpoint_carrying_pickled_code_is_refused_by_the_quiz(cohort, tmp_path):
    """The store names a checkpoint (with its true SHA-256) that carries code: loading it for
    a heatmap is refused with a warning and the code never runs."""
    marker = tmp_path / "payload-ran"
    db = Path(os.environ["SONOCASE_DB"])
    evil = db.parent / "models" / "resnet50-cohort" / "evil.pt"
    evil.parent.mkdir(parents=True)
    torch.save({"format": FORMAT, "arch": "resnet50", "image_size": 32, "state_dict": {},
                "class_names": ["benign", "malignant"], "config": {},
                "extra": Payload(str(marker))}, evil)
    with Store(db) as store, store.transaction() as cur:
        cur.execute("UPDATE models SET checkpoint_path = ?, checkpoint_sha256 = ?",
                    ["models/resnet50-cohort/evil.pt", file_sha256(evil)])
        cur.execute("DELETE FROM heatmaps")
    from core.models.loading import load_model

    with Store(db) as store, pytest.raises(UserError, match="pickled code"):
        load_model(store, "resnet50-cohort")
    at = app_as(cohort["amelia"], "pages/quiz.py")
    at.number_input(key="quiz_length").set_value(1)
    next(b for b in at.button if b.label == "Start").click()
    at.run()
    at.radio[0].set_value("3")
    next(b for b in at.button if b.label == "Submit my read").click()
    at.run()
    assert not at.exception
    assert any("pickled code" in warning.value for warning in at.warning)
    assert not marker.exists()
