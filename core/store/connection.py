"""Open the store the one way: same settings, migrations applied, clear message when locked.

One process owns the file for writing (DuckDB allows no second writer). Inside that process,
every unit of work takes its own cursor; writes go through :meth:`Store.transaction`, which
serialises them so that concurrent sessions never meet "connection is busy" or a conflict.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from core import PROJECT_ROOT
from core.errors import StoreLocked, UserError
from core.paths import make_private_folder, safe_join
from core.store.migrations import latest_version, migrate, schema_version

DB_ENV = "SONOCASE_DB"


def default_db_path() -> Path:
    """``$SONOCASE_DB`` if set, else ``data/results.duckdb`` in the project."""
    return Path(os.environ.get(DB_ENV) or PROJECT_ROOT / "data" / "results.duckdb")


def _locked_message(path: Path, error: Exception) -> str:
    pid = re.search(r"PID (\d+)", str(error))
    holder = f"process {pid.group(1)}" if pid else "another process"
    return (
        f"The results store {path} is in use by {holder} (the app, or another command). "
        "Only one process may write to it: stop that process first, or point this one at "
        f"another store with --db PATH or {DB_ENV}."
    )


class Store:
    """The results store. ``data_dir`` (the file's folder) holds every file the store names.

    Opening it makes the process create its files 0600 and folders 0700
    (:func:`core.paths.keep_files_private`): the store holds password hashes and patients'
    images."""

    def __init__(self, path: str | Path | None = None, read_only: bool = False) -> None:
        self.path = Path(path or default_db_path()).resolve()
        self.data_dir = self.path.parent
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise UserError(f"no store at {self.path}")
        make_private_folder(self.data_dir)  # and the store, its WAL, every file after: 0600
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as error:
            if "lock" in str(error).lower():
                raise StoreLocked(_locked_message(self.path, error)) from None
            raise UserError(f"cannot open the store {self.path}: {error}") from None
        except duckdb.Error as error:
            raise UserError(f"cannot open the store {self.path}: {error}") from None
        self._write_lock = threading.RLock()
        self.changes = 0
        if read_only:
            if schema_version(self._con) != latest_version():
                raise UserError(f"the store {self.path} needs migrating; open it once for writing")
        else:
            migrate(self._con)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A fresh cursor: one per unit of work, never shared between threads."""
        return self._con.cursor()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._con.cursor()
        try:
            yield cur
        finally:
            cur.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing writes: commit on success, roll back on any error or interrupt."""
        if self.read_only:
            raise UserError("this store was opened read-only")
        with self._write_lock:
            cur = self._con.cursor()
            cur.begin()
            try:
                yield cur
                cur.commit()
                self.changes += 1
            except BaseException:
                cur.rollback()
                raise
            finally:
                cur.close()

    def resolve(self, relative: str | Path) -> Path:
        """A path the store names, resolved under the data folder (never outside it)."""
        return safe_join(self.data_dir, relative)

    def relative(self, path: Path) -> str:
        """How the store names a file under the data folder."""
        return Path(path).resolve().relative_to(self.data_dir).as_posix()

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
