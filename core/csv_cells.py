"""CSV for spreadsheets without formula injection (OWASP "CSV Injection").

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, after a tab or a
carriage return, the formula behind it) as a formula: a display name ``=HYPERLINK(...)``
in an exported table would become a live link or worse. Every text cell that starts so gets
a leading ``'``, which spreadsheets show as text and do not display. Numbers are left as they
are (a negative AUC difference stays a number); Parquet files are not spreadsheets and keep
the stored values.
"""
from __future__ import annotations

import csv

import pandas as pd
import pyarrow
import pyarrow.compute as pc

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_PATTERN = "^[=+\\-@\t\r]"


def neutralise(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are :func:`neutralise`-d (numbers untouched)."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(
                lambda value: neutralise(value) if isinstance(value, str) else value)
    return safe


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as CSV text (no index) that is safe to open in a spreadsheet: text cells
    neutralised and quoted (as OWASP advises; a carriage return inside stays in its cell)."""
    return safe_frame(frame).to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC)


def safe_arrow_table(table: pyarrow.Table) -> pyarrow.Table:
    """``table`` with its text columns neutralised, vectorised (an export of a million reads
    never loops over cells in Python)."""
    columns = []
    for column in table.columns:
        if pyarrow.types.is_string(column.type) or pyarrow.types.is_large_string(column.type):
            formula = pc.match_substring_regex(column, _FORMULA_PATTERN)
            column = pc.if_else(formula, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pyarrow.Table.from_arrays(columns, schema=table.schema)
