"""BUSI (Al-Dhabyani et al. 2020) as downloaded: a folder or the Kaggle .zip.

Layout: ``benign/``, ``malignant/``, ``normal/`` (optionally under ``Dataset_BUSI_with_GT/``),
each holding ``<class> (N).png`` with masks ``<class> (N)_mask.png``, ``_mask_1.png``, ...
BUSI records no patient; near-duplicates are grouped by the split instead.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from core.cases.importers.labelled import iter_labelled_cases
from core.cases.library import ImportResult, NewCase

KIND = "busi"
HELP = "BUSI folder or .zip (benign/, malignant/, normal/ with _mask files)"


def iter_cases(path: Path, result: ImportResult) -> Iterator[NewCase]:
    return iter_labelled_cases(path, result, patient_from_subfolder=False)
