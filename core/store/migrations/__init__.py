"""Numbered schema migrations (``NNN_name.sql``) applied in order, recorded in ``schema_version``."""
from __future__ import annotations

import re
from pathlib import Path

import duckdb

MIGRATIONS_DIR = Path(__file__).resolve().parent
_NAME = re.compile(r"^(\d{3})_(\w+)\.sql$")


def available() -> list[tuple[int, str, Path]]:
    """All migration files as (number, name, path), in order."""
    found = []
    for path in MIGRATIONS_DIR.glob("*.sql"):
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), match.group(2), path))
    return sorted(found)


def latest_version() -> int:
    return available()[-1][0]


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The version a store is at; 0 for an empty file."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchone()[0]
    if not exists:
        return 0
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def migrate(con: duckdb.DuckDBPyConnection, target: int | None = None) -> list[int]:
    """Apply every migration not yet recorded (up to ``target``), in order, each in its own
    transaction; returns the versions applied. A migration numbered below one already applied
    (it landed later) is applied too, never skipped."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    done = {version for (version,) in con.execute("SELECT version FROM schema_version").fetchall()}
    applied = []
    for number, name, path in available():
        if number in done or (target is not None and number > target):
            continue
        con.begin()
        try:
            con.execute(path.read_text())
            con.execute("INSERT INTO schema_version (version, name) VALUES (?, ?)", [number, name])
            con.commit()
        except BaseException:
            con.rollback()
            raise
        applied.append(number)
    return applied
