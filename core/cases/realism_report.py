"""Phantoms against real scans: the realism figures (:mod:`core.cases.realism`) of both, per class,
as median [IQR], and whether each phantom median lies within the real scans' IQR.

Also the figures that say whether the phantoms could be read without looking at the lesion:
the AUC of the lesion's mean grey alone (benign vs malignant), and pHash near-duplicate pairs
among independently drawn phantoms.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.cases.library import ImportResult, perceptual_hash
from core.cases.phantom_truth import auc
from core.cases.realism import RAYLEIGH_SNR, Figures, measure
from core.splits import near_duplicate_pairs

CLASSES = ("benign", "malignant")
# What a figure means, and why a phantom median may fairly sit outside the real IQR.
NOTES = {
    "speckle_snr": f"fully developed speckle gives {RAYLEIGH_SNR}; both are above it because the "
                   "display's smoothing and the downsizing to 320 px average speckle",
    "variance_over_mean": "depends on the display map and on how much the image was downsized",
    "posterior": "the phantoms draw posterior features from the lexicon's frequencies, which "
                 "need not be BUSI's case mix",
    "depth": "BUSI's malignant frames darken with depth faster than its benign ones; the "
             "phantoms draw depth and gain without the truth (else gain would be a shortcut), so "
             "their classes differ in depth only through the posterior features",
}


@dataclass(frozen=True)
class Row:
    """One figure of one class: quartiles of the real scans and of the phantoms."""

    figure: str
    label: str
    real: tuple[float, float, float]
    phantom: tuple[float, float, float]

    @property
    def within(self) -> bool:
        return self.real[0] <= self.phantom[1] <= self.real[2]

    def verdict(self) -> str:
        """``yes``, or ``no`` with the side and, where known, why."""
        if self.within:
            return "yes"
        side = "above" if self.phantom[1] > self.real[2] else "below"
        note = NOTES.get("depth" if self.figure.startswith("depth_") else self.figure)
        return f"no, {side}" + (f": {note}" if note else "")


def quartiles(values: Iterable[float]) -> tuple[float, float, float]:
    """25th, 50th and 75th percentile, ignoring NaN (NaN if there is nothing)."""
    array = np.array([v for v in values if np.isfinite(v)], dtype=float)
    if not array.size:
        return (float("nan"),) * 3
    q1, median, q3 = np.percentile(array, [25, 50, 75])
    return float(q1), float(median), float(q3)


def compare(phantoms: list[tuple[str, Figures]], real: list[tuple[str, Figures]]) -> list[Row]:
    """A row for every figure and class (rows of one class together)."""
    rows = []
    for label in CLASSES:
        mine = [f.scalars() for lab, f in phantoms if lab == label]
        theirs = [f.scalars() for lab, f in real if lab == label]
        if not mine or not theirs:
            continue
        for figure in mine[0]:
            rows.append(Row(figure, label, quartiles(s[figure] for s in theirs),
                            quartiles(s[figure] for s in mine)))
    return rows


def lesion_mean_auc(measured: list[tuple[str, Figures]]) -> float:
    """How well the lesion's mean grey alone tells malignant from benign: the AUC, taken in
    whichever direction separates better (0.5 = not at all)."""
    truth = np.array([label == "malignant" for label, _ in measured])
    value = auc(np.array([f.lesion_mean for _, f in measured]), truth)
    return max(value, 1 - value)


def duplicate_pairs(images: list[np.ndarray]) -> list[tuple[int, int]]:
    """Index pairs that the split's pHash rule would group as near-duplicates."""
    return near_duplicate_pairs([perceptual_hash(image) for image in images])


def real_cases(path: Path, skipped: ImportResult | None = None
               ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(label, image, mask) of every benign or malignant image with a lesion mask in a BUSI
    folder or .zip (the importer's reading, nothing stored)."""
    from core.cases.importers import busi

    for case in busi.iter_cases(Path(path), skipped or ImportResult()):
        if case.label in CLASSES and case.mask is not None and case.mask.any():
            yield case.label, case.image, case.mask


def measure_all(items: Iterable[tuple[str, np.ndarray, np.ndarray]]
                ) -> list[tuple[str, Figures]]:
    return [(label, measure(image, mask)) for label, image, mask in items]


def format_table(rows: list[Row], real_name: str = "BUSI") -> str:
    """The comparison as a plain-text table."""
    def cell(q: tuple[float, float, float]) -> str:
        return f"{q[1]:.3f} [{q[0]:.3f}-{q[2]:.3f}]"

    header = f"{'class':<10} {'figure':<19} {real_name + ' median [IQR]':<24} " \
             f"{'phantom median [IQR]':<24} within {real_name}'s IQR"
    lines = [header, "-" * len(header)]
    lines += [f"{r.label:<10} {r.figure:<19} {cell(r.real):<24} {cell(r.phantom):<24} "
              f"{r.verdict()}" for r in rows]
    return "\n".join(lines)
