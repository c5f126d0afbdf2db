"""Reader performance from BI-RADS ratings, and what AI help changed.

BI-RADS 2 < 3 < 4A < 4B < 4C < 5 is an ordinal rating scale, so it gives a real ROC curve
(five interior operating points) and a Mann-Whitney AUC with a logit DeLong CI (``shown_auc``).
The study's reader "AUC" is (sensitivity + specificity) / 2 at one cut-off (4A or above called
malignant); it is reported here separately under the name ``single_point_auc`` and never as the
AUC.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from core.errors import UserError
from core.lexicon import BIRADS_CATEGORIES, DEFAULT_POSITIVE_FROM, birads_rank
from core.stats import inputs
from core.stats.mcnemar import mcnemar
from core.stats.metrics import confusion, threshold_metrics, wilson_ci
from core.stats.roc import roc_points, shown_auc


def birads_scores(categories: Any) -> np.ndarray:
    """BI-RADS categories as ordinal ranks: 0 for '2' ... 5 for '5' (case-insensitive)."""
    values = list(categories)
    try:
        return np.array([birads_rank(value) for value in values], dtype=float)
    except ValueError as error:
        raise UserError(str(error)) from None


def _birads_operating_points(y: np.ndarray, ranks: np.ndarray) -> list[dict[str, Any]]:
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    points = [{"positive_from": None, "fpr": 0.0, "tpr": 0.0}]
    for category in reversed(BIRADS_CATEGORIES):
        called = ranks >= birads_rank(category)
        points.append({"positive_from": category, "fpr": float(called[y == 0].sum() / n_neg),
                       "tpr": float(called[y == 1].sum() / n_pos)})
    return points


def reader_summary(y: Any, birads: Any, probability: Any = None,
                   positive_from: str = DEFAULT_POSITIVE_FROM,
                   level: float = 0.95) -> dict[str, Any]:
    """One reader's (or one phase's) performance over a set of cases.

    Returns n, n_pos, n_neg; ``birads_auc`` (ordinal ROC AUC with logit DeLong CI) and
    ``birads_roc`` (one operating point per cut-off); ``probability_auc`` and
    ``probability_roc`` when the reader's probability-of-malignancy answers are given (any
    scale: 0-1 or 0-100);
    ``positive_from``, ``confusion`` and ``metrics`` (accuracy ... F1 with CIs) for the decision
    "BI-RADS >= positive_from"; and ``single_point_auc``, the study's figure, labelled. Needs a
    case of each class; with fewer than ``MIN_PER_CLASS`` of either, each AUC dict holds NaN
    and ``too_few`` says so (``TooFewCases``).
    """
    y = inputs.binary(y)
    ranks = birads_scores(birads)
    inputs.same_length(truth=y, birads=ranks)
    n_pos, n_neg = inputs.both_classes(y)
    called = (ranks >= birads_rank(positive_from)).astype(int)
    metrics = threshold_metrics(y, called, level=level)
    sens, spec = metrics["sensitivity"].value, metrics["specificity"].value
    summary: dict[str, Any] = {
        "n": len(y), "n_pos": n_pos, "n_neg": n_neg,
        "birads_auc": shown_auc(y, ranks, level).as_dict(),
        "birads_roc": _birads_operating_points(y, ranks),
        "positive_from": positive_from,
        "confusion": confusion(y, called),
        "metrics": {name: estimate.as_dict() for name, estimate in metrics.items()},
        "single_point_auc": {
            "value": (sens + spec) / 2,
            "label": (f"single-point 'AUC' = (sensitivity + specificity) / 2 at BI-RADS >= "
                      f"{positive_from}, as the study reports it; not the area under an ROC "
                      f"curve"),
        },
    }
    if probability is not None:
        prob = inputs.scores(probability, "probability")
        inputs.same_length(truth=y, probability=prob)
        fpr, tpr, _ = roc_points(y, prob)
        summary["probability_auc"] = shown_auc(y, prob, level).as_dict()
        summary["probability_roc"] = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
    return summary


def change_ledger(y: Any, unaided_pos: Any, aided_pos: Any) -> dict[str, Any]:
    """How decisions changed from the unaided to the aided read of the same cases.

    Helpful: FN -> TP and FP -> TN; harmful: TP -> FN and TN -> FP; unchanged: same decision.
    ``mcnemar`` tests aided against unaided correctness (its b = helpful, c = harmful).
    """
    y = inputs.binary(y)
    before = inputs.binary(unaided_pos, "unaided decision")
    after = inputs.binary(aided_pos, "aided decision")
    n = inputs.same_length(truth=y, unaided=before, aided=after)
    ledger = {
        "helpful_fn_to_tp": int(((y == 1) & (before == 0) & (after == 1)).sum()),
        "helpful_fp_to_tn": int(((y == 0) & (before == 1) & (after == 0)).sum()),
        "harmful_tp_to_fn": int(((y == 1) & (before == 1) & (after == 0)).sum()),
        "harmful_tn_to_fp": int(((y == 0) & (before == 0) & (after == 1)).sum()),
        "unchanged": int((before == after).sum()),
        "n": n,
    }
    ledger["helpful"] = ledger["helpful_fn_to_tp"] + ledger["helpful_fp_to_tn"]
    ledger["harmful"] = ledger["harmful_tp_to_fn"] + ledger["harmful_tn_to_fp"]
    ledger["net_helpful"] = ledger["helpful"] - ledger["harmful"]
    ledger["mcnemar"] = mcnemar(after == y, before == y)
    return ledger


def _share(selected: np.ndarray, among: np.ndarray, level: float) -> dict[str, Any]:
    k, n = int((selected & among).sum()), int(among.sum())
    low, high = wilson_ci(k, n, level)
    return {"rate": k / n if n else float("nan"), "k": k, "n": n, "ci": [low, high]}


def automation_bias(y: Any, unaided_pos: Any, aided_pos: Any, ai_pos: Any,
                    unaided_rating: Any = None, aided_rating: Any = None,
                    level: float = 0.95) -> dict[str, Any]:
    """How often the reader followed the AI when the AI was wrong.

    Decision level (``rate``, ``k``, ``n``, ``ci``, Wilson): n = cases where the AI's decision
    was wrong; k = those where the reader's unaided decision differed from the AI's and the
    aided decision equals it. ``among_disagreed`` uses as n only the AI-wrong cases where the
    unaided decision differed from the AI's (the cases where following was possible).
    ``ai_right`` is the same share over cases where the AI was right (appropriate reliance),
    for contrast. With ratings (same scale before and after: BI-RADS ranks from
    ``birads_scores`` or probabilities), ``rating_level`` counts AI-wrong cases whose aided
    rating moved in the AI's direction: higher when the AI called the case positive, lower when
    negative.
    """
    y = inputs.binary(y)
    before = inputs.binary(unaided_pos, "unaided decision")
    after = inputs.binary(aided_pos, "aided decision")
    ai = inputs.binary(ai_pos, "AI decision")
    inputs.same_length(truth=y, unaided=before, aided=after, ai=ai)
    ai_wrong = ai != y
    followed = (before != ai) & (after == ai)
    result = _share(followed, ai_wrong, level)
    result["among_disagreed"] = _share(followed, ai_wrong & (before != ai), level)
    result["ai_right"] = _share(followed, ~ai_wrong, level)
    result["definition"] = ("of the cases where the AI's decision was wrong, the share where the "
                            "reader changed decision to the AI's decision")
    if (unaided_rating is None) != (aided_rating is None):
        raise UserError("give both the unaided and the aided ratings, or neither")
    if unaided_rating is not None:
        first = inputs.scores(unaided_rating, "unaided rating")
        second = inputs.scores(aided_rating, "aided rating")
        inputs.same_length(truth=y, unaided_rating=first, aided_rating=second)
        toward_ai = np.sign(second - first) == np.where(ai == 1, 1, -1)
        result["rating_level"] = _share(toward_ai, ai_wrong, level)
        result["rating_level"]["definition"] = (
            "of the cases where the AI's decision was wrong, the share where the aided rating "
            "moved in the AI's direction (higher if the AI said malignant, lower if benign)")
    return result
