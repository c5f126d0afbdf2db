"""The coverage simulation behind the choice of the app's AUC interval (behaviour, not timing)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from core.stats.coverage import auc_ci_coverage, binormal_scores


def test_binormal_scores_have_the_asked_true_auc():
    y, scores = binormal_scores(200, 200, 0.85, 20, np.random.default_rng(0))
    aucs = [roc_auc_score(y, row) for row in scores]
    assert np.mean(aucs) == pytest.approx(0.85, abs=0.01)


def test_logit_interval_covers_near_nominal_where_the_wald_one_does_not():
    result = auc_ci_coverage(10, 10, 0.95, reps=600, seed=4)
    wald, logit = result["delong"], result["logit"]
    assert wald.coverage < 0.85 and wald.zero_width > 0.05  # pROC's at 10+10, AUC 0.95
    assert logit.coverage >= 0.92 and logit.zero_width == 0
    assert logit.reps == 600 and (logit.n_pos, logit.n_neg, logit.auc) == (10, 10, 0.95)


def test_the_simulation_is_seeded():
    first = auc_ci_coverage(5, 5, 0.9, reps=100, seed=1)["logit"]
    assert auc_ci_coverage(5, 5, 0.9, reps=100, seed=1)["logit"] == first
