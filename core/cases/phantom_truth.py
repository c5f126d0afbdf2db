"""The phantom's ground truth: a latent malignancy, a lesion subtype, and BI-RADS descriptors.

Descriptors are drawn from a mixture of lesion subtypes (simple cyst, fibroadenoma, classic
invasive ductal carcinoma, ...); given the subtype each descriptor is drawn independently.
The images are rendered from the descriptors and size only (never from the truth or the
subtype), so the exact posterior P(malignant | descriptors) computed here is the score of
the Bayes-optimal reader: no model or person can beat its AUC on these phantoms. The
reference BI-RADS category is that posterior put into the usual likelihood bands.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from core.lexicon import BIRADS_CATEGORIES, DESCRIPTORS

MALIGNANT_SHARE = 0.40
SIZE_MM_RANGE = (5.0, 40.0)
# Upper bounds of the posterior for BI-RADS 2, 3, 4A, 4B, 4C; above the last is 5.
BIRADS_UPPER = (0.002, 0.02, 0.10, 0.50, 0.95)
# Share of each descriptor drawn uniformly from the lexicon, whatever the subtype: atypical
# presentations, so that no descriptor set is certainly benign or certainly malignant.
ATYPICAL = 0.01


@dataclass(frozen=True)
class Subtype:
    """A kind of lesion: its share among benign or malignant lesions and its descriptors."""

    name: str
    malignant: bool
    share: float
    descriptors: dict[str, dict[str, float]]


def _subtype(name: str, malignant: bool, share: float, **descriptors: dict[str, float]) -> Subtype:
    return Subtype(name, malignant, share, descriptors)


SUBTYPES: tuple[Subtype, ...] = (
    _subtype("simple cyst", False, 0.16,
             shape={"oval": 0.8, "round": 0.2},
             orientation={"parallel": 0.95, "not parallel": 0.05},
             margin={"circumscribed": 0.97, "indistinct": 0.03},
             echo_pattern={"anechoic": 0.95, "hypoechoic": 0.05},
             posterior={"enhancement": 0.85, "none": 0.15},
             calcifications={"none": 1.0}),
    _subtype("complicated cyst", False, 0.10,
             shape={"oval": 0.7, "round": 0.25, "irregular": 0.05},
             orientation={"parallel": 0.9, "not parallel": 0.1},
             margin={"circumscribed": 0.8, "indistinct": 0.12, "microlobulated": 0.08},
             echo_pattern={"hypoechoic": 0.45, "complex cystic and solid": 0.35,
                           "isoechoic": 0.1, "anechoic": 0.1},
             posterior={"enhancement": 0.6, "none": 0.35, "combined": 0.05},
             calcifications={"none": 1.0}),
    _subtype("fibroadenoma", False, 0.40,
             shape={"oval": 0.78, "round": 0.08, "irregular": 0.14},
             orientation={"parallel": 0.88, "not parallel": 0.12},
             margin={"circumscribed": 0.72, "microlobulated": 0.10, "indistinct": 0.14,
                     "angular": 0.04},
             echo_pattern={"hypoechoic": 0.7, "isoechoic": 0.18, "heterogeneous": 0.1,
                           "hyperechoic": 0.02},
             posterior={"none": 0.62, "enhancement": 0.26, "shadowing": 0.08, "combined": 0.04},
             calcifications={"none": 0.95, "present": 0.05}),
    _subtype("fibrocystic change", False, 0.24,
             shape={"oval": 0.35, "round": 0.1, "irregular": 0.55},
             orientation={"parallel": 0.72, "not parallel": 0.28},
             margin={"circumscribed": 0.22, "indistinct": 0.45, "angular": 0.12,
                     "microlobulated": 0.13, "spiculated": 0.08},
             echo_pattern={"hypoechoic": 0.5, "heterogeneous": 0.2, "isoechoic": 0.12,
                           "hyperechoic": 0.08, "complex cystic and solid": 0.1},
             posterior={"none": 0.55, "shadowing": 0.25, "enhancement": 0.12, "combined": 0.08},
             calcifications={"none": 0.85, "present": 0.15}),
    _subtype("lipoma", False, 0.10,
             shape={"oval": 0.9, "round": 0.05, "irregular": 0.05},
             orientation={"parallel": 0.97, "not parallel": 0.03},
             margin={"circumscribed": 0.75, "indistinct": 0.25},
             echo_pattern={"hyperechoic": 0.55, "isoechoic": 0.45},
             posterior={"none": 0.9, "enhancement": 0.1},
             calcifications={"none": 1.0}),
    _subtype("invasive ductal carcinoma", True, 0.45,
             shape={"irregular": 0.9, "round": 0.04, "oval": 0.06},
             orientation={"not parallel": 0.62, "parallel": 0.38},
             margin={"spiculated": 0.45, "angular": 0.25, "indistinct": 0.2, "microlobulated": 0.1},
             echo_pattern={"hypoechoic": 0.7, "heterogeneous": 0.25, "isoechoic": 0.05},
             posterior={"shadowing": 0.65, "none": 0.2, "combined": 0.12, "enhancement": 0.03},
             calcifications={"present": 0.4, "none": 0.6}),
    _subtype("high-grade invasive ductal carcinoma", True, 0.25,
             shape={"round": 0.3, "oval": 0.25, "irregular": 0.45},
             orientation={"not parallel": 0.4, "parallel": 0.6},
             margin={"microlobulated": 0.37, "indistinct": 0.36, "angular": 0.15,
                     "circumscribed": 0.05, "spiculated": 0.07},
             echo_pattern={"hypoechoic": 0.65, "heterogeneous": 0.22,
                           "complex cystic and solid": 0.1, "anechoic": 0.03},
             posterior={"enhancement": 0.45, "none": 0.35, "combined": 0.15, "shadowing": 0.05},
             calcifications={"present": 0.25, "none": 0.75}),
    _subtype("invasive lobular carcinoma", True, 0.15,
             shape={"irregular": 0.8, "oval": 0.2},
             orientation={"parallel": 0.6, "not parallel": 0.4},
             margin={"indistinct": 0.5, "angular": 0.25, "spiculated": 0.2, "microlobulated": 0.05},
             echo_pattern={"hypoechoic": 0.6, "heterogeneous": 0.25, "isoechoic": 0.15},
             posterior={"shadowing": 0.55, "none": 0.4, "combined": 0.05},
             calcifications={"present": 0.1, "none": 0.9}),
    _subtype("mucinous carcinoma", True, 0.15,
             shape={"oval": 0.45, "round": 0.3, "irregular": 0.25},
             orientation={"parallel": 0.65, "not parallel": 0.35},
             margin={"microlobulated": 0.37, "indistinct": 0.42, "circumscribed": 0.08,
                     "angular": 0.13},
             echo_pattern={"complex cystic and solid": 0.4, "isoechoic": 0.2, "hypoechoic": 0.25,
                           "heterogeneous": 0.15},
             posterior={"enhancement": 0.55, "none": 0.3, "combined": 0.15},
             calcifications={"present": 0.1, "none": 0.9}),
)

KEYS: tuple[str, ...] = tuple(DESCRIPTORS)


@dataclass(frozen=True)
class LesionTruth:
    """One drawn lesion: truth, subtype, descriptors (lexicon values), size and posterior."""

    malignant: bool
    subtype: str
    descriptors: dict[str, str]
    size_mm: float
    truth_prob: float
    birads: str


def descriptor_probabilities(subtype: Subtype, key: str) -> np.ndarray:
    """P(value | subtype) for every lexicon value of ``key``, in lexicon order."""
    values = DESCRIPTORS[key]
    typical = np.array([subtype.descriptors[key].get(value, 0.0) for value in values])
    return (1 - ATYPICAL) * typical + ATYPICAL / len(values)


def likelihood(descriptors: dict[str, str], malignant: bool) -> float:
    """P(descriptors | malignant or benign), summing over that class's subtypes."""
    total = 0.0
    for subtype in SUBTYPES:
        if subtype.malignant != malignant:
            continue
        p = subtype.share
        for key in KEYS:
            p *= descriptor_probabilities(subtype, key)[DESCRIPTORS[key].index(descriptors[key])]
        total += p
    return total


def posterior(descriptors: dict[str, str], malignant_share: float = MALIGNANT_SHARE) -> float:
    """P(malignant | descriptors): the Bayes-optimal reader's score."""
    m = malignant_share * likelihood(descriptors, True)
    b = (1 - malignant_share) * likelihood(descriptors, False)
    return m / (m + b)


def birads_from_probability(p: float) -> str:
    """The reference category for a likelihood of malignancy (ACR bands: 3 <= 2%, 5 >= 95%)."""
    for category, upper in zip(BIRADS_CATEGORIES, BIRADS_UPPER):
        if p < upper:
            return category
    return BIRADS_CATEGORIES[-1]


def draw_size_mm(rng: np.random.Generator) -> float:
    """Largest diameter in mm: log-normal around 15 mm, within 5-40 mm, the same for all truths."""
    low, high = SIZE_MM_RANGE
    while True:
        size = float(np.exp(rng.normal(np.log(15.0), 0.45)))
        if low <= size <= high:
            return round(size, 1)


def draw_lesion(rng: np.random.Generator, malignant_share: float = MALIGNANT_SHARE) -> LesionTruth:
    """Draw truth, then a subtype of that truth, then each descriptor given the subtype."""
    malignant = bool(rng.random() < malignant_share)
    candidates = [s for s in SUBTYPES if s.malignant == malignant]
    subtype = candidates[rng.choice(len(candidates), p=[s.share for s in candidates])]
    descriptors = {}
    for key in KEYS:
        probabilities = descriptor_probabilities(subtype, key)
        descriptors[key] = DESCRIPTORS[key][rng.choice(len(probabilities), p=probabilities)]
    p = posterior(descriptors, malignant_share)
    return LesionTruth(malignant, subtype.name, descriptors, draw_size_mm(rng), p,
                       birads_from_probability(p))


def all_descriptor_sets() -> list[dict[str, str]]:
    """Every combination of lexicon values (for exact population figures)."""
    combinations = itertools.product(*(DESCRIPTORS[k] for k in KEYS))
    return [dict(zip(KEYS, values)) for values in combinations]


def population_figures(malignant_share: float = MALIGNANT_SHARE) -> dict[str, float]:
    """Exact population AUC of the posterior and of the reference BI-RADS, over all descriptors."""
    combos = all_descriptor_sets()
    mal = np.array([likelihood(d, True) for d in combos]) * malignant_share
    ben = np.array([likelihood(d, False) for d in combos]) * (1 - malignant_share)
    prob = mal / (mal + ben)
    rank = np.array([BIRADS_CATEGORIES.index(birads_from_probability(p)) for p in prob])
    return {"best_auc": _weighted_auc(prob, mal, ben), "birads_auc": _weighted_auc(rank, mal, ben)}


def _weighted_auc(score: np.ndarray, pos_weight: np.ndarray, neg_weight: np.ndarray) -> float:
    """AUC where each score value carries a positive and a negative mass (ties count half)."""
    order = np.argsort(score, kind="stable")
    score, pos, neg = score[order], pos_weight[order], neg_weight[order]
    values, start = np.unique(score, return_index=True)
    pos_g = np.add.reduceat(pos, start)
    neg_g = np.add.reduceat(neg, start)
    neg_below = np.concatenate(([0.0], np.cumsum(neg_g)[:-1]))
    return float(np.sum(pos_g * (neg_below + 0.5 * neg_g)) / (pos.sum() * neg.sum()))


def auc(score: np.ndarray, truth: np.ndarray) -> float:
    """Empirical AUC (Mann-Whitney, ties count half) of ``score`` against boolean ``truth``."""
    truth = np.asarray(truth, dtype=bool)
    if truth.all() or not truth.any():
        return float("nan")
    return _weighted_auc(np.asarray(score, dtype=float), truth.astype(float),
                         (~truth).astype(float))
