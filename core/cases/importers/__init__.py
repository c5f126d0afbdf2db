"""Importers, one module per source layout, and :func:`import_cases` to run one into the store.

Each module has ``KIND``, ``HELP`` and ``iter_cases(path, result, ...)``, a generator of
:class:`~core.cases.library.NewCase` that records every file it cannot use in ``result``
(with the reason) and goes on. :func:`save_cases` then stores them in one transaction.
"""
from __future__ import annotations

import re
from pathlib import Path

from core.cases.importers import busbra, busi, dicom, folder, manifest
from core.cases.library import ImportResult, save_cases
from core.errors import UserError
from core.store import Store

IMPORTERS = {module.KIND: module for module in (busi, busbra, manifest, dicom, folder)}
DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_dataset_name(name: str) -> str:
    """A dataset name is also a folder name under ``cases/``: letters, digits, ``_ . -``."""
    if not DATASET_NAME.fullmatch(name or ""):  # the whole name: no trailing newline
        raise UserError(f"invalid dataset name {name!r}: use 1-64 letters, digits, '_', '.' or "
                        "'-', starting with a letter or digit")
    return name


def _check_kind(store: Store, dataset: str, kind: str) -> None:
    with store.read() as cur:
        row = cur.execute("SELECT kind FROM datasets WHERE dataset = ?", [dataset]).fetchone()
    if row and row[0] != kind:
        raise UserError(f"dataset {dataset!r} holds {row[0]} cases; import {kind} data into "
                        "another dataset (--dataset NAME)")


def import_cases(store: Store, kind: str, path: str | Path, dataset: str | None = None,
                 root: str | Path | None = None, labels: str | Path | None = None
                 ) -> ImportResult:
    """Import ``path`` of layout ``kind`` into ``dataset`` (default: the kind's name).

    ``root`` is the image folder of a csv manifest; ``labels`` the label CSV of a DICOM
    folder. Bad files are skipped with their reason; the rows go in in one transaction.
    """
    if kind not in IMPORTERS:
        raise UserError(f"unknown import kind {kind!r} (expected one of {', '.join(IMPORTERS)})")
    if root is not None and kind != "csv":
        raise UserError("--root applies to csv manifests only")
    if labels is not None and kind != "dicom":
        raise UserError("--labels applies to dicom imports only")
    if labels is None and kind == "dicom":
        raise UserError("a dicom import needs --labels FILE (columns: file or SOPInstanceUID, "
                        "and label)")
    dataset = check_dataset_name(dataset or kind)
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist")
    _check_kind(store, dataset, kind)
    options: dict = {}
    if kind == "csv":
        options["root"] = Path(root) if root else None
    if kind == "dicom":
        options.update(labels=Path(labels), salt=dicom.patient_salt(store))
    result = ImportResult()
    params = {key: str(value) for key, value in options.items() if key != "salt" and value}
    return save_cases(store, dataset, kind, IMPORTERS[kind].iter_cases(path, result, **options),
                      source=str(path), params=params, result=result)
