"""Images filed in folders named after their label (``benign/``, ``malignant/``, ``normal/``).

Shared by the BUSI and plain-folder importers. The label is the nearest enclosing folder whose
name (any case) is a label, so the data may sit at any depth of a folder or zip. Masks are the
files named ``<image stem>_mask.<ext>`` or ``<image stem>_mask_N.<ext>`` beside their image;
several masks of one image are merged.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path, PurePosixPath

from core.cases.decode import IMAGE_SUFFIXES, BadFile
from core.cases.importers.common import load_image_and_masks, pair_masks, report_refused
from core.cases.importers.sources import open_source
from core.cases.library import LABELS, ImportResult, NewCase
from core.errors import UserError


def label_position(path: str) -> int | None:
    """Index of the nearest folder in ``path`` named after a label, or None."""
    folders = PurePosixPath(path).parts[:-1]
    for index in range(len(folders) - 1, -1, -1):
        if folders[index].lower() in LABELS:
            return index
    return None


def iter_labelled_cases(path: Path, result: ImportResult, patient_from_subfolder: bool
                        ) -> Iterator[NewCase]:
    """Cases from label folders; with ``patient_from_subfolder``, ``benign/P01/x.png`` is
    patient ``P01``."""
    with closing(open_source(path)) as source:
        files = source.files()
        report_refused(source, result)
        labelled = []
        for rel in files:
            if label_position(rel) is None:
                result.skip(rel, "not inside a benign/, malignant/ or normal/ folder")
            elif PurePosixPath(rel).suffix.lower() not in IMAGE_SUFFIXES:
                result.skip(rel, f"not an image file (expected {', '.join(IMAGE_SUFFIXES)})")
            else:
                labelled.append(rel)
        if not labelled:
            raise UserError(f"no images in benign/, malignant/ or normal/ folders under {path}")
        images, orphans = pair_masks(labelled)
        for orphan in orphans:
            result.skip(orphan, "mask without its image")
        for rel, masks in images.items():
            parts = PurePosixPath(rel).parts
            position = label_position(rel)
            patient = "/".join(parts[position + 1:-1]) if patient_from_subfolder else ""
            try:
                image, mask = load_image_and_masks(source, rel, sorted(masks))
            except BadFile as error:
                result.skip(rel, str(error))
                continue
            yield NewCase(source_path=rel, label=parts[position].lower(), image=image, mask=mask,
                          patient_id=patient or None,
                          attributes={"mask_files": len(masks)} if masks else None)
