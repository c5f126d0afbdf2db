"""Pieces every importer shares: labels and BI-RADS values, CSV tables, image + mask loading."""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np

from core.cases.decode import BadFile, decode_grey, decode_mask
from core.cases.importers.sources import regular_file_size
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


BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                    (codecs.BOM_UTF16_BE, "utf-16"))
SCAN_CHUNK = 1 << 20


def _open_binary(source: bytes | Path) -> BinaryIO:
    """A table's bytes as a stream: a regular file (never a pipe or a device), or bytes."""
    if isinstance(source, bytes):
        return io.BytesIO(source)
    regular_file_size(source)
    try:
        return open(source, "rb")
    except OSError as error:
        raise BadFile(f"cannot read: {error.strerror or error}") from None


def text_encoding(source: bytes | Path) -> str:
    """The encoding a byte-order mark names (UTF-8, UTF-16, UTF-32); else UTF-8 if every byte
    decodes as UTF-8 (checked in chunks, never the whole file at once), else Latin-1."""
    with _open_binary(source) as stream:
        head = stream.read(4)
        for mark, encoding in BYTE_ORDER_MARKS:
            if head.startswith(mark):
                return encoding
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            decoder.decode(head)
            while chunk := stream.read(SCAN_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "latin-1"
    return "utf-8"


@dataclass
class Table:
    """A CSV table read as a stream: its column names as written, and :meth:`rows` keyed by
    :func:`column_key`, read again from the source on each call (never all held at once)."""

    name: str
    columns: list[str]
    source: bytes | Path
    encoding: str
    delimiter: str

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """``(line number, row)`` for every row with a value; UserError for broken CSV."""
        keys = [column_key(c) for c in self.columns]
        with io.TextIOWrapper(_open_binary(self.source), encoding=self.encoding,
                              newline="") as stream:
            reader = csv.reader(stream, delimiter=self.delimiter)
            try:
                next(reader, None)
                for record in reader:
                    if any(cell.strip() for cell in record):
                        yield reader.line_num, {k: v.strip() for k, v in zip(keys, record)}
            except csv.Error as error:
                raise UserError(f"{self.name} line {reader.line_num}: {error}") from None
            except UnicodeDecodeError as error:  # a UTF-16/32 table cut mid-character
                raise UserError(f"{self.name} after line {reader.line_num} is not "
                                f"{self.encoding} text: {error.reason}") from None

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
    ``text`` is the start of the table (up to 8 kB).
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


def _check_unambiguous(name: str, columns: list[str]) -> None:
    """Refuse two columns that are one column to :func:`column_key` (``label`` and ``Label``):
    which of them holds the truth cannot be guessed."""
    by_key: dict[str, list[str]] = {}
    for column in columns:
        if column_key(column):
            by_key.setdefault(column_key(column), []).append(column)
    clashes = [names for names in by_key.values() if len(names) > 1]
    if clashes:
        listed = "; ".join(" and ".join(repr(n) for n in names) for names in clashes)
        raise UserError(f"{name} has ambiguous columns that differ only by case, spaces or "
                        f"punctuation: {listed}. Rename or remove one of each")


def read_table(source: bytes | Path, name: str) -> Table:
    """Open a CSV table (bytes, or a regular file read as a stream): the encoding from its
    byte-order mark (UTF-8, UTF-16, UTF-32), else UTF-8, else Latin-1; the delimiter guessed
    among comma, semicolon, tab and |; its header checked. BadFile when the file cannot be
    read, UserError for an empty or unreadable table or ambiguous columns."""
    encoding = text_encoding(source)
    with io.TextIOWrapper(_open_binary(source), encoding=encoding, newline="") as stream:
        try:
            delimiter = guess_delimiter(stream.read(8193))
            stream.seek(0)
            columns = [c.strip() for c in next(csv.reader(stream, delimiter=delimiter))]
        except StopIteration:
            raise UserError(f"{name} is empty") from None
        except csv.Error as error:
            raise UserError(f"{name} is not a readable CSV file: {error}") from None
        except UnicodeDecodeError as error:  # a UTF-16/32 table cut mid-character
            raise UserError(f"{name} is not {encoding} text: {error.reason}") from None
    _check_unambiguous(name, columns)
    return Table(name, columns, source, encoding, delimiter)


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

