"""McNemar's test for paired binary outcomes (e.g. each case read right or wrong by a reader
unaided and aided, or by two models)."""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from core.errors import UserError
from core.stats import inputs


def mcnemar_table(table_2x2: Any) -> dict[str, Any]:
    """McNemar's test on a 2 x 2 table of paired outcomes; only the discordant cells count.

    ``b`` = table[0][1] (first yes, second no), ``c`` = table[1][0]. ``chi2`` is continuity
    corrected, (|b - c| - 1)^2 / (b + c), except that it is 0 when b = c (as R's mcnemar.test);
    ``chi2_uncorrected`` = (b - c)^2 / (b + c); both on 1 df. ``p_exact`` is the two-sided
    binomial test of b out of b + c at one half. Without discordant pairs there is no evidence
    of a difference: statistics 0, p-values 1.
    """
    table = np.asarray(table_2x2)
    if table.shape != (2, 2):
        raise UserError(f"McNemar needs a 2 x 2 table, got shape {table.shape}")
    if (table < 0).any() or not np.all(np.mod(table, 1) == 0):
        raise UserError("McNemar table: counts must be non-negative whole numbers")
    b, c = int(table[0, 1]), int(table[1, 0])
    discordant = b + c
    if discordant == 0:
        chi2 = chi2_uncorrected = 0.0
        p_exact = 1.0
    else:
        chi2_uncorrected = (b - c) ** 2 / discordant
        chi2 = (abs(b - c) - 1) ** 2 / discordant if b != c else 0.0
        p_exact = float(stats.binomtest(b, discordant, 0.5).pvalue)
    return {"table": table.astype(int).tolist(), "b": b, "c": c, "n": int(table.sum()),
            "chi2": float(chi2), "p_corrected": float(stats.chi2.sf(chi2, 1)),
            "chi2_uncorrected": float(chi2_uncorrected),
            "p_uncorrected": float(stats.chi2.sf(chi2_uncorrected, 1)), "p_exact": p_exact}


def mcnemar(a_correct: Any, b_correct: Any) -> dict[str, Any]:
    """McNemar's test for two paired 0/1 outcomes over the same cases.

    ``b`` counts cases where a is 1 and b is 0, ``c`` where a is 0 and b is 1; see
    ``mcnemar_table`` for the statistics returned.
    """
    a = inputs.binary(a_correct, "a")
    b = inputs.binary(b_correct, "b")
    inputs.same_length(a=a, b=b)
    table = [[int(((a == 1) & (b == 1)).sum()), int(((a == 1) & (b == 0)).sum())],
             [int(((a == 0) & (b == 1)).sum()), int(((a == 0) & (b == 0)).sum())]]
    return mcnemar_table(table)
