"""A folder (or .zip) with one subfolder per label: ``benign/``, ``malignant/``, ``normal/``.

Folder names match in any case. Images directly in a label folder have no patient; images in
a subfolder of it (``benign/P017/a.png``) belong to patient ``P017``, so the split keeps them
together. Files named ``<stem>_mask.<ext>`` beside an image are its lesion mask.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from core.cases.importers.labelled import iter_labelled_cases
from core.cases.library import ImportResult, NewCase

KIND = "folder"
HELP = "folder or .zip with benign/, malignant/, normal/ subfolders (benign/PATIENT/x.png groups)"


def iter_cases(path: Path, result: ImportResult) -> Iterator[NewCase]:
    return iter_labelled_cases(path, result, patient_from_subfolder=True)
