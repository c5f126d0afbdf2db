"""Reader statistics: BI-RADS as an ordinal ROC, the labelled single-point figure, decision
changes with AI help, automation bias."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import UserError
from core.stats.readers import automation_bias, birads_scores, change_ledger, reader_summary
from core.stats.roc import auc_ci, auc_mw

TRUTH = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
BIRADS = ["2", "3", "4A", "3", "4b", "4A", "4C", "5", "3", "5"]


def test_birads_scores_are_ordinal_ranks():
    assert birads_scores(["2", "3", "4A", "4b", "4C", "5"]).tolist() == [0, 1, 2, 3, 4, 5]
    with pytest.raises(UserError, match="not a BI-RADS category"):
        birads_scores(["3", "6"])


def test_reader_summary_separates_roc_auc_from_single_point_figure():
    summary = reader_summary(TRUTH, BIRADS, positive_from="4A")
    ranks = birads_scores(BIRADS)
    assert summary["birads_auc"]["auc"] == pytest.approx(auc_mw(TRUTH, ranks))
    assert summary["birads_auc"] == auc_ci(TRUTH, ranks, method="logit").as_dict()
    # At 4A or above: 4 of 5 malignant called, 3 of 5 benign cleared.
    assert summary["confusion"] == {"tp": 4, "fp": 2, "tn": 3, "fn": 1}
    metrics = summary["metrics"]
    assert (metrics["sensitivity"]["value"], metrics["specificity"]["value"]) == (0.8, 0.6)
    assert summary["single_point_auc"]["value"] == pytest.approx(0.7)
    assert "not the area under an ROC curve" in summary["single_point_auc"]["label"]
    assert summary["birads_auc"]["auc"] != pytest.approx(0.7)


def test_birads_roc_runs_from_corner_to_corner_through_each_cut_off():
    points = reader_summary(TRUTH, BIRADS)["birads_roc"]
    assert [p["positive_from"] for p in points] == [None, "5", "4C", "4B", "4A", "3", "2"]
    assert (points[0]["fpr"], points[0]["tpr"]) == (0.0, 0.0)
    assert (points[-1]["fpr"], points[-1]["tpr"]) == (1.0, 1.0)
    fpr = [p["fpr"] for p in points]
    tpr = [p["tpr"] for p in points]
    assert fpr == sorted(fpr) and tpr == sorted(tpr)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc_mw(TRUTH, birads_scores(BIRADS)))


def test_cut_off_is_configurable_and_probability_gives_a_second_roc():
    probability = [5, 20, 40, 10, 60, 55, 80, 95, 30, 90]
    at_4b = reader_summary(TRUTH, BIRADS, probability=probability, positive_from="4B")
    assert at_4b["confusion"] == {"tp": 3, "fp": 1, "tn": 4, "fn": 2}
    assert at_4b["probability_auc"]["auc"] == pytest.approx(auc_mw(TRUTH, probability))
    assert at_4b["probability_roc"]["fpr"][0] == 0.0 and at_4b["probability_roc"]["tpr"][-1] == 1.0
    assert "BI-RADS >= 4B" in at_4b["single_point_auc"]["label"]


def test_change_ledger_counts_each_kind_of_change():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 0])
    before = np.array([0, 1, 1, 0, 1, 0, 1, 0, 1, 0])
    after = np.array([1, 0, 1, 0, 0, 1, 1, 0, 1, 0])
    ledger = change_ledger(y, before, after)
    assert ledger["helpful_fn_to_tp"] == 1 and ledger["helpful_fp_to_tn"] == 1
    assert ledger["harmful_tp_to_fn"] == 1 and ledger["harmful_tn_to_fp"] == 1
    assert ledger["unchanged"] == 6 and ledger["n"] == 10
    assert ledger["helpful"] + ledger["harmful"] + ledger["unchanged"] == ledger["n"]
    assert (ledger["mcnemar"]["b"], ledger["mcnemar"]["c"]) == (2, 2)


def test_automation_bias_counts_changes_to_a_wrong_ai_decision():
    y = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    ai = np.array([1, 1, 1, 0, 0, 0, 0, 1])          # wrong on the first six
    before = np.array([0, 0, 1, 1, 1, 0, 0, 0])
    after = np.array([1, 0, 1, 0, 1, 0, 0, 1])       # followed the wrong AI on cases 0 and 3
    result = automation_bias(y, before, after, ai)
    assert (result["k"], result["n"]) == (2, 6)
    assert result["rate"] == pytest.approx(2 / 6)
    assert result["ci"][0] <= result["rate"] <= result["ci"][1]
    # Cases 2 and 5 already agreed with the AI unaided: following was possible on four.
    assert (result["among_disagreed"]["k"], result["among_disagreed"]["n"]) == (2, 4)
    assert (result["ai_right"]["k"], result["ai_right"]["n"]) == (1, 2)


def test_rating_level_automation_bias_follows_the_ai_direction():
    y = np.array([0, 0, 1, 1])
    ai = np.array([1, 1, 0, 0])                       # all wrong
    unaided = np.array([1, 2, 3, 4])
    aided = np.array([2, 2, 2, 5])                    # up for AI-positive 0; down for AI-negative 2
    result = automation_bias(y, [0, 0, 1, 1], [0, 0, 1, 1], ai, unaided, aided)
    assert result["k"] == 0
    assert (result["rating_level"]["k"], result["rating_level"]["n"]) == (2, 4)
    with pytest.raises(UserError, match="both"):
        automation_bias(y, [0, 0, 1, 1], [0, 0, 1, 1], ai, unaided_rating=unaided)


def test_small_sets_give_too_few_cases_instead_of_an_auc():
    summary = reader_summary([0, 1, 1], ["3", "4A", "5"], [10, 60, 90])
    for name in ("birads_auc", "probability_auc"):
        assert np.isnan(summary[name]["auc"]) and np.isnan(summary[name]["ci"]).all()
        assert summary[name]["too_few"].startswith("too few cases")
    with pytest.raises(UserError, match="positive"):
        reader_summary([1, 1], ["3", "5"])
