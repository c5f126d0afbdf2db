"""Manifests and names that used to be misread: columns that differ only by case or spaces,
a dataset name with a newline, UTF-16 and UTF-8-with-BOM tables, a large manifest read as a
stream (rows counted, skips counted beyond those listed), and `user add` without a terminal."""
from __future__ import annotations

import codecs
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.cases.importers import check_dataset_name, import_cases
from core.cases.importers.common import read_table
from core.cases.library import MAX_SKIPS_LISTED
from core.cli import main
from core.errors import UserError
from tests.test_import_layouts import png, smooth, write_tree

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("header, first, second", [
    ("image,label,Label", "label", "Label"), ("image,label, LABEL ", "label", "LABEL"),
    ("Image Path,image_path,label", "Image Path", "image_path")])
def test_columns_that_differ_only_by_case_or_spaces_are_refused_by_name(store, tmp_path, header,
                                                                        first, second):
    write_tree(tmp_path, {"a.png": png(smooth(1))})
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"{header}\na.png,malignant,benign\n")
    with pytest.raises(UserError, match="ambiguous") as error:
        import_cases(store, "csv", manifest)
    assert f"'{first}'" in str(error.value) and f"'{second}'" in str(error.value)
    with store.read() as cur:
        assert cur.execute("SELECT count(*) FROM cases").fetchone()[0] == 0


@pytest.mark.parametrize("name", ["mine\n", "mine\r\n", "a\nb", "mine\x00"])
def test_a_dataset_name_must_match_in_full(name):
    with pytest.raises(UserError, match="invalid dataset name"):
        check_dataset_name(name)


@pytest.mark.parametrize("codec, bom", [("utf-16-le", codecs.BOM_UTF16_LE),
                                        ("utf-16-be", codecs.BOM_UTF16_BE),
                                        ("utf-8", codecs.BOM_UTF8),
                                        ("utf-32-le", codecs.BOM_UTF32_LE)])
def test_unicode_tables_are_read_by_their_byte_order_mark(store, tmp_path, codec, bom):
    write_tree(tmp_path, {"café.png": png(smooth(1)), "b.png": png(smooth(2))})
    manifest = tmp_path / "m.csv"
    text = "image;label;histology\ncafé.png;malignant;IDC – grade 2\nb.png;benign;Fibroadenoma\n"
    manifest.write_bytes(bom + text.encode(codec))
    result = import_cases(store, "csv", manifest)
    assert result.by_label == {"benign": 1, "malignant": 1} and result.rows == 2
    with store.read() as cur:
        assert cur.execute("SELECT histology FROM cases WHERE source_path = 'café.png'"
                           ).fetchone()[0] == "IDC – grade 2"


def test_latin1_tables_without_a_mark_still_read(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("image,label\ncaf\xe9.png,benign\n".encode("latin-1"))
    table = read_table(path, "latin.csv")
    assert [row["image"] for _, row in table.rows()] == ["café.png"]


def test_a_large_manifest_counts_its_rows_and_every_skip(store, tmp_path, capsys):
    rows = MAX_SKIPS_LISTED + 500
    write_tree(tmp_path, {"a.png": png(smooth(1))})
    manifest = tmp_path / "big.csv"
    manifest.write_text("image,label\na.png,benign\n"
                        + "".join(f"missing/{i}.png,benign\n" for i in range(rows - 1)))
    result = import_cases(store, "csv", manifest)
    assert result.rows == rows and result.imported == 1
    assert result.skipped_total == rows - 1 and len(result.skipped) == MAX_SKIPS_LISTED
    assert result.skipped[0] == {"path": "missing/0.png", "reason": "file not found"}
    code = main(["import", "csv", str(manifest), "--dataset", "again", "--db",
                 str(tmp_path / "cli" / "r.duckdb")])
    out = capsys.readouterr().out
    assert code == 0 and f"read {rows} rows of big.csv" in out
    assert f"{rows - 1} skipped" in out and f"... and {rows - 1 - 20} more" in out
    assert main(["import", "csv", str(manifest), "--dataset", "again", "--json", "--db",
                 str(tmp_path / "cli" / "r.duckdb")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["rows"] == rows and printed["skipped_total"] == rows - 1


def test_user_add_without_a_terminal_says_to_use_password_stdin(tmp_path):
    out = subprocess.run([sys.executable, "-m", "core", "--db", str(tmp_path / "r.duckdb"),
                          "user", "add", "bob", "--role", "trainee"], cwd=ROOT,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "--password-stdin" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("rows", [1, 2000])
def test_a_utf16_table_cut_mid_character_is_one_clear_error(tmp_path, rows):
    path = tmp_path / "cut.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + ("image,label\n" + "a.png,benign\n" * rows)
                     .encode("utf-16-le") + b"\x00")
    with pytest.raises(UserError, match="is not utf-16 text"):
        list(read_table(path, "cut.csv").rows())
