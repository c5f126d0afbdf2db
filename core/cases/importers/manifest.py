"""A CSV manifest: one row per image with its label, and optionally patient, mask, BI-RADS and
histology. Image and mask paths are relative to ``root`` (default: the manifest's folder), or
absolute but inside it; anything that escapes ``root`` is skipped.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from core.cases.decode import BadFile, decode_grey, decode_mask
from core.cases.importers.common import normalise_birads, normalise_label, read_table
from core.cases.importers.sources import FolderSource
from core.cases.library import LABELS, ImportResult, NewCase
from core.errors import UserError

KIND = "csv"
HELP = "CSV manifest (image, label[, patient, mask, birads, histology]) with --root DIR"

IMAGE_COLUMNS = ("image", "image_path", "path", "file", "filename", "file_name", "img",
                 "image_file")
LABEL_COLUMNS = ("label", "class", "pathology", "diagnosis", "target")
PATIENT_COLUMNS = ("patient_id", "patient", "patientid", "subject", "subject_id", "case")
MASK_COLUMNS = ("mask", "mask_path", "mask_file", "segmentation")
BIRADS_COLUMNS = ("birads", "bi_rads", "birads_category")
HISTOLOGY_COLUMNS = ("histology", "histopathology")


def _read_manifest(manifest: Path):
    try:
        return read_table(manifest, manifest.name)
    except BadFile as error:
        raise UserError(f"cannot read the manifest {manifest}: {error}") from None


def _load(images: FolderSource, image_name: str, mask_field: str):
    image = decode_grey(images.read(image_name))
    mask = None
    for mask_name in (m for m in re.split(r"[;|]", mask_field) if m.strip()):
        try:
            part = decode_mask(images.read(mask_name), image.shape)
        except BadFile as error:
            raise BadFile(f"mask {mask_name.strip()}: {error}") from None
        mask = part if mask is None else mask | part
    return image, mask


def iter_cases(path: Path, result: ImportResult, root: Path | None = None) -> Iterator[NewCase]:
    manifest = Path(path)
    root = Path(root) if root else manifest.resolve().parent
    if not root.is_dir():
        raise UserError(f"the image root {root} is not a folder")
    table = _read_manifest(manifest)
    images = FolderSource(root)
    image_key = table.require("image path", *IMAGE_COLUMNS)
    label_key = table.require("label", *LABEL_COLUMNS)
    patient_key = table.find(*PATIENT_COLUMNS)
    mask_key = table.find(*MASK_COLUMNS)
    birads_key = table.find(*BIRADS_COLUMNS)
    histology_key = table.find(*HISTOLOGY_COLUMNS)
    for line, row in table.rows():
        result.rows += 1
        image_name = row.get(image_key, "")
        where = image_name or f"{manifest.name} line {line}"
        if not image_name:
            result.skip(where, "no image path in this row")
            continue
        label = normalise_label(row.get(label_key))
        if label is None:
            result.skip(where, f"unknown label {row.get(label_key)!r} "
                               f"(expected one of {', '.join(LABELS)})")
            continue
        try:
            image, mask = _load(images, image_name, row.get(mask_key) or "")
        except BadFile as error:
            result.skip(where, str(error))
            continue
        yield NewCase(source_path=image_name.replace("\\", "/"), label=label, image=image,
                      mask=mask, patient_id=row.get(patient_key) or None,
                      birads_ref=normalise_birads(row.get(birads_key)),
                      histology=row.get(histology_key) or None)
