"""Pieces every importer shares: labels and BI-RADS values, CSV tables, image + mask loading."""
from __future__ import annotations

import csv
import io
import itertools
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from core.cases.decode import BadFile, decode_grey, decode_mask
from core.cases.library import LABELS, ImportResult
from core.errors import UserError

BIRADS_VALUES = ("1", "2", "3", "4A", "4B", "4C", "5", "6")
DELIMITERS = (",", ";", "\t", "|")
_MASK_STEM = re.compile(r"^(?P<stem>.*?)_mask(?:_\d+)?$", re.IGNORECASE)


def normalise_label(value: str | None) -> str | None:
    """``' Benign '`` -> ``'benign'``; None for anything that is not one of :data:`LABELS`."""
    text = (value or "").strip().lower()
    return text if text in LABELS else None


def normalise_birads(value: str | None) -> str | None:
    """``'4a'``, ``'BI-RADS 4A'``, ``'3.0'`` -> the category; None where it is not one (``'4'``)."""
    text = re.sub(r"^BI-?RADS[\s:]*", "", (value or "").strip().upper()).replace(" ", "")
    text = re.sub(r"\.0$", "", text)
    return text if text in BIRADS_VALUES else None


def column_key(name: str) -> str:
    """How column names are compared: ``'Image Path'`` and ``'image_path'`` are one column."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass
class Table:
    """A CSV file: its column names as written, and rows keyed by :func:`column_key`."""

    name: str
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (line number, row)

    def find(self, *variants: str) -> str | None:
        """The key of the first column present among ``variants`` (compared by column_key)."""
        keys = {column_key(c) for c in self.columns}
        return next((column_key(v) for v in variants if column_key(v) in keys), None)

    def require(self, what: str, *variants: str) -> str:
        """Like :meth:`find`, but a clear :class:`UserError` when none is present."""
        key = self.find(*variants)
        if key is None:
            raise UserError(f"{self.name} has no {what} column (looked for: {', '.join(variants)}); "
                            f"its columns are: {', '.join(self.columns) or 'none'}")
        return key


def guess_delimiter(text: str) -> str:
    """The one of :data:`DELIMITERS` that splits the first rows evenly into the most columns.

    Quoting is always standard CSV (``"``, doubled inside a cell): unlike ``csv.Sniffer``,
    nothing in the cells' contents can make ``'`` a quote character and change their values.
    """
    sample = text[:8192]
    if len(text) > len(sample):
        sample = sample[:sample.rfind("\n") + 1] or sample

    def fit(delimiter: str) -> tuple[bool, int]:
        try:
            records = list(itertools.islice(csv.reader(io.StringIO(sample),
                                                       delimiter=delimiter), 20))
        except csv.Error:
            return False, 0
        widths = {len(record) for record in records if any(cell.strip() for cell in record)}
        return len(widths) == 1, len(records[0]) if records else 0

    return max(DELIMITERS, key=fit)  # ties: the first, a comma


def read_table(data: bytes, name: str) -> Table:
    """Parse CSV bytes (UTF-8 with or without BOM, else Latin-1; comma, semicolon, tab or |)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    reader = csv.reader(io.StringIO(text), delimiter=guess_delimiter(text))
    try:
        columns = [c.strip() for c in next(reader)]
    except StopIteration:
        raise UserError(f"{name} is empty") from None
    except csv.Error as error:
        raise UserError(f"{name} is not a readable CSV file: {error}") from None
    keys = [column_key(c) for c in columns]
    rows = []
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                rows.append((reader.line_num, {k: v.strip() for k, v in zip(keys, record)}))
    except csv.Error as error:
        raise UserError(f"{name} line {reader.line_num}: {error}") from None
    return Table(name, columns, rows)


def mask_stem(filename: str) -> str | None:
    """``'benign (3)_mask_1.png'`` -> ``'benign (3)'``; None for a file that is not a mask."""
    match = _MASK_STEM.match(PurePosixPath(filename).stem)
    return match.group("stem") if match else None


def pair_masks(paths: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Split image paths from ``_mask`` / ``_mask_N`` paths and give each image its masks.

    Returns ``({image: [masks]}, masks_without_an_image)``; pairing is by folder and stem,
    ignoring case and extension.
    """
    images = [p for p in paths if mask_stem(p) is None]
    by_key = {}
    for image in images:
        pure = PurePosixPath(image)
        by_key.setdefault((str(pure.parent), pure.stem.lower()), []).append(image)
    paired: dict[str, list[str]] = {image: [] for image in images}
    orphans = []
    for path in paths:
        stem = mask_stem(path)
        if stem is None:
            continue
        owners = by_key.get((str(PurePosixPath(path).parent), stem.lower()), [])
        for owner in owners:
            paired[owner].append(path)
        if not owners:
            orphans.append(path)
    return paired, orphans


def load_image_and_masks(source, image_path: str, mask_paths: list[str]
                         ) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode an image and merge its masks (logical OR). BadFile names the failing file."""
    image = decode_grey(source.read(image_path))
    mask = None
    for mask_path in mask_paths:
        try:
            part = decode_mask(source.read(mask_path), image.shape)
        except BadFile as error:
            raise BadFile(f"mask {PurePosixPath(mask_path).name}: {error}") from None
        mask = part if mask is None else mask | part
    return image, mask


def report_refused(source, result: ImportResult) -> None:
    """Record the entries a source refused while listing (escaping paths, outside links)."""
    for path, reason in source.refused:
        result.skip(path, reason)

