"""Checks shared by the statistics functions: labels, scores and decisions as clean arrays.

Bad input raises ``UserError`` with a message that names the problem, so the command line and
the pages can show it as is.
"""
from __future__ import annotations

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
