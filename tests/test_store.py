"""The store: migrations from empty and from the previous version, transactions, locking."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import duckdb
import numpy as np
import pytest

from core.cases.library import NewCase, save_cases
from core.errors import UserError
from core.store import Store, latest_version, migrate, schema_version
from core.store.migrations import available


def test_empty_file_migrates_to_latest(tmp_path):
    with Store(tmp_path / "s.duckdb") as store, store.read() as cur:
        assert schema_version(cur) == latest_version()
        tables = {t for (t,) in cur.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"cases", "splits", "users", "models", "predictions", "heatmaps", "reads",
            "quiz_sessions", "reader_studies", "schema_version"} <= tables


def test_migrates_from_previous_version_keeping_rows(tmp_path):
    path = tmp_path / "old.duckdb"
    previous = available()[-2][0]
    con = duckdb.connect(str(path))
    migrate(con, target=previous)
    assert schema_version(con) == previous
    con.execute("INSERT INTO datasets (dataset, kind) VALUES ('d', 'folder')")
    con.close()
    with Store(path) as store, store.read() as cur:
        assert schema_version(cur) == latest_version()
        assert cur.execute("SELECT dataset FROM datasets").fetchall() == [("d",)]


def test_reopening_applies_nothing(tmp_path):
    Store(tmp_path / "s.duckdb").close()
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    assert migrate(con) == []


def test_transaction_rolls_back_on_error(store):
    with pytest.raises(RuntimeError):
        with store.transaction() as cur:
            cur.execute("INSERT INTO datasets (dataset, kind) VALUES ('x', 'folder')")
            raise RuntimeError("crash in the middle")
    with store.read() as cur:
        assert cur.execute("SELECT count(*) FROM datasets").fetchone()[0] == 0


def test_parameterised_text_is_stored_verbatim(store):
    name = "x'); DROP TABLE cases; --"
    with store.transaction() as cur:
        cur.execute("INSERT INTO datasets (dataset, kind) VALUES (?, 'folder')", [name])
    with store.read() as cur:
        assert cur.execute("SELECT dataset FROM datasets").fetchone()[0] == name
        assert cur.execute("SELECT count(*) FROM cases").fetchone()[0] == 0


def test_concurrent_writers_in_one_process(store):
    errors = []

    def write(i: int) -> None:
        try:
            for j in range(20):
                with store.transaction() as cur:
                    cur.execute("INSERT INTO datasets (dataset, kind) VALUES (?, 'folder')",
                                [f"d{i}-{j}"])
                with store.read() as cur:
                    cur.execute("SELECT count(*) FROM datasets").fetchone()
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with store.read() as cur:
        assert cur.execute("SELECT count(*) FROM datasets").fetchone()[0] == 160


def test_second_process_gets_clear_lock_message(store):
    script = textwrap.dedent(f"""
        from core.store import Store
        from core.errors import StoreLocked
        try:
            Store({str(store.path)!r})
        except StoreLocked as error:
            print("LOCKED:", error)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert "LOCKED:" in out.stdout, out.stderr
    assert "in use by process" in out.stdout and "--db" in out.stdout


def test_cli_reports_lock_without_traceback(store):
    out = subprocess.run([sys.executable, "-m", "core", "init", "--db", str(store.path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 3
    assert "in use by" in out.stderr and "Traceback" not in out.stderr


def test_resolve_refuses_escape(store):
    assert store.resolve("cases/a.png").is_relative_to(store.data_dir)
    for bad in ("../x", "/etc/passwd", "cases/../../x"):
        with pytest.raises(UserError):
            store.resolve(bad)


def test_save_cases_is_idempotent_and_atomic(store):
    rng = np.random.default_rng(0)
    cases = [NewCase(f"c{i}.png", "benign" if i % 2 else "malignant",
                     rng.integers(0, 255, (32, 40), dtype=np.uint8)) for i in range(4)]
    first = save_cases(store, "d", "folder", cases)
    assert first.imported == 4 and first.by_label == {"malignant": 2, "benign": 2}
    second = save_cases(store, "d", "folder", cases)
    assert second.imported == 0 and second.already_present == 4
    with store.read() as cur:
        paths = [p for (p,) in cur.execute("SELECT image_path FROM cases").fetchall()]
    assert len(paths) == 4 and all(store.resolve(p).is_file() for p in paths)


@pytest.mark.parametrize("before", [True, False])
def test_cli_db_option_before_or_after_command(tmp_path, before):
    db = tmp_path / "elsewhere.duckdb"
    args = ["--db", str(db), "init", "--json"] if before else ["init", "--json", "--db", str(db)]
    out = subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert db.exists()


def test_migration_that_landed_late_is_still_applied(tmp_path):
    path = tmp_path / "gap.duckdb"
    con = duckdb.connect(str(path))
    first, second = available()[0][0], available()[1][0]
    migrate(con, target=second)
    con.execute("DELETE FROM schema_version WHERE version = ?", [second])
    for table in ("heatmaps", "predictions", "models", "jobs"):  # as if `second` never ran
        con.execute(f"DROP TABLE {table}")
    con.close()
    with Store(path) as store, store.read() as cur:
        versions = {v for (v,) in cur.execute("SELECT version FROM schema_version").fetchall()}
        assert {first, second} <= versions
        assert cur.execute("SELECT count(*) FROM predictions").fetchone()[0] == 0
