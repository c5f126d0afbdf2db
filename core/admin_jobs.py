"""The administration page's background jobs: import, training, ImageNet weights, heatmaps,
backup.

Each ``*_job`` function checks its input at once (a :class:`UserError` before anything starts)
and returns a job function ``fn(progress, cancel)`` for :meth:`core.jobs.JobRunner.start`.
A cancelled import stores nothing: its rows go in in one transaction at the end, and the
cancel is honoured while the images are still being read.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Generator, Iterator
from contextlib import closing
from pathlib import Path, PurePosixPath

from core.backup import backup
from core.cases.decode import IMAGE_SUFFIXES, BadFile
from core.cases.importers import IMPORTERS, check_dataset_name
from core.cases.importers.common import mask_stem, read_table
from core.cases.importers.dicom import patient_salt
from core.cases.importers.sources import open_source
from core.cases.library import ImportResult, NewCase, save_cases
from core.errors import UserError
from core.jobs import JobFn, Progress
from core.store import Store

IMPORT_ROOT_ENV = "SONOCASE_IMPORT_ROOT"
UPLOAD_KINDS = ("busi", "busbra", "folder")    # the layouts that come as one .zip


class ImportCancelled(UserError):
    """The import was cancelled while reading; nothing was stored."""


def server_path(text: str, root: str | Path | None = None) -> Path:
    """A path on the server typed by an admin: resolved, existing, and under ``root``
    (default ``$SONOCASE_IMPORT_ROOT``; no restriction when neither is set)."""
    text = (text or "").strip()
    if not text:
        raise UserError("type the path of a folder or file on the server")
    path = Path(text).expanduser().resolve()
    if not path.exists():
        raise UserError(f"{path} does not exist on the server")
    root = root or os.environ.get(IMPORT_ROOT_ENV)
    if root and not path.is_relative_to(Path(root).resolve()):
        raise UserError(f"{path} is outside {Path(root).resolve()}, the folder imports may be "
                        f"read from (set by {IMPORT_ROOT_ENV})")
    return path


def save_upload(store: Store, name: str, data: bytes) -> Path:
    """Write an uploaded zip under the data folder's ``uploads/`` (in a folder of its own, so
    the import records the upload's own name); :func:`import_job` removes it afterwards."""
    if not name.lower().endswith(".zip"):
        raise UserError(f"{name} is not a .zip: upload the dataset as one zip archive")
    uploads = store.data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=uploads)) / PurePosixPath(name.replace("\\", "/")).name
    path.write_bytes(data)
    return path


def discard_upload(path: Path) -> None:
    """Remove an upload written by :func:`save_upload` (with its folder)."""
    shutil.rmtree(path.parent, ignore_errors=True)


def planned_images(kind: str, path: Path, labels: Path | None = None) -> int:
    """About how many images an import will read, for its progress bar (0: unknown): the
    manifest's or label table's rows, or the image files that are not masks. The importer
    itself reports anything unreadable."""
    try:
        if kind in ("csv", "dicom"):
            table = Path(path if kind == "csv" else labels)
            return sum(1 for _ in read_table(table, table.name).rows())
        with closing(open_source(path)) as source:
            files = source.files()
    except (BadFile, UserError, OSError):
        return 0
    return sum(1 for name in map(PurePosixPath, files)
               if name.suffix.lower() in IMAGE_SUFFIXES and mask_stem(name.name) is None
               and not name.name.lower().startswith("mask_"))


def _watched(cases: Generator[NewCase, None, None], planned: int, progress: Progress,
             cancel: threading.Event) -> Iterator[NewCase]:
    """Pass the importer's cases on, reporting progress and stopping on cancel."""
    with closing(cases):
        for read, case in enumerate(cases, 1):
            if cancel.is_set():
                raise ImportCancelled("import cancelled: nothing was stored")
            progress({"fraction": min(0.99, read / planned) if planned else 0.0,
                      "message": f"reading image {read}"
                      + (f" of about {planned}" if planned else "")})
            yield case
    if cancel.is_set():
        raise ImportCancelled("import cancelled: nothing was stored")
    progress({"fraction": 0.99, "message": "storing the cases"})


def run_import(store: Store, kind: str, path: Path, dataset: str, root: Path | None = None,
               labels: Path | None = None, source: str | None = None,
               progress: Progress | None = None, cancel: threading.Event | None = None
               ) -> ImportResult:
    """:func:`core.cases.importers.import_cases` with a progress report and a cancel.

    ``source`` is what the datasets table records as the origin (default: ``path``).
    """
    progress = progress or (lambda _report: None)
    cancel = cancel or threading.Event()
    options = _import_options(store, kind, path, dataset, root, labels)
    planned = planned_images(kind, path, labels)
    result = ImportResult()
    cases = IMPORTERS[kind].iter_cases(path, result, **options)
    params = {key: str(value) for key, value in options.items() if key != "salt" and value}
    return save_cases(store, dataset, kind, _watched(cases, planned, progress, cancel),
                      source=source or str(path), params=params, result=result)


def _import_options(store: Store, kind: str, path: Path, dataset: str, root: Path | None,
                    labels: Path | None) -> dict:
    """The checks of ``import_cases``, before a job starts; the importer's keyword options."""
    if kind not in IMPORTERS:
        raise UserError(f"unknown import kind {kind!r} (expected one of {', '.join(IMPORTERS)})")
    check_dataset_name(dataset)
    if not Path(path).exists():
        raise UserError(f"{path} does not exist")
    with store.read() as cur:
        row = cur.execute("SELECT kind FROM datasets WHERE dataset = ?", [dataset]).fetchone()
    if row and row[0] != kind:
        raise UserError(f"dataset {dataset!r} holds {row[0]} cases; import {kind} data into "
                        "another dataset")
    if kind == "csv":
        return {"root": Path(root) if root else None}
    if kind == "dicom":
        if labels is None:
            raise UserError("a DICOM import needs a label table (file or SOPInstanceUID, label)")
        return {"labels": Path(labels), "salt": patient_salt(store)}
    return {}


def import_job(store: Store, kind: str, path: Path, dataset: str, root: Path | None = None,
               labels: Path | None = None, upload_name: str | None = None) -> JobFn:
    """An import job; with ``upload_name``, ``path`` is an upload (:func:`save_upload`) that
    the job deletes when it ends (done, failed or cancelled)."""
    _import_options(store, kind, path, dataset, root, labels)

    def run(progress: Progress, cancel: threading.Event) -> ImportResult:
        try:
            return run_import(store, kind, path, dataset, root, labels,
                              f"upload {upload_name}" if upload_name else None, progress, cancel)
        finally:
            if upload_name:
                discard_upload(path)

    return run


def train_job(store: Store, dataset: str, archs: list[str], profile: str = "quick",
              device: str = "auto", init: str = "auto", seed: int = 0,
              framing: str = "auto") -> JobFn:
    """Train ``archs`` on ``dataset`` (see :func:`core.models.train.train_models`)."""
    if not archs:
        raise UserError("choose at least one architecture to train")

    def run(progress: Progress, cancel: threading.Event) -> list[str]:
        from core.models.train import train_models

        return train_models(store, dataset, archs, profile=profile, device=device, seed=seed,
                            init=init, framing=framing, progress=progress, cancel=cancel)

    return run


def weights_job(archs: list[str], weights_dir: Path | None = None) -> JobFn:
    """Download ``archs``' ImageNet files that are missing (see
    :func:`core.models.weights.download_weights`); stops between files when cancelled."""
    if not archs:
        raise UserError("choose at least one architecture whose weights to download")

    def run(progress: Progress, cancel: threading.Event) -> list[str]:
        from core.models.weights import download_weights, weights_file_name

        fetched = []
        for number, arch in enumerate(archs):
            if cancel.is_set():
                raise UserError(f"download cancelled; kept {', '.join(fetched) or 'nothing'}")
            progress({"fraction": number / len(archs),
                      "message": f"{weights_file_name(arch)} ({number + 1}/{len(archs)})"})
            fetched.append(download_weights(arch, weights_dir, progress=False).name)
        return fetched

    return run


def heatmap_job(store: Store, model_id: str, split: str = "test", method: str | None = None,
                device: str = "auto") -> JobFn:
    """Precompute ``model_id``'s heatmaps of ``split`` with ``method`` (None: the model's
    default) into the cache."""
    def run(progress: Progress, cancel: threading.Event) -> dict:
        from core.heatmaps.compute import precompute_heatmaps
        from core.models.loading import load_model
        from core.models.train import resolve_device

        progress({"fraction": 0.0, "message": f"loading {model_id}"})
        loaded = load_model(store, model_id, resolve_device(device))
        return precompute_heatmaps(store, loaded, split, method, progress=progress,
                                   cancel=cancel)

    return run


def backup_job(store: Store, dest: Path, include_recreatable: bool = True) -> JobFn:
    """Back the store up into the new zip ``dest`` (see :func:`core.backup.backup`)."""
    if dest.exists():
        raise UserError(f"{dest} already exists: choose a new name for the backup")

    def run(progress: Progress, cancel: threading.Event):
        return backup(store, dest, progress, cancel, include_recreatable)

    return run
