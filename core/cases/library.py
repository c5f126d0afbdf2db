"""Store new cases: images and masks as content-named grey PNGs, rows in one transaction.

Importers and the phantom generator build :class:`NewCase` objects and hand them to
:func:`save_cases`. Files are written first (atomically, named by content, so a rerun reuses
them); the rows go in one transaction, so an interrupted import leaves the store as it was.
The same image twice in one dataset with the same label is added once; the same pixels under two
labels (BUSI files one scan under benign and under malignant) are two cases, which the split
keeps together and reports as a conflict.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow
from PIL import Image

from core.atomic import atomic_path
from core.store import Store

MAX_SIDE = 1024
LABELS = ("benign", "malignant", "normal")
MAX_SKIPS_LISTED = 1000
STAGED_BATCH = 4096
log = logging.getLogger(__name__)
# The columns of a case row as staged before the one INSERT (``ordinal``: the import order).
CASE_ROW = pyarrow.schema([
    ("dataset", pyarrow.string()), ("source_path", pyarrow.string()),
    ("image_path", pyarrow.string()), ("mask_path", pyarrow.string()),
    ("label", pyarrow.string()), ("histology", pyarrow.string()),
    ("birads_ref", pyarrow.string()), ("patient_id", pyarrow.string()),
    ("width", pyarrow.int64()), ("height", pyarrow.int64()), ("sha256", pyarrow.string()),
    ("phash", pyarrow.string()), ("descriptors", pyarrow.string()),
    ("truth_prob", pyarrow.float64()), ("attributes", pyarrow.string()),
    ("ordinal", pyarrow.int64())])


@dataclass
class NewCase:
    """One case before it is stored. ``image`` is 8-bit grey (H, W); ``mask`` boolean or None."""

    source_path: str
    label: str
    image: np.ndarray
    mask: np.ndarray | None = None
    histology: str | None = None
    birads_ref: str | None = None
    patient_id: str | None = None
    descriptors: dict | None = None
    truth_prob: float | None = None
    attributes: dict | None = None


def utf8_text(text: str | None) -> str | None:
    """``text`` as storable UTF-8: undecodable bytes of a file name (which Python keeps as lone
    surrogates, ``caf\\udce9``) become backslash escapes (``caf\\xe9``); other text is kept."""
    if text is None:
        return None
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass
class ImportResult:
    """What an import did. ``rows``: the table rows it read (manifest, label table); every skip
    is counted in ``skipped_total``, and the first :data:`MAX_SKIPS_LISTED` are listed with
    their reason in ``skipped`` (so a 300,000-row manifest of missing files stays small)."""

    imported: int = 0
    already_present: int = 0
    by_label: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    skipped_total: int = 0
    rows: int = 0

    def skip(self, path: str, reason: str) -> None:
        self.skipped_total += 1
        if len(self.skipped) < MAX_SKIPS_LISTED:
            self.skipped.append({"path": utf8_text(path), "reason": utf8_text(reason)})

    def as_dict(self) -> dict:
        return {"imported": self.imported, "already_present": self.already_present,
                "by_label": self.by_label, "rows": self.rows,
                "skipped_total": self.skipped_total, "skipped": self.skipped}


def cap_size(image: np.ndarray, mask: np.ndarray | None, max_side: int = MAX_SIDE):
    """Shrink so the long side is at most ``max_side`` (Lanczos for images, nearest for masks)."""
    height, width = image.shape
    scale = max_side / max(height, width)
    if scale >= 1:
        return image, mask
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
    if mask is not None:
        mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(
            size, Image.Resampling.NEAREST)) > 127
    return image, mask


def pixel_sha256(image: np.ndarray) -> str:
    """Checksum of the pixels and shape (independent of PNG encoder settings)."""
    digest = hashlib.sha256(f"{image.shape}".encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()


def case_sha256(pixel_sha: str, label: str) -> str:
    """A case's identity in its dataset (the ``sha256`` column): its pixels and its label."""
    return hashlib.sha256(f"{pixel_sha}:{label}".encode()).hexdigest()


def perceptual_hash(image: np.ndarray) -> str:
    """A 64-bit DCT hash (imagehash.phash) for near-duplicate grouping."""
    import imagehash

    return str(imagehash.phash(Image.fromarray(image)))


def write_png_atomic(array: np.ndarray, path: Path) -> None:
    """Write a PNG via a temporary file and rename, so no half file is ever seen."""
    if path.exists():
        return
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG", compress_level=3)  # 2x faster than 6, +10%


def _write_new_png(array: np.ndarray, path: Path, written: list[Path]) -> None:
    """Write the PNG unless it is there already (content-named); note it in ``written`` if new."""
    if not path.exists():
        write_png_atomic(array, path)
        written.append(path)


def _prepare(store: Store, dataset: str, case: NewCase, written: list[Path]) -> dict:
    if case.label not in LABELS:
        raise ValueError(f"unknown label {case.label!r}")
    image, mask = cap_size(case.image, case.mask)
    pixels = pixel_sha256(image)
    sha = case_sha256(pixels, case.label)
    folder = store.resolve(f"cases/{dataset}")
    image_path = folder / f"{pixels[:20]}.png"
    _write_new_png(image, image_path, written)
    mask_rel = None
    if mask is not None and mask.any():
        mask_path = folder / f"{pixel_sha256(mask)[:20]}_mask.png"
        _write_new_png(mask.astype(np.uint8) * 255, mask_path, written)
        mask_rel = store.relative(mask_path)
    return {
        "dataset": dataset, "source_path": utf8_text(case.source_path),
        "image_path": store.relative(image_path), "mask_path": mask_rel, "label": case.label,
        "histology": utf8_text(case.histology), "birads_ref": case.birads_ref,
        "patient_id": utf8_text(case.patient_id),
        "width": image.shape[1], "height": image.shape[0],
        "sha256": sha, "phash": perceptual_hash(image),
        "descriptors": json.dumps(case.descriptors) if case.descriptors else None,
        "truth_prob": case.truth_prob,
        "attributes": json.dumps(case.attributes) if case.attributes else None,
    }


class _StagedRows:
    """Case rows gathered as Arrow batches (about 250 bytes a row instead of a Python dict's
    1.5 kB), in import order."""

    def __init__(self) -> None:
        self.batches: list[pyarrow.RecordBatch] = []
        self.pending: list[dict] = []
        self.count = 0

    def add(self, row: dict) -> None:
        self.pending.append({**row, "ordinal": self.count})
        self.count += 1
        if len(self.pending) >= STAGED_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.batches.append(pyarrow.RecordBatch.from_pylist(self.pending, schema=CASE_ROW))
            self.pending = []

    def table(self) -> pyarrow.Table:
        self._flush()
        return pyarrow.Table.from_batches(self.batches, schema=CASE_ROW)


def _remove_unnamed(store: Store, written: list[Path]) -> None:
    """After a failed import: delete the files it wrote that no stored case names."""
    names = [store.relative(path) for path in written]
    try:
        with store.read() as cur:
            named = {name for (name,) in cur.execute(
                "SELECT image_path FROM cases WHERE image_path IN (SELECT unnest(?)) UNION "
                "SELECT mask_path FROM cases WHERE mask_path IN (SELECT unnest(?))",
                [names, names]).fetchall()}
    except Exception as error:  # the store itself failed: keep the files (a rerun reuses them)
        log.warning("could not check the files of a failed import: %s", error)
        return
    for path, name in zip(written, names):
        if name not in named:
            path.unlink(missing_ok=True)


def save_cases(store: Store, dataset: str, kind: str, cases: Iterable[NewCase],
               source: str | None = None, params: dict | None = None,
               result: ImportResult | None = None) -> ImportResult:
    """Store ``cases`` under ``dataset``; rows are added in one transaction, all or none.

    Image files are written while the cases are read; if the import stops with an error (or
    is interrupted or cancelled), the files it wrote for cases that were not stored are removed.
    The same case twice (its pixels and label) is stored once.
    """
    result = result or ImportResult()
    staged, written = _StagedRows(), []
    try:
        for case in cases:
            try:
                staged.add(_prepare(store, dataset, case, written))
            except ValueError as error:
                result.skip(case.source_path, str(error))
        table = staged.table()
        names = ", ".join(name for name in CASE_ROW.names if name != "ordinal")
        with store.transaction() as cur:
            cur.execute(
                "INSERT INTO datasets (dataset, kind, source, params) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (dataset) DO NOTHING",
                [dataset, kind, source, json.dumps(params or {})])
            # One Arrow table in one INSERT (~10x faster than row by row); the first of each
            # case in import order, none already in the dataset.
            cur.register("new_case_rows", table)
            labels = [label for (label,) in cur.execute(
                f"INSERT INTO cases ({names}) SELECT {names} FROM new_case_rows n "
                "WHERE NOT EXISTS (SELECT 1 FROM cases c WHERE c.dataset = n.dataset "
                "AND c.sha256 = n.sha256) "
                "QUALIFY row_number() OVER (PARTITION BY n.sha256 ORDER BY n.ordinal) = 1 "
                "ORDER BY n.ordinal RETURNING label").fetchall()]
            cur.unregister("new_case_rows")
    except BaseException:
        _remove_unnamed(store, written)
        raise
    result.already_present += staged.count - len(labels)
    result.imported += len(labels)
    for label, count in Counter(labels).items():
        result.by_label[label] = result.by_label.get(label, 0) + count
    return result
