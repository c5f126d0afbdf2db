"""Back up the store and the files it names into one zip; restore it into a fresh file, verified.

A backup is taken inside the app's own process while it keeps serving: under the store's write
lock, in one transaction, the database is copied (DuckDB ``COPY FROM DATABASE`` into a new
file: tables, constraints, JSON columns and sequences at their current values) and each table's
row count and checksum are taken from the same snapshot. The copy is then reopened and checked
against them. The files the store names (case images and masks, checkpoints, heatmaps: see
:data:`FILE_COLUMNS`) follow outside the lock, each with its SHA-256.

The bundle is a zip: ``manifest.json``, ``store.duckdb`` and ``files/<path under the data
folder>``. It holds password hashes and the salt of DICOM patient IDs: keep it as safe as the
store. :func:`restore` writes a *new* store file, never over an existing one: to replace the
live store, stop the app, restore to a new path and start the app with ``--db NEW_PATH`` (or
``SONOCASE_DB=NEW_PATH``). Everything is checked before anything lands.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from core.cases.importers.sources import ZIP_READ_ERRORS
from core.errors import UserError
from core.export import quote_identifier
from core.paths import make_private_folder, safe_join
from core.store import Store, latest_version

FORMAT = "sonocase-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DB_ENTRY = "store.duckdb"
FILES_PREFIX = "files/"
# Every column naming a file under the data folder; a table that names files joins this list.
FILE_COLUMNS = (("cases", "image_path"), ("cases", "mask_path"),
                ("models", "checkpoint_path"), ("crossfit_folds", "checkpoint_path"),
                ("heatmaps", "path"))
# Files the app can make again: checkpoints (retrain the model, or cross-fit it again: its row,
# predictions and scores stay) and heatmaps (recomputed on demand). A backup may leave them out.
RECREATABLE_COLUMNS = (("models", "checkpoint_path"), ("crossfit_folds", "checkpoint_path"),
                       ("heatmaps", "path"))
ALREADY_COMPRESSED = {".png", ".jpg", ".jpeg", ".pt", ".zip"}
CHUNK = 1 << 20

Progress = Callable[[dict], None]


@dataclass(frozen=True)
class TableSummary:
    rows: int
    checksum: str


@dataclass
class BackupReport:
    """What a backup wrote or a restore verified. ``path``: the bundle, or the restored store."""

    path: Path
    schema_version: int
    tables: dict[str, TableSummary]
    sequences: dict[str, int | None]
    files: int
    file_bytes: int
    seconds: float
    missing_files: list[str] = field(default_factory=list)
    left_out: int = 0  # re-creatable files not bundled (``include_recreatable=False``)

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables.values())

    def as_dict(self) -> dict:
        report = asdict(self)
        report["path"] = str(self.path)
        report["rows"] = self.rows
        return report


def default_backup_path(store: Store) -> Path:
    """``backups/sonocase-<local time>.zip`` in the store's data folder."""
    return store.data_dir / "backups" / f"sonocase-{datetime.now():%Y%m%d-%H%M%S}.zip"


def list_backups(store: Store) -> list[Path]:
    """The bundles in the data folder's ``backups/``, newest first."""
    folder = store.data_dir / "backups"
    found = folder.glob("*.zip") if folder.is_dir() else []
    return sorted(found, key=lambda path: path.stat().st_mtime, reverse=True)


def _literal(text: str) -> str:
    """A SQL string literal (ATTACH takes no parameters)."""
    return "'" + text.replace("'", "''") + "'"


def table_summaries(cur: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, TableSummary]:
    """Row count and checksum of every table of ``catalog``: the MD5 of the rows' MD5s in
    sorted order, so it depends on the rows alone, not on their physical order."""
    tables = [name for (name,) in cur.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main'"
        " AND NOT temporary ORDER BY table_name", [catalog]).fetchall()]
    summaries = {}
    for table in tables:
        qualified = f"{quote_identifier(catalog)}.main.{quote_identifier(table)}"
        rows, checksum = cur.execute(
            "SELECT count(*), coalesce(md5(string_agg(h, ',' ORDER BY h)), md5('')) FROM "
            f"(SELECT md5(CAST(t AS VARCHAR)) AS h FROM {qualified} t)").fetchone()
        summaries[table] = TableSummary(rows, checksum)
    return summaries


def sequence_values(cur: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, int | None]:
    """The last value each sequence handed out (None: never used)."""
    return dict(cur.execute(
        "SELECT sequence_name, last_value FROM duckdb_sequences() WHERE database_name = ? "
        "AND schema_name = 'main' ORDER BY sequence_name", [catalog]).fetchall())


def _schema_version(cur: duckdb.DuckDBPyConnection, catalog: str) -> int:
    return cur.execute(f"SELECT coalesce(max(version), 0) FROM {quote_identifier(catalog)}"
                       ".main.schema_version").fetchone()[0]


def _named_files(cur: duckdb.DuckDBPyConnection, catalog: str,
                 columns: tuple[tuple[str, str], ...] = FILE_COLUMNS) -> list[str]:
    selects = " UNION ".join(
        f"SELECT {quote_identifier(column)} AS path FROM {quote_identifier(catalog)}.main."
        f"{quote_identifier(table)} WHERE {quote_identifier(column)} IS NOT NULL"
        for table, column in columns)
    return [path for (path,) in cur.execute(f"{selects} ORDER BY path").fetchall()]


def _snapshot(cur: duckdb.DuckDBPyConnection, catalog: str) -> dict:
    return {"schema_version": _schema_version(cur, catalog),
            "tables": table_summaries(cur, catalog), "sequences": sequence_values(cur, catalog)}


def _file_snapshot(path: Path) -> dict:
    """The snapshot of a database file, opened read-only on its own."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise UserError(f"the backed-up database cannot be opened ({error}): the bundle is "
                        "damaged") from None
    try:
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        return _snapshot(con, catalog)
    except duckdb.Error as error:
        raise UserError(f"the backed-up database cannot be read ({error}): the bundle is "
                        "damaged") from None
    finally:
        con.close()


def _differences(found: dict, expected: dict) -> list[str]:
    """What differs between two snapshots, in words (empty: identical)."""
    problems = []
    if found["schema_version"] != expected["schema_version"]:
        problems.append(f"schema version {found['schema_version']} instead of "
                        f"{expected['schema_version']}")
    for table in sorted(set(found["tables"]) | set(expected["tables"])):
        have, want = found["tables"].get(table), expected["tables"].get(table)
        if have is None or want is None:
            problems.append(f"table {table} {'missing' if have is None else 'unexpected'}")
        elif have.rows != want.rows:
            problems.append(f"table {table}: {have.rows} rows instead of {want.rows}")
        elif have.checksum != want.checksum:
            problems.append(f"table {table}: checksum differs")
    if found["sequences"] != expected["sequences"]:
        problems.append(f"sequences {found['sequences']} instead of {expected['sequences']}")
    return problems


def _copy_database(store: Store, copy: Path) -> tuple[dict, list[str]]:
    """Copy the store into the new file ``copy`` in one write transaction (writers wait,
    readers go on); returns the snapshot's summaries and the files it names."""
    alias = f"backup_{secrets.token_hex(4)}"
    try:
        with store.transaction() as cur:
            catalog = cur.execute("SELECT current_database()").fetchone()[0]
            cur.execute(f"ATTACH {_literal(str(copy))} AS {alias}")
            cur.execute(f"COPY FROM DATABASE {quote_identifier(catalog)} TO {alias}")
            snapshot = _snapshot(cur, catalog)
            files = _named_files(cur, catalog)
            recreatable = set(_named_files(cur, catalog, RECREATABLE_COLUMNS))
    finally:
        with store.read() as cur:
            cur.execute(f"DETACH DATABASE IF EXISTS {alias}")
    return snapshot, files, recreatable


@dataclass(frozen=True)
class BackupSize:
    """What a backup would hold before it is made: files and bytes on disk (the zip is
    a little smaller: images and checkpoints are already compressed)."""

    files: int
    bytes: int
    recreatable_files: int
    recreatable_bytes: int


def backup_size(store: Store) -> BackupSize:
    """The size of a backup with everything, and the part of it that can be made again."""
    with store.read() as cur:
        catalog = cur.execute("SELECT current_database()").fetchone()[0]
        names = _named_files(cur, catalog)
        recreatable = set(_named_files(cur, catalog, RECREATABLE_COLUMNS))
    sizes = {}
    for name in names:
        path = store.resolve(name)
        if path.is_file():
            sizes[name] = path.stat().st_size
    database = sum(path.stat().st_size for path in (store.path, store.path.with_name(
        store.path.name + ".wal")) if path.is_file())
    again = [size for name, size in sizes.items() if name in recreatable]
    return BackupSize(len(sizes) + 1, database + sum(sizes.values()), len(again), sum(again))


def _copy_stream(source, target, expected_bytes: int | None = None) -> tuple[str, int]:
    """Copy between open binary files; returns (SHA-256, bytes). Stops past ``expected_bytes``."""
    digest, size = hashlib.sha256(), 0
    while chunk := source.read(CHUNK):
        size += len(chunk)
        if expected_bytes is not None and size > expected_bytes:
            raise UserError("a bundle entry is larger than its manifest says: the bundle is "
                            "damaged or was altered")
        digest.update(chunk)
        target.write(chunk)
    return digest.hexdigest(), size


def _summaries_json(snapshot: dict) -> dict:
    return {"schema_version": snapshot["schema_version"],
            "tables": {name: asdict(table) for name, table in snapshot["tables"].items()},
            "sequences": snapshot["sequences"]}


def _report(path: Path, snapshot: dict, files: dict[str, dict], started: float,
            missing: list[str], left_out: int = 0) -> BackupReport:
    return BackupReport(path, snapshot["schema_version"], snapshot["tables"],
                        snapshot["sequences"], len(files),
                        sum(entry["bytes"] for entry in files.values()),
                        time.perf_counter() - started, missing, left_out)


def backup(store: Store, dest: str | Path, progress: Progress | None = None,
           cancel: threading.Event | None = None,
           include_recreatable: bool = True) -> BackupReport:
    """Write the store and the files it names to the new zip ``dest``; the app keeps running.
    ``include_recreatable=False``: without checkpoints and heatmaps (listed in the manifest's
    ``left_out``; after a restore, retrain the models and recompute the maps).

    The database copy is verified (row counts, checksums, sequences) before the bundle is
    finished; the bundle appears only when complete. A named file that is not on disk is
    listed in ``missing_files`` (the store names it, but it was already gone).
    """
    started = time.perf_counter()
    dest = Path(dest).resolve()
    if dest.exists():
        raise UserError(f"{dest} already exists: choose a new name for the backup")
    make_private_folder(dest.parent)  # and the bundle (password hashes) 0600
    report = progress or (lambda _report: None)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".backup-") as work:
        copy = Path(work) / DB_ENTRY
        report({"fraction": 0.0, "message": "copying the database"})
        snapshot, names, recreatable = _copy_database(store, copy)
        left_out = [] if include_recreatable else sorted(set(names) & recreatable)
        names = [name for name in names if name not in left_out]
        problems = _differences(_file_snapshot(copy), snapshot)
        if problems:
            raise UserError("the database copy differs from the store: " + "; ".join(problems))
        present = {name: store.resolve(name) for name in names}
        missing = [name for name, path in present.items() if not path.is_file()]
        sizes = {name: path.stat().st_size for name, path in present.items()
                 if name not in missing}
        total = copy.stat().st_size + sum(sizes.values())
        done = 0
        files: dict[str, dict] = {}
        partial = Path(work) / "bundle.zip"
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as bundle:
            database = _add_file(bundle, copy, DB_ENTRY)
            done += database["bytes"]
            for name in sizes:
                if cancel is not None and cancel.is_set():
                    raise UserError("backup cancelled: no bundle was written")
                try:
                    files[name] = _add_file(bundle, present[name], FILES_PREFIX + name)
                except FileNotFoundError:  # deleted since the snapshot (a model retrained)
                    missing.append(name)
                    continue
                done += files[name]["bytes"]
                report({"fraction": done / total if total else 1.0,
                        "message": f"{len(files)}/{len(sizes)} files"})
            manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "duckdb_version": duckdb.__version__, **_summaries_json(snapshot),
                        "database": database, "files": files, "missing_files": sorted(missing),
                        "left_out": left_out}
            bundle.writestr(MANIFEST, json.dumps(manifest, indent=1),
                            compress_type=zipfile.ZIP_DEFLATED)
        os.replace(partial, dest)
    return _report(dest, snapshot, files, started, sorted(missing), len(left_out))


def _add_file(bundle: zipfile.ZipFile, path: Path, name: str) -> dict:
    """Stream ``path`` into the bundle as ``name``: deflated (the bundle's level), or stored
    when already compressed; returns its SHA-256 and size."""
    entry: str | zipfile.ZipInfo = name
    if Path(name).suffix.lower() in ALREADY_COMPRESSED:
        entry = zipfile.ZipInfo(name)
        entry.compress_type = zipfile.ZIP_STORED
    with path.open("rb") as source, bundle.open(entry, "w", force_zip64=True) as target:
        sha, size = _copy_stream(source, target)
    return {"sha256": sha, "bytes": size}


def damaged(entry: str, error: BaseException) -> UserError:
    """The one message for an entry that cannot be read back (a flipped bit, a cut file)."""
    return UserError(f"bundle damaged: {entry} cannot be read ({error}); nothing was restored")


def _read_manifest(bundle: zipfile.ZipFile) -> dict:
    try:
        data = bundle.read(MANIFEST)
    except KeyError:
        raise UserError(f"no {MANIFEST} in the bundle: not a SonoCase backup") from None
    except ZIP_READ_ERRORS as error:
        raise damaged(MANIFEST, error) from None
    try:
        manifest = json.loads(data)
    except ValueError as error:
        raise UserError(f"the bundle's {MANIFEST} is unreadable ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UserError("not a SonoCase backup (its manifest names another format)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise UserError(f"backup format {manifest.get('format_version')} is not supported "
                        f"(this version reads format {FORMAT_VERSION})")
    try:
        manifest["schema_version"] = int(manifest["schema_version"])
        manifest["tables"] = {str(name): TableSummary(int(table["rows"]), str(table["checksum"]))
                              for name, table in manifest["tables"].items()}
        manifest["sequences"] = {str(name): None if value is None else int(value)
                                 for name, value in manifest["sequences"].items()}
        manifest["missing_files"] = [str(name) for name in manifest.get("missing_files", [])]
        for entry in [manifest["database"], *manifest["files"].values()]:
            entry["bytes"], entry["sha256"] = int(entry["bytes"]), str(entry["sha256"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise UserError(f"the bundle's manifest is incomplete ({error!r})") from None
    if manifest["schema_version"] > latest_version():
        raise UserError(f"the backup is of schema version {manifest['schema_version']}, newer "
                        f"than this code ({latest_version()}): restore it with a newer SonoCase")
    return manifest


def _check_entries(bundle: zipfile.ZipFile, manifest: dict, data_dir: Path,
                   reserved: tuple[Path, ...]) -> dict[str, Path]:
    """Every entry is one the manifest names, of its size, landing under ``data_dir`` and not
    on a ``reserved`` path; returns each file's destination."""
    names = bundle.namelist()
    expected = {MANIFEST, DB_ENTRY} | {FILES_PREFIX + name for name in manifest["files"]}
    unexpected = sorted(set(names) - expected)
    if unexpected or len(names) != len(set(names)):
        raise UserError("the bundle holds entries its manifest does not name "
                        f"({', '.join(unexpected[:5]) or 'a repeated entry'}): refused")
    absent = sorted(expected - set(names))
    if absent:
        raise UserError(f"the bundle lacks {len(absent)} entries its manifest names "
                        f"(first: {absent[0]}): it is incomplete")
    sizes = {DB_ENTRY: manifest["database"]["bytes"],
             **{FILES_PREFIX + name: entry["bytes"] for name, entry in manifest["files"].items()}}
    for name, size in sizes.items():
        if bundle.getinfo(name).file_size != size:
            raise UserError(f"{name} in the bundle is not the size its manifest says: the "
                            "bundle is damaged or was altered")
    targets = {name: safe_join(data_dir, name) for name in manifest["files"]}
    if set(targets.values()) & set(reserved):
        raise UserError("the bundle's manifest names a file at the new store's own path: refused")
    if len(set(targets.values())) != len(targets):
        raise UserError("the bundle's manifest names one file twice under different names: "
                        "refused")
    return targets


class _EntryReader:
    """A bundle entry's stream whose read errors (a broken deflate stream, a bad CRC) become
    "bundle damaged: ENTRY", apart from errors writing the copy."""

    def __init__(self, stream, name: str) -> None:
        self._stream, self._name = stream, name

    def read(self, size: int) -> bytes:
        try:
            return self._stream.read(size)
        except ZIP_READ_ERRORS as error:
            raise damaged(self._name, error) from None


def _extract(bundle: zipfile.ZipFile, name: str, target: Path, expected: dict) -> None:
    """Extract one entry and check its SHA-256 against the manifest."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        source = bundle.open(name)
    except ZIP_READ_ERRORS as error:
        raise damaged(name, error) from None
    with source, target.open("wb") as out:
        sha, size = _copy_stream(_EntryReader(source, name), out, expected["bytes"])
    if sha != expected["sha256"] or size != expected["bytes"]:
        raise UserError(f"bundle damaged: {name} does not match its checksum (the bundle is "
                        "damaged or was altered)")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _conflicting_files(targets: dict[str, Path], files: dict[str, dict]) -> list[str]:
    """Files already at a destination with other contents (never overwritten)."""
    return [name for name, path in targets.items()
            if path.exists() and (not path.is_file() or _sha256(path) != files[name]["sha256"])]


def restore(bundle_path: str | Path, dest_db: str | Path,
            progress: Progress | None = None) -> BackupReport:
    """Restore a bundle into the new store file ``dest_db`` (its folder gets the files).

    Refuses an existing ``dest_db`` and files in its folder that differ from the bundle's.
    Every entry is checked (SHA-256; tables' row counts and checksums, the sequences) in a
    staging folder before anything is moved into place.
    """
    started = time.perf_counter()
    bundle_path, dest_db = Path(bundle_path), Path(dest_db).resolve()
    reserved = (dest_db, dest_db.with_name(dest_db.name + ".wal"))
    if any(path.exists() for path in reserved):
        raise UserError(f"{dest_db} already exists: restore into a new file. To replace the "
                        "live store, stop the app, restore to a new path and start the app "
                        "with --db NEW_PATH (or SONOCASE_DB=NEW_PATH)")
    if not bundle_path.is_file():
        raise UserError(f"no backup bundle at {bundle_path}")
    report = progress or (lambda _report: None)
    data_dir = dest_db.parent
    make_private_folder(data_dir)  # and every file restored into it 0600
    try:
        bundle = zipfile.ZipFile(bundle_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise UserError(f"{bundle_path} is not a readable zip ({error})") from None
    with bundle, tempfile.TemporaryDirectory(dir=data_dir, prefix=".restore-") as work:
        manifest = _read_manifest(bundle)
        targets = _check_entries(bundle, manifest, data_dir, reserved)
        conflicts = _conflicting_files(targets, manifest["files"])
        if conflicts:
            raise UserError(f"{len(conflicts)} files in {data_dir} differ from the backup's "
                            f"(first: {conflicts[0]}); restore into an empty folder")
        staged_db = Path(work) / DB_ENTRY
        report({"fraction": 0.0, "message": "checking the database"})
        _extract(bundle, DB_ENTRY, staged_db, manifest["database"])
        snapshot = _file_snapshot(staged_db)
        problems = _differences(snapshot, manifest)
        if problems:
            raise UserError("the restored tables differ from the backup's manifest: "
                            + "; ".join(problems))
        to_copy = [name for name, path in targets.items() if not path.exists()]
        for index, name in enumerate(to_copy, 1):
            _extract(bundle, FILES_PREFIX + name, Path(work) / "files" / name,
                     manifest["files"][name])
            report({"fraction": index / len(to_copy), "message": f"{index}/{len(to_copy)} files"})
        for name in to_copy:
            targets[name].parent.mkdir(parents=True, exist_ok=True)
            os.replace(Path(work) / "files" / name, targets[name])
        if dest_db.exists():
            raise UserError(f"{dest_db} appeared while restoring: nothing was overwritten")
        shutil.move(staged_db, dest_db)
    return _report(dest_db, snapshot, manifest["files"], started, manifest["missing_files"])
