"""Export: every table (including ones added later), cases joined with their split, no secrets."""
from __future__ import annotations

import csv

import numpy as np
import pyarrow.parquet as pq
import pytest

from core.cases.library import NewCase, save_cases
from core.cli import main
from core.errors import UserError
from core.export import export_tables
from core.splits import make_split


@pytest.fixture
def filled(store):
    rng = np.random.default_rng(0)
    cases = [NewCase(f"{label}/{k}.png", label, rng.integers(0, 256, (32, 32), dtype=np.uint8))
             for k, label in enumerate(["benign", "malignant"] * 6 + ["normal"])]
    save_cases(store, "toy", "folder", cases)
    make_split(store, "toy", folds=2)
    with store.transaction() as cur:
        cur.execute("INSERT INTO users (username, password_hash, role) VALUES (?, ?, ?)",
                    ["ana", "$argon2id$secret-hash", "trainee"])
        cur.execute("INSERT INTO settings (key, value) VALUES (?, ?), (?, ?)",
                    ["dicom_salt", '"salt-value"', "theme", '"light"'])
        cur.execute('CREATE TABLE "later table" (x INTEGER)')
        cur.execute('INSERT INTO "later table" VALUES (42)')
    return store


def read_csv(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_table_is_exported_as_csv(filled, tmp_path):
    written = export_tables(filled, tmp_path / "out", "csv")
    with filled.read() as cur:
        tables = {t for (t,) in cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
    assert {p.stem for p in written} == tables and "later table" in tables
    assert read_csv(tmp_path / "out" / "later table.csv") == [{"x": "42"}]
    cases = read_csv(tmp_path / "out" / "cases.csv")
    assert len(cases) == 13
    assert {"case_id", "dataset", "source_path", "label", "split", "fold", "group_id"} <= set(cases[0])
    by_label = {(row["label"], row["split"]) for row in cases}
    assert ("normal", "excluded") in by_label and ("benign", "test") in by_label
    assert all(row["group_id"] for row in cases)


def test_secrets_stay_in_the_store(filled, tmp_path):
    export_tables(filled, tmp_path / "out", "csv")
    users = read_csv(tmp_path / "out" / "users.csv")
    assert users[0]["username"] == "ana" and "password_hash" not in users[0]
    settings = read_csv(tmp_path / "out" / "settings.csv")
    assert [row["key"] for row in settings] == ["theme"]
    text = "".join(p.read_text() for p in (tmp_path / "out").iterdir())
    assert "secret-hash" not in text and "salt-value" not in text


def test_parquet_keeps_types(filled, tmp_path):
    written = export_tables(filled, tmp_path / "pq", "parquet")
    assert all(p.suffix == ".parquet" for p in written)
    cases = pq.read_table(tmp_path / "pq" / "cases.parquet").to_pylist()
    assert len(cases) == 13 and isinstance(cases[0]["case_id"], int)
    assert {row["split"] for row in cases} == {"train", "test", "excluded"}


def test_bad_output_is_refused(filled, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        export_tables(filled, tmp_path / "file", "csv")
    with pytest.raises(UserError, match="unknown export format"):
        export_tables(filled, tmp_path / "out", "xlsx")


def test_export_command(filled, tmp_path, capsys):
    db = filled.path
    filled.close()
    assert main(["export", "--db", str(db), "--out", str(tmp_path / "cli"), "--json"]) == 0
    assert '"files"' in capsys.readouterr().out
    assert (tmp_path / "cli" / "cases.csv").exists()
