"""The ACR BI-RADS ultrasound lexicon and assessment categories, shared by the phantom
generator, the quiz forms and the statistics."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# Assessment categories a trainee may give a nodule, in ascending suspicion.
BIRADS_CATEGORIES: tuple[str, ...] = ("2", "3", "4A", "4B", "4C", "5")
# The study's convention: 4A or above is called malignant (biopsy recommended).
DEFAULT_POSITIVE_FROM = "4A"

# Lexicon descriptors: key -> allowed values. Stored as JSON in cases.descriptors and
# reads.descriptors with exactly these keys and values.
DESCRIPTORS: dict[str, tuple[str, ...]] = {
    "shape": ("oval", "round", "irregular"),
    "orientation": ("parallel", "not parallel"),
    "margin": ("circumscribed", "indistinct", "angular", "microlobulated", "spiculated"),
    "echo_pattern": ("anechoic", "hypoechoic", "isoechoic", "hyperechoic", "heterogeneous",
                     "complex cystic and solid"),
    "posterior": ("none", "enhancement", "shadowing", "combined"),
    "calcifications": ("none", "present"),
}


def birads_rank(category: str) -> int:
    """0 for BI-RADS 2 ... 5 for BI-RADS 5; ValueError for anything else."""
    try:
        return BIRADS_CATEGORIES.index(str(category).upper())
    except ValueError:
        raise ValueError(f"not a BI-RADS category: {category!r} "
                         f"(expected one of {', '.join(BIRADS_CATEGORIES)})") from None


def calls_malignant(birads: str) -> bool:
    """True where a read calls the nodule malignant: BI-RADS ``DEFAULT_POSITIVE_FROM`` (4A)
    or above."""
    return birads_rank(birads) >= birads_rank(DEFAULT_POSITIVE_FROM)


def called_malignant(birads: Iterable[str]) -> np.ndarray:
    """:func:`calls_malignant` of each read, as 1 (malignant) or 0."""
    return np.array([calls_malignant(category) for category in birads], dtype=int)


def validate_descriptors(descriptors: dict[str, str]) -> dict[str, str]:
    """Return the descriptors if every key and value belongs to the lexicon; else ValueError."""
    for key, value in descriptors.items():
        if key not in DESCRIPTORS:
            raise ValueError(f"unknown lexicon descriptor {key!r}")
        if value not in DESCRIPTORS[key]:
            raise ValueError(f"{value!r} is not a {key} in the BI-RADS lexicon")
    return descriptors
