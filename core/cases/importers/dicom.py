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
import secrets
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core.cases.decode import BadFile, check_pixel_count, rgb_to_grey, to_uint8
from core.cases.importers.common import (normalise_birads, normalise_label, read_table,
                                         report_refused)
from core.cases.importers.manifest import BIRADS_COLUMNS, HISTOLOGY_COLUMNS, LABEL_COLUMNS
from core.cases.importers.sources import FolderSource, inside, read_regular_file, regular_file_size
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


def decode_dicom(file: Path, header) -> np.ndarray:
    """The first frame of a DICOM image as 8-bit grey; checks the size before decoding."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, pixel_array

    check_pixel_count(int(header.Columns), int(header.Rows))
    try:
        frame = pixel_array(file, index=0)
    except Exception as error:  # missing decoder plugin, truncated or absent pixel data...
        syntax = getattr(getattr(header, "file_meta", None), "TransferSyntaxUID", None)
        named = f" ({syntax.name})" if syntax is not None else ""
        raise BadFile(f"cannot decode the pixel data{named}: {error}") from None
    photometric = str(header.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        frame = apply_color_lut(frame, header)
    if frame.ndim == 3:
        return rgb_to_grey(frame)
    if "RescaleSlope" in header or "RescaleIntercept" in header or "ModalityLUTSequence" in header:
        frame = apply_modality_lut(frame, header)
    if "WindowCenter" in header or "VOILUTSequence" in header:
        frame = apply_voi_lut(frame, header)
    grey = to_uint8(frame)
    return 255 - grey if photometric == "MONOCHROME1" else grey


def _labelled_files(folder: Path, files: list[str], table, result: ImportResult
                    ) -> list[tuple[str, dict]]:
    """``[(path under folder, label row)]`` matched by file path or by SOPInstanceUID.

    Matching by UID reads every header; files that are not DICOM images are skipped here.
    """
    file_key = table.find(*FILE_COLUMNS)
    uid_key = table.find(*UID_COLUMNS)
    if file_key:
        return [(row.get(file_key, "").replace("\\", "/"), row) for _, row in table.rows]
    if not uid_key:
        raise UserError(f"{table.name} has no file column (looked for: {', '.join(FILE_COLUMNS)}) "
                        f"and no SOPInstanceUID column; its columns are: {', '.join(table.columns)}")
    by_uid = {}
    for rel in files:
        try:
            uid = str(read_header(inside(folder, rel)).get("SOPInstanceUID", ""))
        except BadFile as error:
            result.skip(rel, str(error))
            continue
        by_uid.setdefault(uid, rel)
    matched = []
    for line, row in table.rows:
        rel = by_uid.get(row.get(uid_key, ""))
        if rel is None:
            result.skip(f"{table.name} line {line}",
                        f"no DICOM file with SOPInstanceUID {row.get(uid_key)!r}")
        else:
            matched.append((rel, row))
    return matched


def iter_cases(path: Path, result: ImportResult, labels: Path, salt: str) -> Iterator[NewCase]:
    folder = Path(path)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder of DICOM files")
    try:
        table = read_table(read_regular_file(Path(labels)), Path(labels).name)
    except BadFile as error:
        raise UserError(f"cannot read the label file {labels}: {error}") from None
    label_key = table.require("label", *LABEL_COLUMNS)
    birads_key = table.find(*BIRADS_COLUMNS)
    histology_key = table.find(*HISTOLOGY_COLUMNS)
    source = FolderSource(folder)
    files = [rel for rel in source.files() if Path(rel).name.upper() != "DICOMDIR"]
    report_refused(source, result)
    matched = _labelled_files(folder, files, table, result)
    reported = {entry["path"] for entry in result.skipped}
    used = set()
    for rel, row in matched:
        label = normalise_label(row.get(label_key))
        try:
            file = inside(folder, rel)
            used.add(file)
            if label is None:
                raise BadFile(f"unknown label {row.get(label_key)!r} "
                              f"(expected one of {', '.join(LABELS)})")
            header = read_header(file)
            image = decode_dicom(file, header)
        except BadFile as error:
            result.skip(rel or "(empty file name)", str(error))
            continue
        yield NewCase(source_path=rel, label=label, image=image,
                      patient_id=hash_patient(str(header.get("PatientID", "")), salt),
                      birads_ref=normalise_birads(row.get(birads_key)),
                      histology=row.get(histology_key) or None,
                      attributes={"photometric": str(header.get("PhotometricInterpretation", "")),
                                  "frames": int(header.get("NumberOfFrames", 1) or 1),
                                  "modality": str(header.get("Modality", ""))})
    for rel in files:
        if rel not in reported and inside(folder, rel) not in used:
            result.skip(rel, f"no label for this file in {table.name}")
