"""Backup and restore: a restored store has identical tables (row counts and checksums taken
independently of the manifest), its sequences go on, every file comes back; damaged or altered
bundles and existing destinations are refused; a backup runs while others read and write."""
from __future__ import annotations

import io

import json
import threading
import zipfile
from pathlib import Path

import duckdb
import pytest

from core.backup import DB_ENTRY, MANIFEST, backup, restore, table_summaries
from core.cli import main
from core.errors import UserError
from core.store import Store
from tests.quiz_helpers import add_model, add_practice_reads, make_cases, make_user


@pytest.fixture
def filled(store: Store) -> Store:
    """Cases with masks and a split, users, reads, a model with a checkpoint and heatmaps,
    a setting and a job: every kind of row and file the store holds."""
    case_ids = make_cases(store, n=6)
    trainee = make_user(store, "trainee1")
    make_user(store, "boss", role="admin")
    add_model(store, "resnet50-quick-quizset-s0", case_ids)
    add_practice_reads(store, trainee.user_id, case_ids[:4], ["3", "4C", "2", "5"],
                       aided=["2", "5", "3", "4A"])
    checkpoint = store.data_dir / "models" / "resnet50-quick-quizset-s0" / "a.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"not really a checkpoint")
    with store.transaction() as cur:
        cur.execute("UPDATE models SET checkpoint_path = ?", [store.relative(checkpoint)])
        cur.execute("INSERT INTO settings VALUES ('theme', '{\"dark\": true}')")
        cur.execute("INSERT INTO jobs (job_id, kind, params, status) VALUES"
                    " ('j1', 'train', '{\"archs\": [\"resnet50\"]}', 'done')")
    return store


def independent_summaries(path: Path) -> dict:
    """Row counts and checksums of a store file, opened on its own."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return table_summaries(con, con.execute("SELECT current_database()").fetchone()[0])
    finally:
        con.close()


def named_files(store: Store) -> dict[str, bytes]:
    with store.read() as cur:
        names = [path for (path,) in cur.execute(
            "SELECT image_path FROM cases UNION SELECT mask_path FROM cases WHERE mask_path "
            "IS NOT NULL UNION SELECT checkpoint_path FROM models UNION SELECT path FROM heatmaps"
        ).fetchall()]
    return {name: store.resolve(name).read_bytes() for name in names}


def rewrite_bundle(source: Path, target: Path, change) -> None:
    """Copy a bundle entry by entry; ``change(name, data)`` returns new data, or None to drop."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            data = change(name, old.read(name))
            if data is not None:
                new.writestr(name, data)


def test_restore_gives_identical_tables_and_files(filled, tmp_path):
    bundle = tmp_path / "backups" / "b.zip"
    written = backup(filled, bundle)
    filled.close()
    restored = restore(bundle, tmp_path / "restored" / "store.duckdb")
    before, after = independent_summaries(filled.path), independent_summaries(restored.path)
    assert after == before
    assert {name for name, table in before.items() if table.rows} >= {
        "cases", "splits", "users", "reads", "quiz_sessions", "quiz_steps", "models",
        "predictions", "heatmaps", "settings", "jobs", "datasets", "schema_version"}
    assert written.tables == restored.tables == before
    assert written.missing_files == [] and written.files == restored.files > 0
    with Store(filled.path) as original, Store(restored.path) as copy:
        assert named_files(copy) == named_files(original)
        with original.read() as a, copy.read() as b:
            query = "SELECT * FROM cases ORDER BY case_id"
            assert a.execute(query).df().equals(b.execute(query).df())
            types = "SELECT data_type FROM information_schema.columns WHERE column_name = ?"
            assert b.execute(types, ["descriptors"]).fetchone() == ("JSON",)


def test_sequences_go_on_after_a_restore(filled, tmp_path):
    with filled.read() as cur:
        last_case, last_user, last_read = cur.execute(
            "SELECT (SELECT max(case_id) FROM cases), (SELECT max(user_id) FROM users),"
            " (SELECT max(read_id) FROM reads)").fetchone()
    backup(filled, tmp_path / "b.zip")
    restored = restore(tmp_path / "b.zip", tmp_path / "new" / "store.duckdb")
    with Store(restored.path) as copy:
        user = make_user(copy, "newcomer")
        with copy.transaction() as cur:
            case_id = cur.execute(
                "INSERT INTO cases (dataset, source_path, image_path, label, width, height,"
                " sha256) VALUES ('quizset', 'x', 'y', 'benign', 1, 1, 'new') RETURNING case_id"
            ).fetchone()[0]
            read_id = cur.execute(
                "INSERT INTO reads (session_id, user_id, case_id, mode, birads, probability)"
                " SELECT min(session_id), ?, ?, 'unaided', '3', 20 FROM quiz_sessions"
                " RETURNING read_id", [user.user_id, case_id]).fetchone()[0]
    assert case_id == last_case + 1
    assert user.user_id == last_user + 1
    assert read_id == last_read + 1


def test_restore_keeps_constraints(filled, tmp_path):
    backup(filled, tmp_path / "b.zip")
    restored = restore(tmp_path / "b.zip", tmp_path / "new" / "store.duckdb")
    with Store(restored.path) as copy, copy.transaction() as cur:
        with pytest.raises(duckdb.ConstraintException):
            cur.execute("INSERT INTO reads (session_id, user_id, case_id, mode, birads,"
                        " probability) VALUES (999, 999, 999, 'unaided', '3', 20)")


def altered_entry(name: str, data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1]) if name.startswith("files/cases/") else data


def altered_table(tmp_path: Path):
    """A database entry with one label changed, and a manifest updated to the new file's hash
    and size (but not the tables' checksums)."""
    def change(name: str, data: bytes) -> bytes:
        if name == DB_ENTRY:
            path = tmp_path / "altered.duckdb"
            path.write_bytes(data)
            con = duckdb.connect(str(path))
            con.execute("UPDATE cases SET label = 'malignant' WHERE case_id = 1")
            con.close()
            change.db = path.read_bytes()
            return change.db
        if name == MANIFEST:
            import hashlib

            manifest = json.loads(data)
            manifest["database"] = {"sha256": hashlib.sha256(change.db).hexdigest(),
                                    "bytes": len(change.db)}
            return json.dumps(manifest).encode()
        return data
    return change


def escaping_entry(name: str, data: bytes) -> bytes:
    if name != MANIFEST:
        return data
    manifest = json.loads(data)
    first = next(iter(manifest["files"]))
    manifest["files"]["../../escaped.png"] = manifest["files"].pop(first)
    return json.dumps(manifest).encode()


@pytest.mark.parametrize("tamper, message", [
    (lambda tmp: altered_entry, "checksum"),
    (altered_table, "table cases: checksum differs"),
    (lambda tmp: lambda name, data: None if name.startswith("files/models/") else data,
     "lacks 1 entries"),
    (lambda tmp: lambda name, data: b"{" if name == MANIFEST else data, "unreadable"),
    (lambda tmp: escaping_entry, "entries its manifest does not name"),
])
def test_an_altered_bundle_is_refused_and_nothing_lands(filled, tmp_path, tamper, message):
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    backup(filled, good)
    rewrite_bundle(good, bad, tamper(tmp_path))
    target = tmp_path / "new" / "store.duckdb"
    with pytest.raises(UserError, match=message):
        restore(bad, target)
    assert list(target.parent.iterdir()) == []
    assert not (tmp_path / "escaped.png").exists()


@pytest.mark.parametrize("name, message", [
    ("../escaped.png", "escapes"),
    ("store.duckdb", "the new store's own path"),
])
def test_an_entry_landing_outside_its_place_is_refused(filled, tmp_path, name, message):
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    backup(filled, good)
    with zipfile.ZipFile(good) as old:
        manifest = json.loads(old.read(MANIFEST))
        manifest["files"] = {name: {"sha256": "0" * 64, "bytes": 1}}
        with zipfile.ZipFile(bad, "w") as new:
            new.writestr(MANIFEST, json.dumps(manifest))
            new.writestr(DB_ENTRY, old.read(DB_ENTRY))
            new.writestr(f"files/{name}", b"x")
    target = tmp_path / "new" / "store.duckdb"
    with pytest.raises(UserError, match=message):
        restore(bad, target)
    assert not (tmp_path / "new" / "escaped.png").exists() and not target.exists()
    assert not (tmp_path / "escaped.png").exists()


def test_a_damaged_or_foreign_file_is_refused(filled, tmp_path):
    bundle = tmp_path / "b.zip"
    backup(filled, bundle)
    data = bundle.read_bytes()
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="not a readable zip"):
        restore(damaged, tmp_path / "a" / "store.duckdb")
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as other:
        other.writestr("readme.txt", "hello")
    with pytest.raises(UserError, match="not a SonoCase backup"):
        restore(foreign, tmp_path / "b" / "store.duckdb")


def test_restore_never_overwrites(filled, tmp_path):
    bundle = tmp_path / "b.zip"
    backup(filled, bundle)
    with pytest.raises(UserError, match="already exists"):
        backup(filled, bundle)
    with pytest.raises(UserError, match="already exists.*--db NEW_PATH"):
        restore(bundle, filled.path)
    with filled.read() as cur:
        assert cur.execute("SELECT count(*) FROM cases").fetchone() == (6,)
    target = tmp_path / "new" / "store.duckdb"
    with zipfile.ZipFile(bundle) as opened:
        first = next(n for n in opened.namelist() if n.startswith("files/cases/"))
    clash = target.parent / first.removeprefix("files/")
    clash.parent.mkdir(parents=True)
    clash.write_bytes(b"someone else's file")
    with pytest.raises(UserError, match="differ from the backup"):
        restore(bundle, target)
    assert clash.read_bytes() == b"someone else's file" and not target.exists()


def test_backup_runs_while_others_read_and_write(filled, tmp_path):
    stop = threading.Event()
    written = []

    def writer():
        while not stop.is_set():
            with filled.transaction() as cur:
                cur.execute("INSERT INTO login_attempts (username, success) VALUES ('x', false)")
            written.append(1)

    thread = threading.Thread(target=writer)
    with filled.read() as reading:
        reading.execute("SELECT case_id FROM cases ORDER BY case_id")
        first = reading.fetchmany(2)
        thread.start()
        try:
            report = backup(filled, tmp_path / "b.zip")
        finally:
            stop.set()
            thread.join()
        rest = reading.fetchall()
    assert len(first) + len(rest) == 6
    restored = restore(tmp_path / "b.zip", tmp_path / "new" / "store.duckdb")
    attempts = restored.tables["login_attempts"].rows
    assert restored.tables == report.tables
    assert attempts == independent_summaries(restored.path)["login_attempts"].rows
    assert attempts <= len(written)


def test_a_file_gone_before_the_backup_is_reported(filled, tmp_path):
    checkpoint = next(filled.data_dir.glob("models/*/*.pt"))
    checkpoint.unlink()
    report = backup(filled, tmp_path / "b.zip")
    assert report.missing_files == [filled.relative(checkpoint)]
    restored = restore(tmp_path / "b.zip", tmp_path / "new" / "store.duckdb")
    assert restored.missing_files == report.missing_files
    assert restored.files == report.files


def test_the_commands_back_up_and_restore(filled, tmp_path, capsys):
    db = filled.path
    filled.close()
    bundle = tmp_path / "cli.zip"
    assert main(["--db", str(db), "backup", "--out", str(bundle), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tables"]["cases"]["rows"] == 6
    target = tmp_path / "new" / "store.duckdb"
    assert main(["restore", str(bundle), "--to", str(target), "--yes"]) == 0
    assert "match the backup's manifest" in capsys.readouterr().out
    assert independent_summaries(target) == independent_summaries(db)
    assert main(["restore", str(bundle), "--to", str(target), "--yes"]) == 2
    assert "already exists" in capsys.readouterr().err
    lean = tmp_path / "lean.zip"
    assert main(["--db", str(db), "backup", "--out", str(lean), "--without-recreatable"]) == 0
    assert "checkpoints and heatmaps left out" in capsys.readouterr().out
    assert lean.stat().st_size < bundle.stat().st_size


def test_a_cancelled_backup_leaves_no_file(filled, tmp_path):
    cancel = threading.Event()
    reports = []

    def progress(report):
        reports.append(report)
        if report["fraction"] > 0:
            cancel.set()

    with pytest.raises(UserError, match="backup cancelled"):
        backup(filled, tmp_path / "backups" / "b.zip", progress, cancel)
    assert list((tmp_path / "backups").iterdir()) == []
    assert 0 < reports[-1]["fraction"] < 1


def test_a_backup_without_recreatable_files_leaves_out_checkpoints_and_heatmaps(filled, tmp_path):
    """Its size is known before it is made; it restores to the same tables, with the case
    images and masks but no checkpoint or heatmap (they can be made again)."""
    from core.backup import backup_size

    size = backup_size(filled)
    with filled.read() as cur:
        heatmaps = cur.execute("SELECT count(*) FROM heatmaps").fetchone()[0]
    assert size.recreatable_files == heatmaps + 1 and 0 < size.recreatable_bytes < size.bytes
    full = backup(filled, tmp_path / "backups" / "full.zip")
    lean = backup(filled, tmp_path / "backups" / "lean.zip", include_recreatable=False)
    assert (lean.left_out, full.left_out) == (heatmaps + 1, 0)
    assert lean.files == full.files - heatmaps - 1 == size.files - 1 - size.recreatable_files
    assert lean.file_bytes == full.file_bytes - size.recreatable_bytes
    filled.close()
    restored = restore(tmp_path / "backups" / "lean.zip", tmp_path / "restored" / "s.duckdb")
    assert restored.tables == full.tables
    with Store(restored.path) as copy, copy.read() as cur:
        images = [p for (p,) in cur.execute("SELECT image_path FROM cases").fetchall()]
        [checkpoint] = cur.execute("SELECT checkpoint_path FROM models").fetchone()
        maps = [p for (p,) in cur.execute("SELECT path FROM heatmaps").fetchall()]
        assert all(copy.resolve(p).is_file() for p in images)
        assert not copy.resolve(checkpoint).exists()
        assert not any(copy.resolve(p).exists() for p in maps)


class Terminal(io.StringIO):
    """Standard input that is a terminal where someone types ``answer``."""

    def isatty(self) -> bool:
        return True


def test_restore_asks_first_and_restores_only_on_yes(filled, tmp_path, capsys, monkeypatch):
    db = filled.path
    filled.close()
    bundle = tmp_path / "asked.zip"
    assert main(["--db", str(db), "backup", "--out", str(bundle)]) == 0
    target = tmp_path / "new" / "store.duckdb"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal, no --yes: refused
    assert main(["restore", str(bundle), "--to", str(target)]) == 2
    assert "--yes" in capsys.readouterr().err and not target.exists()
    monkeypatch.setattr("sys.stdin", Terminal("no\n"))
    assert main(["restore", str(bundle), "--to", str(target)]) == 1
    out = capsys.readouterr().out
    assert "password hashes" in out and "Nothing restored" in out and not target.exists()
    monkeypatch.setattr("sys.stdin", Terminal("yes\n"))
    assert main(["restore", str(bundle), "--to", str(target)]) == 0
    assert independent_summaries(target) == independent_summaries(db)
