"""Checks shared by the statistics functions: labels, scores and decisions as clean arrays.

Bad input raises ``UserError`` with a message that names the problem, so the command line and
the pages can show it as is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import UserError


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, so messages read ``0``, not ``np.int64(0)``."""
    return value.item() if isinstance(value, np.generic) else value


def _as_array(values: Any, name: str) -> np.ndarray:
    if hasattr(values, "to_numpy"):  # pandas, including nullable dtypes whose NA numpy lacks
        try:
            values = values.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            values = values.to_numpy()
    array = np.asarray(values)
    if array.ndim != 1:
        raise UserError(f"{name}: expected a one-dimensional list of values, "
                        f"got shape {array.shape}")
    return array


def binary(values: Any, name: str = "truth") -> np.ndarray:
    """0/1 (or boolean) values as an int array; anything else (NaN, 2, 'yes') is refused."""
    array = _as_array(values, name)
    if array.dtype == bool:
        return array.astype(np.int64)
    try:
        numeric = array.astype(float)
    except (TypeError, ValueError):
        raise UserError(f"{name}: expected 0/1 values, found non-numeric values "
                        f"such as {plain(array[0])!r}") from None
    if np.isnan(numeric).any():
        raise UserError(f"{name}: {int(np.isnan(numeric).sum())} missing value(s)")
    bad = ~np.isin(numeric, (0.0, 1.0))
    if bad.any():
        raise UserError(f"{name}: expected 0/1 values, found {plain(array[bad][0])!r}")
    return numeric.astype(np.int64)


def scores(values: Any, name: str = "score") -> np.ndarray:
    """Numeric scores as a float array; NaN and non-numeric values are refused."""
    array = _as_array(values, name)
    try:
        numeric = array.astype(float)
    except (TypeError, ValueError):
        raise UserError(f"{name}: expected numbers, found non-numeric values "
                        f"such as {plain(array[0])!r}") from None
    if np.isnan(numeric).any():
        raise UserError(f"{name}: {int(np.isnan(numeric).sum())} missing value(s)")
    return numeric


def same_length(**arrays: np.ndarray) -> int:
    """The common length of the arrays; UserError naming them if they differ."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise UserError("lengths differ: " + ", ".join(f"{k}={v}" for k, v in lengths.items()))
    return next(iter(lengths.values()))


def both_classes(y: np.ndarray, at_least: int = 1) -> tuple[int, int]:
    """(n_pos, n_neg); UserError unless each class has ``at_least`` cases."""
    n_pos = int(y.sum())
    n_neg = int(len(y) - n_pos)
    if n_pos < at_least or n_neg < at_least:
        raise UserError(f"need at least {at_least} positive and {at_least} negative case(s), "
                        f"got {n_pos} positive and {n_neg} negative")
    return n_pos, n_neg


POSITIVE_WORDS = frozenset({"yes", "y", "true", "t", "1", "malignant", "positive", "pos",
                            "correct", "right"})
NEGATIVE_WORDS = frozenset({"no", "n", "false", "f", "0", "benign", "negative", "neg",
                            "incorrect", "wrong"})
KNOWN_PAIRS = "yes/no, true/false, malignant/benign, positive/negative, correct/incorrect, 1/0"


def level_name(value: Any) -> str:
    """A value as users mean it: text stripped and case-folded, ``1.0`` read as ``1``,
    booleans as ``true``/``false``."""
    value = plain(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().casefold()


@dataclass(frozen=True)
class TwoLevels:
    """A two-level column as 0/1 (1 = ``positive``), with its levels as the file writes them
    (``negative`` is None where only the positive level occurs, and vice versa)."""

    indicator: np.ndarray
    positive: str | None
    negative: str | None


def two_levels(values: Any, name: str, positive: Any = None) -> TwoLevels:
    """A column of at most two levels as 0/1, as R reads a two-level factor: yes/no,
    true/false, malignant/benign, positive/negative, 1/0 (any case, spaces around ignored).
    ``positive`` names the positive level where the words do not tell; a column with more
    than two levels, or whose positive level cannot be told, is refused."""
    array = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values, dtype=object)
    if array.ndim != 1:
        raise UserError(f"{name}: expected a one-dimensional list of values, "
                        f"got shape {array.shape}")
    names = np.array([level_name(value) for value in array], dtype=object)
    written: dict[str, str] = {}
    for value, key in zip(array, names):  # the first spelling of each level, as written
        written.setdefault(key, key if isinstance(plain(value), (bool, float, int))
                           else str(value).strip())
    levels = sorted(written)
    shown = ", ".join(written[key] for key in levels[:10])
    if len(levels) > 2:
        raise UserError(f"column {name!r} has {len(levels)} different values ({shown}); it "
                        "must hold two levels (e.g. yes/no)")
    if positive is not None:
        chosen = level_name(positive)
        if chosen not in written and len(levels) == 2:
            raise UserError(f"positive value {positive!r} does not occur in column {name!r} "
                            f"(values: {shown})")
    else:
        positives = [key for key in levels if key in POSITIVE_WORDS]
        negatives = [key for key in levels if key in NEGATIVE_WORDS]
        if len(positives) + len(negatives) != len(levels) or len(positives) > 1 \
                or len(negatives) > 1:
            raise UserError(f"cannot tell which value of column {name!r} means positive "
                            f"(values: {shown}): name it with --positive VALUE ({KNOWN_PAIRS} "
                            "are read without it)")
        chosen = positives[0] if positives else None
    indicator = (names == chosen).astype(np.int64)
    others = [key for key in levels if key != chosen]
    shown_positive = written.get(chosen, None if positive is None else str(positive).strip())
    return TwoLevels(indicator, shown_positive, written[others[0]] if others else None)
