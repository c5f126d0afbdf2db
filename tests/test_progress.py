"""Progress: who may see what, curves and the CUSUM, the struggling flag, the cohort table."""
from __future__ import annotations

import io
import json
import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core import progress, shown_model
from core.errors import UserError
from core.stats.curves import cusum, rolling_metrics
from core.stats.metrics import threshold_metrics
from core.stats.readers import birads_scores
from core.stats.roc import TooFewCases, auc_ci, auc_text
from tests.quiz_helpers import add_model, add_practice_reads, labels_of, make_cases, make_user


def right(label: str) -> str:
    return "4C" if label == "malignant" else "2"


def wrong(label: str) -> str:
    return "3" if label == "malignant" else "4B"


@pytest.fixture
def cohort(store):
    """24 cases; a good trainee (right except every 5th), a poor one (wrong except every 4th)
    with aided reads that are all right, a supervisor."""
    cases = make_cases(store, n=24)
    labels = labels_of(store)
    good = make_user(store, "good", display_name="Good Trainee")
    poor = make_user(store, "poor", display_name="Poor Trainee")
    supervisor = make_user(store, "boss", role="supervisor")
    add_model(store, "resnet50-q", cases, heatmaps=False)
    add_practice_reads(store, good.user_id, cases,
                       [wrong(labels[c]) if i % 5 == 4 else right(labels[c])
                        for i, c in enumerate(cases)])
    add_practice_reads(store, poor.user_id, cases,
                       [right(labels[c]) if i % 4 == 0 else wrong(labels[c])
                        for i, c in enumerate(cases)],
                       aided=[right(labels[c]) for c in cases],
                       start=datetime(2026, 1, 5), step=timedelta(hours=5), model_id="resnet50-q")
    return store, cases, good, poor, supervisor


def test_a_trainee_sees_only_their_own_progress(cohort):
    store, _, good, poor, supervisor = cohort
    assert len(progress.trainee_reads(store, good, good.user_id)) == 24
    with pytest.raises(UserError, match="only their own"):
        progress.trainee_reads(store, good, poor.user_id)
    with pytest.raises(UserError, match="only supervisors"):
        progress.cohort_table(store, good)
    with pytest.raises(UserError, match="only supervisors"):
        progress.trainees(store, poor)
    with pytest.raises(UserError, match="only supervisors"):
        progress.compare(store, poor, [good.user_id])
    assert len(progress.trainee_reads(store, supervisor, poor.user_id)) == 48


def test_reads_carry_truth_call_and_correctness(cohort):
    store, cases, good, _, supervisor = cohort
    labels = labels_of(store)
    reads = progress.trainee_reads(store, supervisor, good.user_id)
    assert reads["case_id"].tolist() == cases
    assert reads["truth"].tolist() == [int(labels[c] == "malignant") for c in cases]
    assert reads["correct"].tolist() == [0 if i % 5 == 4 else 1 for i in range(24)]


def test_curves_are_the_rolling_metrics_of_each_mode(cohort):
    store, _, _, poor, supervisor = cohort
    reads = progress.trainee_reads(store, supervisor, poor.user_id)
    frame = progress.curves(reads, window=10)
    assert set(frame["mode"]) == {"unaided", "aided"}
    unaided = frame[frame["mode"] == "unaided"].drop(columns="mode").reset_index(drop=True)
    expected = rolling_metrics(reads[reads["mode"] == "unaided"], window=10)
    pd.testing.assert_frame_equal(unaided, expected)
    aided = frame[frame["mode"] == "aided"]
    assert (aided["accuracy"] == 1).all() and unaided["accuracy"].iloc[-1] < 0.5
    by_date = progress.curves(reads, window=3, by="date")
    assert by_date["date"].nunique() == 5  # 24 reads 5 h apart span five calendar days


def test_the_learning_curve_is_the_cusum_of_wrong_unaided_calls(cohort):
    store, _, _, poor, supervisor = cohort
    reads = progress.trainee_reads(store, supervisor, poor.user_id)
    curve = progress.learning_curve(reads)
    expected = cusum([0 if i % 4 == 0 else 1 for i in range(24)],
                     progress.ACCEPTABLE_ERROR, progress.UNACCEPTABLE_ERROR)
    pd.testing.assert_frame_equal(curve, expected)
    assert "unacceptable" in set(curve["signal"])


def test_the_struggling_flag(cohort):
    store, _, good, poor, supervisor = cohort
    flag = progress.struggling(progress.trainee_reads(store, supervisor, poor.user_id))
    assert flag.struggling and "learning curve" in flag.reason
    assert not progress.struggling(progress.trainee_reads(store, supervisor, good.user_id)
                                   ).struggling
    few = progress.trainee_reads(store, supervisor, poor.user_id).head(10)
    assert progress.struggling(few) == progress.Flag(False, "fewer than 20 cases read")


def test_a_low_accuracy_without_a_cusum_signal_is_flagged_too():
    # 20 wrong calls then a streak of 11 right ones: the CUSUM's latest test (it restarts
    # after each signal) ends "acceptable", but 11 right of 31 is far below 70 %.
    correct = [0] * 20 + [1] * 11
    reads = pd.DataFrame({"mode": "unaided", "correct": correct})
    signals = [s for s in cusum([1 - c for c in correct], 0.2, 0.4)["signal"] if s]
    assert signals[-1] == "acceptable"
    flag = progress.struggling(reads)
    assert flag.struggling and "below 70%" in flag.reason


def test_the_cohort_table(cohort):
    store, _, good, poor, supervisor = cohort
    make_user(store, "newbie")
    table = progress.cohort_table(store, supervisor).set_index("trainee")
    assert list(table.index) == ["Good Trainee", "newbie", "Poor Trainee"]
    assert table.loc["Good Trainee", "cases_read"] == 24
    assert table.loc["newbie", "cases_read"] == 0 and pd.isna(table.loc["newbie", "last_active"])
    good_phase = progress.phases(progress.trainee_reads(store, supervisor, good.user_id))
    assert table.loc["Good Trainee", "unaided_accuracy"] == good_phase["unaided"].accuracy.value
    assert table.loc["Good Trainee", "unaided_accuracy_lo"] == \
        good_phase["unaided"].accuracy.ci_low
    assert table.loc["Good Trainee", "unaided_birads_auc"] == pytest.approx(  # from counts per
        good_phase["unaided"].birads_auc.auc, rel=1e-12)                     # BI-RADS level
    assert math.isnan(table.loc["Good Trainee", "aided_accuracy"])
    poor_row = table.loc["Poor Trainee"]
    assert poor_row["accuracy_change"] == pytest.approx(1 - 6 / 24)
    assert poor_row["helpful_changes"] == 18 and poor_row["harmful_changes"] == 0
    assert poor_row["struggling"] and not table.loc["Good Trainee", "struggling"]
    assert poor_row["last_active"] == datetime(2026, 1, 5) + 23 * timedelta(hours=5)
    again = pd.read_csv(io.StringIO(table.to_csv()))
    assert len(again) == 3


def test_the_model_level_is_measured_on_the_same_cases(cohort):
    store, cases, good, _, supervisor = cohort
    reads = progress.trainee_reads(store, supervisor, good.user_id).head(12)
    level = progress.model_level(store, reads)
    with store.read() as cur:
        rows = cur.execute("SELECT p.prob_malignant, c.label = 'malignant' FROM predictions p"
                           " JOIN cases c USING (case_id) WHERE p.case_id IN (SELECT unnest(?))",
                           [cases[:12]]).fetchall()
    prob = np.array([p for p, _ in rows])
    truth = np.array([int(t) for _, t in rows])
    expected = threshold_metrics(truth, (prob >= 0.5).astype(int))
    assert level.model_id == "resnet50-q" and level.n == 12
    assert level.accuracy == expected["accuracy"].value
    assert level.sensitivity == expected["sensitivity"].value
    assert level.auc == auc_ci(truth, prob).auc
    expected_auc = auc_ci(truth, prob, method="logit")
    assert (level.auc_low, level.auc_high) == (expected_auc.ci_low, expected_auc.ci_high)
    assert level.auc_text == auc_text(expected_auc, 2)


def test_too_few_cases_show_no_auc_in_the_model_level_and_the_cohort(cohort):
    store, _, good, _, supervisor = cohort
    reads = progress.trainee_reads(store, supervisor, good.user_id).head(6)
    level = progress.model_level(store, reads)
    assert math.isnan(level.auc) and math.isnan(level.auc_low)
    assert level.auc_text.startswith("too few cases")
    summary = progress.phases(reads)["unaided"]
    assert isinstance(summary.birads_auc, TooFewCases)
    table = progress.cohort_table(store, supervisor).set_index("trainee")
    full = progress.phases(progress.trainee_reads(store, supervisor, good.user_id))["unaided"]
    assert table.loc["Good Trainee", "unaided_birads_auc_text"] == auc_text(full.birads_auc, 2)


def test_a_phase_with_four_malignant_shows_too_few_cases_and_five_an_auc(cohort):
    store, _, good, _, supervisor = cohort
    reads = progress.trainee_reads(store, supervisor, good.user_id)
    four = progress.phases(reads.head(9))["unaided"]  # 4 malignant, 5 benign
    assert four.birads_auc == TooFewCases(4, 5)
    assert auc_text(four.birads_auc, 2) == "too few cases (4 + 5)"
    five = reads.head(10)  # 5 and 5: the quiz summary's AUC, with its logit CI
    expected = auc_ci(five["truth"], birads_scores(five["birads"]), method="logit")
    assert progress.phases(five)["unaided"].birads_auc == expected


def test_no_model_means_no_model_level(store):
    cases = make_cases(store, n=4)
    trainee = make_user(store, "t1")
    add_practice_reads(store, trainee.user_id, cases, ["3"] * 4)
    reads = progress.trainee_reads(store, trainee, trainee.user_id)
    assert progress.model_level(store, reads) is None
    assert shown_model.quiz_model(store).model_id is None


def test_compare_lines_up_trainees(cohort):
    store, _, good, poor, supervisor = cohort
    frame = progress.compare(store, supervisor, [good.user_id, poor.user_id], window=5)
    assert set(frame["trainee"]) == {"Good Trainee", "Poor Trainee"}
    assert len(frame) == 48
    with pytest.raises(UserError, match="no trainee"):
        progress.compare(store, supervisor, [supervisor.user_id])


def test_empty_progress(store):
    trainee = make_user(store, "t1")
    reads = progress.trainee_reads(store, trainee, trainee.user_id)
    assert reads.empty and progress.curves(reads).empty and progress.phases(reads) == {}
    assert progress.learning_curve(reads).empty


def _study_reads(store, user_id: int, case_ids: list[int]) -> None:
    """Unaided reads of ``case_ids`` in a reader-study session (stored directly)."""
    with store.transaction() as cur:
        session_id = cur.execute(
            "INSERT INTO quiz_sessions (user_id, kind, case_ids) VALUES (?, 'study_unaided', ?)"
            " RETURNING session_id", [user_id, json.dumps(case_ids)]).fetchone()[0]
        cur.executemany("INSERT INTO reads (session_id, user_id, case_id, mode, birads,"
                        " probability) VALUES (?, ?, ?, 'unaided', '5', 90)",
                        [[session_id, user_id, case_id] for case_id in case_ids])


def test_study_reads_are_counted_apart_from_practice(cohort):
    store, cases, good, poor, supervisor = cohort
    before = progress.cohort_table(store, supervisor).set_index("trainee")
    _study_reads(store, good.user_id, cases[:7])
    table = progress.cohort_table(store, supervisor).set_index("trainee")
    assert table.loc["Good Trainee", "study_reads"] == 7
    assert table.loc["Poor Trainee", "study_reads"] == 0
    assert table.loc["Good Trainee", "cases_read"] == 24  # practice only, as before
    assert table.loc["Good Trainee", "unaided_accuracy"] == \
        before.loc["Good Trainee", "unaided_accuracy"]


def test_the_cohort_view_has_few_readable_columns_and_the_csv_every_figure(cohort):
    from core.cohort_view import COLUMNS, cohort_csv_frame, cohort_view

    store, cases, good, _, supervisor = cohort
    _study_reads(store, good.user_id, cases[:3])
    table = progress.cohort_table(store, supervisor)
    view = cohort_view(table).set_index("Trainee")
    assert len(COLUMNS) <= 10 and list(view.columns) == list(COLUMNS[1:])
    good_row = view.loc["Good Trainee"]
    assert good_row["Practice"] == 24 and good_row["Study"] == 3
    low, high = table.loc[table["trainee"] == "Good Trainee",
                          ["unaided_accuracy_lo", "unaided_accuracy_hi"]].iloc[0]
    assert good_row["Accuracy"] == f"{20 / 24:.0%} ({low * 100:.0f}–{high:.0%})"
    assert view.loc["Poor Trainee", "Change with AI"] == f"{(1 - 6 / 24) * 100:+.0f} points"
    assert view.loc["Poor Trainee", "Help / harm"] == "18 / 0"
    assert view.loc["Poor Trainee", "Struggling"] in ("learning curve", "recent accuracy")
    assert good_row["Struggling"] == ""
    assert good_row["BI-RADS AUC"] == table.loc[table["trainee"] == "Good Trainee",
                                                "unaided_birads_auc_text"].iloc[0]
    few = cohort_view(table.assign(unaided_birads_auc_text="too few cases (0 + 12)"))
    assert set(few["BI-RADS AUC"]) == {"too few cases"}  # the counts would not fit its column
    csv_columns = list(cohort_csv_frame(table).columns)
    assert "Study reads" in csv_columns and "Accuracy 95% CI low (unaided)" in csv_columns
    assert len(set(csv_columns)) == len(csv_columns)
    assert not [c for c in csv_columns if "_" in c or c == "User id"]
