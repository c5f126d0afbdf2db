"""Export every table of the store, one CSV or Parquet file per table.

Tables are listed from ``information_schema``, so tables added by later migrations are
exported without change here. ``cases`` is joined with its split (``split``, ``fold``,
``group_id``, ``split_seed``). Secrets stay in the store: password hashes are left out, and so
is the salt that pseudonymises DICOM patient IDs (with it, an ID could be tested against them).
"""
from __future__ import annotations

from pathlib import Path

from core.atomic import atomic_path
from core.cases.importers.dicom import SALT_KEY
from core.csv_cells import safe_arrow_table
from core.errors import UserError
from core.store import Store

FORMATS = ("csv", "parquet")
SECRET_COLUMNS = {"password_hash"}


def quote_identifier(name: str) -> str:
    """A SQL identifier in double quotes (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def list_tables(cur) -> list[str]:
    return [name for (name,) in cur.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_type = 'BASE TABLE' ORDER BY table_name").fetchall()]


def _columns(cur, table: str) -> list[str]:
    return [name for (name,) in cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_name = ? ORDER BY ordinal_position", [table]).fetchall()]


def table_query(cur, table: str) -> tuple[str, list]:
    """The SELECT (and its parameters) that exports ``table``."""
    columns = ", ".join(f"t.{quote_identifier(c)}" for c in _columns(cur, table)
                        if c not in SECRET_COLUMNS)
    if table == "cases":
        return (f"SELECT {columns}, s.split, s.fold, s.group_id, s.seed AS split_seed "
                "FROM cases t LEFT JOIN splits s USING (case_id) ORDER BY t.case_id", [])
    if table == "settings":
        return f"SELECT {columns} FROM settings t WHERE t.key <> ? ORDER BY t.key", [SALT_KEY]
    return f"SELECT {columns} FROM {quote_identifier(table)} t", []


def _write(table, path: Path, fmt: str) -> None:
    """Write an Arrow table via a temporary file and a rename (never a half-written file)."""
    import pyarrow.csv
    import pyarrow.parquet

    with atomic_path(path) as tmp:
        if fmt == "csv":  # text cells that a spreadsheet would run as formulas get a '
            pyarrow.csv.write_csv(safe_arrow_table(table), str(tmp))
        else:
            pyarrow.parquet.write_table(table, str(tmp))


def export_tables(store: Store, out_dir: str | Path, fmt: str = "csv") -> list[Path]:
    """Write ``<table>.<fmt>`` for every table into ``out_dir``; returns the files written."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r} (expected {' or '.join(FORMATS)})")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with store.read() as cur:
        for table in list_tables(cur):
            query, params = table_query(cur, table)
            path = out_dir / f"{table}.{fmt}"
            _write(cur.sql(query, params=params).to_arrow_table(), path, fmt)
            written.append(path)
    return written
