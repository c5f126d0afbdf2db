"""DICOM files in a folder, labelled by a CSV (``--labels``) keyed by file path or SOPInstanceUID.

Pixels become 8-bit grey: the first frame of a multi-frame file, RGB/YBR/palette to luma,
modality and VOI LUTs applied, MONOCHROME1 inverted, then rescaled to 0..255. No patient name,
ID or birth date is stored: ``patient_id`` is a salted hash of PatientID, with a salt drawn
once per store (``settings`` key ``dicom_salt``), so the split can group a patient's images
without the store ever naming the patient.
"""
from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.cases.decode import BadFile, check_pixel_count, rgb_to_grey, to_uint8
from core.cases.importers.common import (normalise_birads, normalise_label, read_table,
                                         report_refused)
from core.cases.importers.manifest import BIRADS_COLUMNS, HISTOLOGY_COLUMNS, LABEL_COLUMNS
from core.cases.importers.sources import FolderSource, inside, regular_file_size
from core.cases.library import LABELS, ImportResult, NewCase
from core.errors import UserError
from core.store import Store

KIND = "dicom"
HELP = "folder of DICOM files with --labels CSV (file or SOPInstanceUID, label)"
SALT_KEY = "dicom_salt"
FILE_COLUMNS = ("file", "path", "filename", "file_name", "dicom", "dicom_file", "image")
UID_COLUMNS = ("SOPInstanceUID", "sop_instance_uid", "sop_uid")


def patient_salt(store: Store) -> str:
    """The store's salt for hashing patient IDs, drawn and saved the first time it is needed."""
    query = "SELECT value FROM settings WHERE key = ?"
    with store.read() as cur:
        row = cur.execute(query, [SALT_KEY]).fetchone()
    if row is None:
        with store.transaction() as cur:
            cur.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                        [SALT_KEY, json.dumps(secrets.token_hex(16))])
            row = cur.execute(query, [SALT_KEY]).fetchone()
    return json.loads(row[0])


def hash_patient(patient_id: str, salt: str) -> str | None:
    """A stable pseudonym for a PatientID within one store; None when there is no ID."""
    patient_id = patient_id.strip()
    if not patient_id:
        return None
    return "dcm-" + hashlib.sha256(f"{salt}:{patient_id}".encode()).hexdigest()[:20]


def read_header(file: Path):
    """The DICOM header (no pixels); BadFile for anything that is not a DICOM image."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    regular_file_size(file)
    try:
        header = pydicom.dcmread(file, stop_before_pixels=True)
    except InvalidDicomError:
        raise BadFile("not a DICOM file") from None
    except Exception as error:  # pydicom raises many kinds on malformed headers
        raise BadFile(f"corrupt DICOM header: {error}") from None
    if "Rows" not in header or "Columns" not in header:
        raise BadFile("DICOM file without an image")
    return header


def tag_text(header, keyword: str) -> str:
    """A tag's value as text ('' when absent or unreadable: pydicom converts values lazily)."""
    try:
        return str(header.get(keyword, "") or "")
    except Exception:  # a value its VR cannot hold
        return ""


def tag_numbers(header, keyword: str) -> list[float] | None:
    """A numeric tag's values as finite floats; None when absent; BadFile when a value is
    empty, not a number (text, a sequence) or not finite."""
    if keyword not in header:
        return None
    try:
        value = header[keyword].value
    except Exception as error:  # pydicom converts on access: 'abc' in a DS
        raise BadFile(f"{keyword} is not a number: {error}") from None
    several = isinstance(value, Sequence) and not isinstance(value, (str, bytes))
    values = list(value) if several else [] if value is None or value == "" else [value]
    if not values:
        raise BadFile(f"{keyword} is empty")
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise BadFile(f"{keyword} is not a number ({value!r})") from None
    if not all(math.isfinite(n) for n in numbers):
        raise BadFile(f"{keyword} is not a finite number ({value!r})")
    return numbers


def _size(header, keyword: str) -> int:
    numbers = tag_numbers(header, keyword) or []
    if len(numbers) != 1 or numbers[0] != int(numbers[0]) or numbers[0] < 1:
        raise BadFile(f"{keyword} must be one whole number >= 1 "
                      f"(found {tag_text(header, keyword) or 'nothing'})")
    return int(numbers[0])


def _check_luts(header) -> None:
    """Refuse rescale and window values pydicom's LUT functions would trip over."""
    for keyword in ("RescaleSlope", "RescaleIntercept"):
        numbers = tag_numbers(header, keyword)
        if numbers is not None and len(numbers) != 1:
            raise BadFile(f"{keyword} must be one number (found {len(numbers)})")
    tag_numbers(header, "WindowCenter")
    widths = tag_numbers(header, "WindowWidth")
    if widths is not None and min(widths) < 1:
        raise BadFile(f"WindowWidth must be at least 1 (found {widths[0]:g})")


def decode_dicom(file: Path, header) -> np.ndarray:
    """The first frame of a DICOM image as 8-bit grey; checks the size before decoding."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, pixel_array

    check_pixel_count(_size(header, "Columns"), _size(header, "Rows"))
    _check_luts(header)
    try:
        frame = pixel_array(file, index=0)
    except Exception as error:  # missing decoder plugin, truncated or absent pixel data...
        syntax = getattr(getattr(header, "file_meta", None), "TransferSyntaxUID", None)
        named = f" ({syntax.name})" if syntax is not None else ""
        raise BadFile(f"cannot decode the pixel data{named}: {error}") from None
    photometric = tag_text(header, "PhotometricInterpretation").upper() or "MONOCHROME2"
    step = "palette"
    try:
        if photometric == "PALETTE COLOR":
            frame = apply_color_lut(frame, header)
        if frame.ndim == 3:
            return rgb_to_grey(frame)
        step = "modality LUT (RescaleSlope/RescaleIntercept)"
        if any(key in header for key in ("RescaleSlope", "RescaleIntercept",
                                          "ModalityLUTSequence")):
            frame = apply_modality_lut(frame, header)
        step = "VOI LUT (WindowCenter/WindowWidth)"
        if "WindowCenter" in header or "VOILUTSequence" in header:
            frame = apply_voi_lut(frame, header)
    except Exception as error:  # a LUT that does not fit the pixels, a value of the wrong type
        raise BadFile(f"cannot apply the {step}: {error}") from None
    if frame.ndim != 2 or not np.isfinite(frame).all():
        raise BadFile(f"the {step} gives no finite grey image")
    grey = to_uint8(frame)
    return 255 - grey if photometric == "MONOCHROME1" else grey


@dataclass(frozen=True)
class DicomCase:
    """What one DICOM file gives a case: its grey image, its (unhashed) PatientID and the
    attributes kept beside it."""

    image: np.ndarray
    patient_id: str
    attributes: dict


def read_case(file: Path) -> DicomCase:
    """Header, pixels and attributes of one DICOM file; BadFile (with the reason) for any file
    that cannot become a case, whatever its tags hold."""
    header = read_header(file)
    image = decode_dicom(file, header)
    frames = tag_numbers(header, "NumberOfFrames") or [1]
    return DicomCase(image, tag_text(header, "PatientID"),
                     {"photometric": tag_text(header, "PhotometricInterpretation"),
                      "frames": max(1, int(frames[0])),
                      "modality": tag_text(header, "Modality")})


def _labelled_files(folder: Path, files: list[str], table, result: ImportResult
                    ) -> tuple[list[tuple[str, dict]], set[str]]:
    """``[(path under folder, label row)]`` matched by file path or by SOPInstanceUID, and the
    files skipped here: matching by UID reads every header, and skips files that are not
    DICOM images. Counts the table's rows in ``result.rows``."""
    file_key = table.find(*FILE_COLUMNS)
    uid_key = table.find(*UID_COLUMNS)
    if file_key:
        matched = [(row.get(file_key, "").replace("\\", "/"), row) for _, row in table.rows()]
        result.rows += len(matched)
        return matched, set()
    if not uid_key:
        raise UserError(f"{table.name} has no file column (looked for: {', '.join(FILE_COLUMNS)}) "
                        f"and no SOPInstanceUID column; its columns are: {', '.join(table.columns)}")
    by_uid, unreadable = {}, set()
    for rel in files:
        try:
            uid = tag_text(read_header(inside(folder, rel)), "SOPInstanceUID")
        except BadFile as error:
            result.skip(rel, str(error))
            unreadable.add(rel)
            continue
        by_uid.setdefault(uid, rel)
    matched = []
    for line, row in table.rows():
        result.rows += 1
        rel = by_uid.get(row.get(uid_key, ""))
        if rel is None:
            result.skip(f"{table.name} line {line}",
                        f"no DICOM file with SOPInstanceUID {row.get(uid_key)!r}")
        else:
            matched.append((rel, row))
    return matched, unreadable


def iter_cases(path: Path, result: ImportResult, labels: Path, salt: str) -> Iterator[NewCase]:
    folder = Path(path)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder of DICOM files")
    try:
        table = read_table(Path(labels), Path(labels).name)
    except BadFile as error:
        raise UserError(f"cannot read the label file {labels}: {error}") from None
    label_key = table.require("label", *LABEL_COLUMNS)
    birads_key = table.find(*BIRADS_COLUMNS)
    histology_key = table.find(*HISTOLOGY_COLUMNS)
    source = FolderSource(folder)
    files = [rel for rel in source.files() if Path(rel).name.upper() != "DICOMDIR"]
    report_refused(source, result)
    matched, reported = _labelled_files(folder, files, table, result)
    used = set()
    for rel, row in matched:
        label = normalise_label(row.get(label_key))
        try:
            file = inside(folder, rel)
            used.add(file)
            if label is None:
                raise BadFile(f"unknown label {row.get(label_key)!r} "
                              f"(expected one of {', '.join(LABELS)})")
            case = read_case(file)
        except BadFile as error:
            result.skip(rel or "(empty file name)", str(error))
            continue
        yield NewCase(source_path=rel, label=label, image=case.image,
                      patient_id=hash_patient(case.patient_id, salt),
                      birads_ref=normalise_birads(row.get(birads_key)),
                      histology=row.get(histology_key) or None, attributes=case.attributes)
    for rel in files:
        if rel not in reported and inside(folder, rel) not in used:
            result.skip(rel, f"no label for this file in {table.name}")
