"""Reader studies: set-up and its checks, reading orders, the washout on an injected clock, no
truth in what a reader sees, refused reads, and the report equal to ``core.stats`` applied
directly to the same reads."""
from __future__ import annotations

import dataclasses
import json
import math
import random
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.auth import utcnow
from core.errors import UserError
from core.quiz import flow, selection
from core.reads import locked_cases
from core.stats.mrmc import as_paired_test, or_analysis
from core.stats.readers import automation_bias, birads_scores, change_ledger, reader_summary
from core.stats.roc import paired_test
from core.studies import protocol
from core.studies.definitions import POOLED, PUBLISHED_READER
from core.studies.report import PAIRED_METHOD, own_result, study_report
from core.studies.printable import report_html
from core.studies.tables import display_tables, fmt_ci, fmt_p, report_frames
from tests.quiz_helpers import add_model, labels_of, make_cases, make_user

T0 = datetime(2026, 3, 2, 9, 0)
TRUTH_FIELDS = {"label", "histology", "birads_ref", "descriptors", "mask_path", "truth",
                "truth_prob"}


def lab_of(store, n: int):
    """``n`` cases (benign and malignant in turn), a model with predictions, three trainees
    and a supervisor."""
    cases = make_cases(store, n=n)
    add_model(store, "resnet50-study", cases, heatmaps=False)
    people = {name: make_user(store, name, role) for name, role in
              (("anna", "trainee"), ("ben", "trainee"), ("cleo", "trainee"),
               ("sue", "supervisor"))}
    return store, cases, people


@pytest.fixture
def lab(store):
    """12 cases (6 benign, 6 malignant); see ``lab_of``."""
    return lab_of(store, 12)


@pytest.fixture
def wide_lab(store):
    """20 cases: room for two studies of 5 malignant and 5 benign each."""
    return lab_of(store, 20)


def new_study(lab, readers=("anna", "ben"), washout=14.0, seed=0, cases=None) -> int:
    store, all_cases, people = lab
    return protocol.create_study(store, people["sue"], "Pilot", cases or all_cases,
                                [people[name].user_id for name in readers], washout,
                                seed=seed, now=T0)


def read_phase(store, study_id, user, choose, start: datetime,
               step=timedelta(minutes=1), limit: int | None = None) -> datetime:
    """Read every case of the reader's current phase (the first ``limit`` only, if given),
    ``choose(case_id)`` giving (birads, probability); returns the time of the last read."""
    session_id = protocol.start_or_resume(store, study_id, user.user_id, now=start)
    view = protocol.next_study_case(store, session_id, user.user_id, now=start)
    when = start
    while not isinstance(view, protocol.PhaseDoneView) and (limit is None
                                                             or when < start + limit * step):
        birads, probability = choose(view.case_id)
        view = protocol.submit_study_read(store, session_id, user.user_id, view.case_id, birads,
                                         probability, now=when)
        when += step
    return when - step


def orders(store, study_id) -> dict[int, tuple[list[int], list[int]]]:
    with store.read() as cur:
        rows = cur.execute("SELECT user_id, unaided_order, aided_order FROM study_readers"
                           " WHERE study_id = ?", [study_id]).fetchall()
    return {uid: (json.loads(a), json.loads(b)) for uid, a, b in rows}


def stored_reads(store) -> list[tuple]:
    with store.read() as cur:
        return cur.execute("SELECT user_id, case_id, mode, model_id, ai_prob, created_at"
                           " FROM reads ORDER BY read_id").fetchall()


# ---- set-up --------------------------------------------------------------------------------

def test_orders_are_permutations_that_differ_between_phases_and_repeat_with_the_seed(lab):
    store, cases, people = lab
    study_id = new_study(lab, readers=("anna", "ben", "cleo"), seed=7)
    found = orders(store, study_id)
    assert set(found) == {people[n].user_id for n in ("anna", "ben", "cleo")}
    for unaided, aided in found.values():
        assert sorted(unaided) == sorted(cases) and sorted(aided) == sorted(cases)
        assert unaided != aided
    assert len({tuple(unaided) for unaided, _ in found.values()}) == 3
    assert orders(store, new_study(lab, readers=("anna", "ben", "cleo"), seed=7)) == found
    assert orders(store, new_study(lab, readers=("anna", "ben", "cleo"), seed=8)) != found
    session_id = protocol.start_or_resume(store, study_id, people["anna"].user_id, now=T0)
    with store.read() as cur:
        kind, stored = cur.execute("SELECT kind, case_ids FROM quiz_sessions"
                                   " WHERE session_id = ?", [session_id]).fetchone()
    assert kind == "study_unaided"
    assert json.loads(stored) == found[people["anna"].user_id][0]


def test_the_test_split_is_the_default_case_set(lab):
    store, cases, _ = lab
    with store.read() as cur:
        test = [c for (c,) in cur.execute("SELECT case_id FROM splits WHERE split = 'test'"
                                          " ORDER BY case_id").fetchall()]
    assert protocol.study_case_set(store, "quizset") == test
    assert dict(protocol.study_datasets(store)) == {"quizset": len(test)}
    with pytest.raises(UserError, match="no test split"):
        protocol.study_case_set(store, "nothing")


def test_the_default_model_is_the_quiz_model(lab):
    store, cases, _ = lab
    add_model(store, "vgg16-better", cases, cv_auc=0.95, heatmaps=False)
    assert protocol.get_study(store, new_study(lab)).model_id == "vgg16-better"


@pytest.mark.parametrize("change, message", [
    ({"supervisor": "anna"}, "only supervisors and admins"),
    ({"name": "  "}, "give the study a name"),
    ({"cases": "none"}, "case set is empty"),
    ({"cases": "four malignant"}, "at least 5 malignant and 5 benign.*4 malignant and 6"),
    ({"cases": "duplicate"}, "twice"),
    ({"cases": "unknown"}, "no case 10000"),
    ({"readers": []}, "at least one reader"),
    ({"readers": ["sue"]}, "sue cannot be a reader"),
    ({"readers": ["inactive"]}, "cannot be a reader"),
    ({"washout": -1}, "between 0 and 365"),
    ({"washout": "two weeks"}, "number of days"),
    ({"model": "nope"}, "no trained model 'nope'"),
    ({"model": "partial"}, "could honestly show .* for 6 of the 12"),
])
def test_set_up_refuses_bad_input_and_stores_nothing(lab, change, message):
    store, cases, people = lab
    add_model(store, "partial", cases[:6], heatmaps=False)
    inactive = make_user(store, "inactive")
    with store.transaction() as cur:
        cur.execute("UPDATE users SET active = FALSE WHERE user_id = ?", [inactive.user_id])
    people = {**people, "inactive": inactive}
    labels = labels_of(store)
    malignant = [c for c in cases if labels[c] == "malignant"]
    benign = [c for c in cases if c not in malignant]
    chosen = {"all": cases, "none": [], "four malignant": malignant[:4] + benign,
              "duplicate": cases + cases[:1], "unknown": [10_000, *cases]
              }[change.get("cases", "all")]
    with pytest.raises(UserError, match=message):
        protocol.create_study(
            store, people[change.get("supervisor", "sue")], change.get("name", "Pilot"),
            chosen, [people[n].user_id for n in change.get("readers", ["anna"])],
            change.get("washout", 14), change.get("model"))
    with store.read() as cur:
        assert cur.execute("SELECT count(*) FROM reader_studies").fetchone()[0] == 0
        assert cur.execute("SELECT count(*) FROM study_readers").fetchone()[0] == 0


# ---- phases and the washout ----------------------------------------------------------------

def test_washout_gates_the_aided_phase_on_the_injected_clock(lab):
    store, _, people = lab
    anna = people["anna"]
    study_id = new_study(lab, washout=14)
    phase = protocol.reader_phase(store, study_id, anna.user_id, now=T0)
    assert (phase.phase, phase.read, phase.session_id) == ("unaided", 0, None)
    last = read_phase(store, study_id, anna, lambda case: ("3", 20), T0,
                      step=timedelta(hours=5))
    opens = last + timedelta(days=14)
    just_before = opens - timedelta(minutes=1)
    phase = protocol.reader_phase(store, study_id, anna.user_id, now=just_before)
    assert (phase.phase, phase.washout_until) == ("washout", opens)
    with pytest.raises(UserError, match=f"{opens:%Y-%m-%d %H:%M}"):
        protocol.start_or_resume(store, study_id, anna.user_id, now=just_before)
    assert protocol.reader_phase(store, study_id, anna.user_id, now=opens).phase == "aided"
    session_id = protocol.start_or_resume(store, study_id, anna.user_id, now=opens)
    view = protocol.next_study_case(store, session_id, anna.user_id, now=opens)
    with pytest.raises(UserError, match="after the washout"):
        protocol.submit_study_read(store, session_id, anna.user_id, view.case_id, "4A", 60,
                                  now=just_before)
    with pytest.raises(UserError, match="after the washout"):
        protocol.next_study_case(store, session_id, anna.user_id, now=just_before)
    assert [r[2] for r in stored_reads(store)] == ["unaided"] * 12
    protocol.submit_study_read(store, session_id, anna.user_id, view.case_id, "4A", 60, now=opens)
    assert stored_reads(store)[-1][2] == "aided"


def test_a_zero_day_washout_opens_at_once_after_the_last_unaided_read(lab):
    store, _, people = lab
    ben = people["ben"]
    study_id = new_study(lab, washout=0)
    last = read_phase(store, study_id, ben, lambda case: ("4B", 70), T0)
    assert protocol.reader_phase(store, study_id, ben.user_id, now=last).phase == "aided"
    read_phase(store, study_id, ben, lambda case: ("4B", 70), last)
    done = protocol.reader_phase(store, study_id, ben.user_id, now=last)
    assert (done.phase, done.read, done.total) == ("done", 12, 12)
    with pytest.raises(UserError, match="both phases"):
        protocol.start_or_resume(store, study_id, ben.user_id, now=last)
    others = protocol.reader_phase(store, study_id, people["anna"].user_id, now=last)
    assert others.phase == "unaided" and others.read == 0


def test_the_washout_counts_from_the_last_unaided_read_not_the_first(lab):
    store, _, people = lab
    anna = people["anna"]
    study_id = new_study(lab, washout=1)
    last = read_phase(store, study_id, anna, lambda case: ("2", 5), T0, step=timedelta(hours=6))
    assert last - T0 == timedelta(hours=66)
    assert protocol.reader_phase(store, study_id, anna.user_id,
                                now=T0 + timedelta(days=2)).phase == "washout"
    assert protocol.reader_phase(store, study_id, anna.user_id,
                                now=last + timedelta(days=1)).phase == "aided"


# ---- what a reader sees --------------------------------------------------------------------

def test_views_carry_no_truth_and_only_the_aided_one_the_model(lab):
    store, _, people = lab
    anna = people["anna"]
    study_id = new_study(lab, washout=0)
    session_id = protocol.start_or_resume(store, study_id, anna.user_id, now=T0)
    unaided = protocol.next_study_case(store, session_id, anna.user_id, now=T0)
    names = {f.name for f in dataclasses.fields(unaided)}
    assert isinstance(unaided, protocol.UnaidedCaseView)
    assert names == {"session_id", "study_id", "case_id", "image_path", "position", "total"}
    assert unaided.case_id == orders(store, study_id)[anna.user_id][0][0]
    last = read_phase(store, study_id, anna, lambda case: ("3", 30), T0)
    session_id = protocol.start_or_resume(store, study_id, anna.user_id, now=last)
    aided = protocol.next_study_case(store, session_id, anna.user_id, now=last)
    assert isinstance(aided, protocol.AidedCaseView)
    assert not TRUTH_FIELDS & {f.name for f in dataclasses.fields(aided)}
    assert not TRUTH_FIELDS & {f.name for f in dataclasses.fields(aided.ai)}
    assert aided.case_id == orders(store, study_id)[anna.user_id][1][0]
    with store.read() as cur:
        prob = cur.execute("SELECT prob_malignant FROM predictions WHERE model_id = ?"
                           " AND case_id = ?", ["resnet50-study", aided.case_id]).fetchone()[0]
    assert (aided.ai.model_id, aided.ai.probability, aided.heatmap_method) == \
        ("resnet50-study", prob, "gradcam")


def test_reads_store_the_mode_the_model_shown_and_the_clock(lab):
    store, _, people = lab
    anna = people["anna"]
    study_id = new_study(lab, washout=0)
    last = read_phase(store, study_id, anna, lambda case: ("3", 30), T0)
    read_phase(store, study_id, anna, lambda case: ("4A", 55), last + timedelta(hours=1))
    with store.read() as cur:
        probs = dict(cur.execute("SELECT case_id, prob_malignant FROM predictions"
                                 " WHERE model_id = 'resnet50-study'").fetchall())
    rows = stored_reads(store)
    unaided, aided = rows[:12], rows[12:]
    assert {(m, model, prob) for _, _, m, model, prob, _ in unaided} == {("unaided", None, None)}
    assert all(m == "aided" and model == "resnet50-study" and prob == probs[case]
               for _, case, m, model, prob, _ in aided)
    assert unaided[0][5] == T0 and aided[0][5] == last + timedelta(hours=1)


def test_out_of_order_duplicate_and_foreign_reads_are_refused(lab):
    store, cases, people = lab
    anna, ben = people["anna"], people["ben"]
    study_id = new_study(lab, washout=0, cases=cases[:10])
    anna_order = orders(store, study_id)[anna.user_id][0]
    session_id = protocol.start_or_resume(store, study_id, anna.user_id, now=T0)
    assert protocol.start_or_resume(store, study_id, anna.user_id, now=T0) == session_id
    with pytest.raises(UserError, match="next one is case 1 of 10"):
        protocol.submit_study_read(store, session_id, anna.user_id, anna_order[1], "3", 20, now=T0)
    protocol.submit_study_read(store, session_id, anna.user_id, anna_order[0], "3", 20, now=T0)
    with pytest.raises(UserError, match="already stored"):
        protocol.submit_study_read(store, session_id, anna.user_id, anna_order[0], "5", 90, now=T0)
    with pytest.raises(UserError, match="not part of this study"):
        protocol.submit_study_read(store, session_id, anna.user_id, cases[10], "3", 20, now=T0)
    with pytest.raises(UserError, match="belongs to another reader"):
        protocol.submit_study_read(store, session_id, ben.user_id, anna_order[1], "3", 20, now=T0)
    with pytest.raises(UserError, match="belongs to another reader"):
        protocol.next_study_case(store, session_id, ben.user_id, now=T0)
    with pytest.raises(UserError, match="not a reader of this study"):
        protocol.start_or_resume(store, study_id, people["cleo"].user_id, now=T0)
    practice = flow.start_session(store, anna.user_id, "all", 2, seed=0)
    with pytest.raises(UserError, match="practice quiz"):
        protocol.submit_study_read(store, practice, anna.user_id, cases[0], "3", 20, now=T0)
    with pytest.raises(UserError, match="BI-RADS"):
        protocol.submit_study_read(store, session_id, anna.user_id, anna_order[1], "7", 20, now=T0)
    with pytest.raises(UserError, match="between 0 and 100"):
        protocol.submit_study_read(store, session_id, anna.user_id, anna_order[1], "3", 120, now=T0)
    assert [(r[1], r[2]) for r in stored_reads(store)] == [(anna_order[0], "unaided")]


def test_a_trainee_lists_only_their_own_studies(lab):
    store, cases, people = lab
    first = new_study(lab, readers=("anna",))
    second = new_study(lab, readers=("anna", "ben"))
    assert [p.study_id for p in protocol.my_studies(store, people["anna"].user_id, now=T0)] == \
        [second, first]
    assert [p.study_id for p in protocol.my_studies(store, people["ben"].user_id, now=T0)] == [second]
    assert protocol.my_studies(store, people["cleo"].user_id, now=T0) == []
    with pytest.raises(UserError, match="only supervisors"):
        protocol.list_studies(store, people["anna"])
    with pytest.raises(UserError, match="only supervisors"):
        protocol.reader_progress(store, first, people["anna"])


# ---- the report ----------------------------------------------------------------------------

def reading_policy(seed: int, labels: dict[int, str]):
    """A noisy reader: BI-RADS drawn around the truth, probability from the category."""
    rng = random.Random(seed)
    categories = ("2", "3", "4A", "4B", "4C", "5")

    def choose(case_id: int) -> tuple[str, float]:
        centre = 3.2 if labels[case_id] == "malignant" else 1.8
        rank = min(5, max(0, round(rng.gauss(centre, 1.4))))
        return categories[rank], float(min(100, max(0, 18 * rank + rng.randint(-8, 8))))

    return choose


@pytest.fixture
def finished(lab):
    """A zero-washout study that anna and ben finished and cleo has not started."""
    store, _, people = lab
    labels = labels_of(store)
    study_id = new_study(lab, readers=("anna", "ben", "cleo"), washout=0, seed=3)
    for seed, name in enumerate(("anna", "ben")):
        last = read_phase(store, study_id, people[name], reading_policy(seed, labels), T0)
        read_phase(store, study_id, people[name], reading_policy(seed + 10, labels), last)
    return store, study_id, people


def direct_pairs(store, study_id: int) -> pd.DataFrame:
    """The study's reads paired per reader and case, straight from SQL."""
    with store.read() as cur:
        return cur.execute("""
            SELECT s.user_id, r.case_id, CAST(c.label = 'malignant' AS INTEGER) AS y,
                   max(r.birads) FILTER (WHERE r.mode = 'unaided') AS b0,
                   max(r.birads) FILTER (WHERE r.mode = 'aided') AS b1,
                   max(r.probability) FILTER (WHERE r.mode = 'unaided') AS p0,
                   max(r.probability) FILTER (WHERE r.mode = 'aided') AS p1,
                   max(r.ai_prob) AS ai, max(m.threshold) AS threshold
            FROM reads r JOIN quiz_sessions s USING (session_id) JOIN cases c USING (case_id)
            JOIN reader_studies st ON st.study_id = s.study_id
            JOIN models m ON m.model_id = st.model_id
            WHERE s.study_id = ? GROUP BY ALL HAVING count(*) = 2
            ORDER BY s.user_id, r.case_id""", [study_id]).df()


def assert_close(got, expected, path="") -> None:
    """Equal structures; floats equal to 1e-12 (the report sums the cases in another order)."""
    if isinstance(expected, dict):
        assert set(got) == set(expected), path
        for key in expected:
            assert_close(got[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), path
        for index, (a, b) in enumerate(zip(got, expected)):
            assert_close(a, b, f"{path}[{index}]")
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12, nan_ok=True), path
    else:
        assert got == expected, path


def test_report_numbers_equal_core_stats_on_the_same_reads(finished):
    store, study_id, people = finished
    report = study_report(store, study_id, people["sue"])
    pairs = direct_pairs(store, study_id)
    frames = report_frames(report)
    assert len(frames["reads"]) == 48
    long = pd.concat([pd.DataFrame({"reader": pairs["user_id"], "modality": mode,
                                    "case": pairs["case_id"], "truth": pairs["y"],
                                    "rating": birads_scores(pairs[column])})
                      for mode, column in (("unaided", "b0"), ("aided", "b1"))])
    multi_reader = or_analysis(long, cov="jackknife")
    for user_id, rows in [*pairs.groupby("user_id"), (None, pairs)]:
        y = rows["y"].to_numpy()
        result = report.result(user_id)
        assert result.n_cases == len(rows)
        for phase, birads, prob in (("unaided", "b0", "p0"), ("aided", "b1", "p1")):
            expected = reader_summary(y, rows[birads], rows[prob])
            got = getattr(result, phase)
            assert_close(got["birads_auc"], expected["birads_auc"])
            assert_close(got["probability_auc"], expected["probability_auc"])
            assert_close(got["metrics"], expected["metrics"])
            row = frames["summary"][(frames["summary"]["reader"] == result.reader)
                                    & (frames["summary"]["phase"] == phase)].iloc[0]
            assert row["birads_auc"] == pytest.approx(expected["birads_auc"]["auc"])
            assert row["sensitivity_low"] == pytest.approx(
                expected["metrics"]["sensitivity"]["ci_low"])
            assert row["single_point_auc"] == pytest.approx(
                (expected["metrics"]["sensitivity"]["value"]
                 + expected["metrics"]["specificity"]["value"]) / 2)
        before = (birads_scores(rows["b0"]) >= 2).astype(int)
        after = (birads_scores(rows["b1"]) >= 2).astype(int)
        ledger = change_ledger(y, before, after)
        if user_id is None:  # pooled reads: the multi-reader test replaces the pooled ones
            paired = as_paired_test(multi_reader, "aided", "unaided")
            assert_close(result.paired, paired)
            assert_close(result.ledger, {**ledger, "mcnemar": None})
        else:
            paired = {**paired_test(y, birads_scores(rows["b1"]),
                                    birads_scores(rows["b0"])).as_dict(),
                      "method": PAIRED_METHOD}
            assert_close(result.paired, paired)
            assert_close(result.ledger, ledger)
        ai = (rows["ai"] >= rows["threshold"]).astype(int).to_numpy()
        bias = automation_bias(y, before, after, ai, birads_scores(rows["b0"]),
                               birads_scores(rows["b1"]))
        assert_close(result.bias, bias)
        test_row = frames["tests"][frames["tests"]["reader"] == result.reader].iloc[0]
        assert test_row["auc_test_p"] == pytest.approx(paired["p"], nan_ok=True)
        assert test_row["auc_test_method"] == paired["method"]
        assert (test_row["mcnemar_b"], test_row["mcnemar_c"]) == \
            (ledger["mcnemar"]["b"], ledger["mcnemar"]["c"])
        assert test_row["mcnemar_p_exact"] == pytest.approx(
            math.nan if user_id is None else ledger["mcnemar"]["p_exact"], nan_ok=True)
    for key in ("f", "p", "df_den", "diff", "ci", "fixed_readers", "var_error", "cov2"):
        assert_close(report.mrmc[key], multi_reader[key], key)
    assert sorted(report.mrmc["auc"]["aided"].values()) == \
        pytest.approx(sorted(multi_reader["auc"]["aided"].values()))
    assert report.result(people["cleo"].user_id).note.startswith(
        "needs a malignant and a benign case")


def pooled_test_row(report) -> pd.Series:
    tests = next(t for t in display_tables(report) if t.key == "tests").frame
    return tests[tests["Reader"] == POOLED].iloc[0]


def test_the_multi_reader_analysis_needs_two_finished_readers(lab):
    store, _, people = lab
    labels = labels_of(store)
    study_id = new_study(lab, readers=("anna", "ben"), washout=0)
    last = read_phase(store, study_id, people["anna"], reading_policy(1, labels), T0)
    read_phase(store, study_id, people["anna"], reading_policy(2, labels), last)
    report = study_report(store, study_id, people["sue"])
    assert report.mrmc is None and "1 so far" in report.mrmc_note
    assert "mrmc" not in report_frames(report)
    pooled = report.result(None)  # no multi-reader analysis: the pooled tests stay
    assert pooled.paired["method"] == PAIRED_METHOD and pooled.ledger["mcnemar"] is not None
    assert pooled_test_row(report)["McNemar p (exact)"] == fmt_p(
        pooled.ledger["mcnemar"]["p_exact"])
    last = read_phase(store, study_id, people["ben"], reading_policy(3, labels), last)
    read_phase(store, study_id, people["ben"], reading_policy(4, labels), last)
    report = study_report(store, study_id, people["sue"])
    assert report.mrmc is not None and report.mrmc["readers"] == ["anna", "ben"]
    assert not report_frames(report)["mrmc"].empty
    row = pooled_test_row(report)  # the multi-reader p, not a pooled one
    assert row["p (AUC test)"] == fmt_p(report.mrmc["p"])
    pairs = direct_pairs(store, study_id)
    pooled_p = paired_test(pairs["y"], birads_scores(pairs["b1"]), birads_scores(pairs["b0"])).p
    assert row["p (AUC test)"] != fmt_p(pooled_p)
    assert row["AUC test"].startswith("Obuchowski-Rockette") and "2 readers" in row["AUC test"]
    assert row["McNemar p (exact)"] == "—"
    assert report.mrmc["diff_of"] == "aided - unaided"
    assert row["Difference (95% CI)"] == fmt_ci(report.mrmc["diff"], *report.mrmc["ci"])


def test_too_few_cases_read_in_both_phases_show_no_auc_and_no_paired_test(lab):
    store, _, people = lab
    labels = labels_of(store)
    study_id = new_study(lab, readers=("anna",), washout=0)
    last = read_phase(store, study_id, people["anna"], reading_policy(1, labels), T0)
    read_phase(store, study_id, people["anna"], reading_policy(2, labels), last, limit=7)
    report = study_report(store, study_id, people["sue"])
    anna = report.result(people["anna"].user_id)
    n_pos = anna.unaided["n_pos"]
    assert anna.n_cases == 7 and min(n_pos, 7 - n_pos) < 5
    assert anna.paired is None and anna.note.startswith("too few cases for AUCs")
    assert anna.ledger["n"] == 7 and anna.unaided["metrics"]["accuracy"]["n"] == 7
    summary = next(t for t in display_tables(report) if t.key == "summary").frame
    shown = summary[summary["Reader"] == "anna"]
    assert list(shown["BI-RADS AUC (95% CI)"]) == [anna.unaided["birads_auc"]["too_few"],
                                                   anna.aided["birads_auc"]["too_few"]]
    assert shown["BI-RADS AUC (95% CI)"].str.startswith("too few cases for an AUC").all()
    assert report_frames(report)["tests"].empty
    assert "too few cases for AUCs" in report_html(report)


def test_a_study_set_up_with_four_malignant_shows_too_few_cases(lab, monkeypatch):
    store, cases, people = lab
    labels = labels_of(store)
    monkeypatch.setattr(protocol, "MIN_PER_CLASS", 2)  # as studies were set up before
    study_id = new_study(lab, readers=("anna", "ben"), washout=0, cases=cases[:8])
    for seed, name in enumerate(("anna", "ben")):
        last = read_phase(store, study_id, people[name], reading_policy(seed, labels), T0)
        read_phase(store, study_id, people[name], reading_policy(seed + 10, labels), last)
    report = study_report(store, study_id, people["sue"])
    assert report.mrmc is None and "needs 5 malignant and 5 benign" in report.mrmc_note
    assert all(r.paired is None for r in report.results)
    assert report.model["auc"]["too_few"].startswith("too few cases for an AUC (4 positive")
    summary = next(t for t in display_tables(report) if t.key == "summary").frame
    readers, model = (summary[(summary["Phase"] == "model alone") == alone]
                      for alone in (False, True))
    assert len(readers) == 6  # anna, ben and their reads pooled, unaided and aided
    for column in ("BI-RADS AUC (95% CI)", "Probability AUC (95% CI)"):
        assert readers[column].str.startswith("too few cases for an AUC (4 positive").all()
    assert list(model["Probability AUC (95% CI)"]) == [report.model["auc"]["too_few"]]


def test_published_figures_stand_beside_ours_computed_the_same_way(finished):
    store, study_id, people = finished
    report = study_report(store, study_id, people["sue"])
    published = report_frames(report)["published"]
    paper = published[published["source"] == "paper"].set_index("phase")
    assert paper.loc["unaided", "single_point_auc"] == 0.597
    assert paper.loc["aided", "specificity"] == 0.959
    assert paper.loc["unaided", "n"] == 126 == PUBLISHED_READER["n"]
    ours = published[published["source"] == "this study"]
    assert np.allclose(ours["single_point_auc"], (ours["sensitivity"] + ours["specificity"]) / 2)
    shown = next(t for t in display_tables(report) if t.key == "published")
    assert "single-point" in shown.caption and "not areas under ROC curves" in shown.caption
    assert list(shown.frame["BI-RADS AUC (95% CI)"][:2]) == ["not reported"] * 2


def test_the_printable_report_is_self_contained_and_escaped(lab):
    store, cases, people = lab
    study_id = protocol.create_study(store, people["sue"], "<script>x</script> study", cases,
                                    [people["anna"].user_id], 0, now=T0)
    labels = labels_of(store)
    last = read_phase(store, study_id, people["anna"], reading_policy(5, labels), T0)
    read_phase(store, study_id, people["anna"], reading_policy(6, labels), last)
    report = study_report(store, study_id, people["sue"])
    html = report_html(report)
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<svg" in html and "@media print" in html
    auc = report.result(people["anna"].user_id).aided["birads_auc"]["auc"]
    assert f"{auc:.3f}" in html and "0.597" in html


def test_only_staff_see_the_report_and_a_reader_sees_only_their_own_result(finished):
    store, study_id, people = finished
    with pytest.raises(UserError, match="only supervisors and admins"):
        study_report(store, study_id, people["anna"])
    mine = own_result(store, study_id, people["anna"])
    assert mine.user_id == people["anna"].user_id and mine.n_cases == 12 and mine.readers == 1
    full = study_report(store, study_id, people["sue"]).result(people["anna"].user_id)
    assert mine.aided == full.aided and mine.ledger == full.ledger
    with pytest.raises(UserError, match="once you have read every case"):
        own_result(store, study_id, people["cleo"])
    progress = protocol.reader_progress(store, study_id, people["sue"], now=T0)
    assert dict(zip(progress["reader"], progress["phase"])) == \
        {"anna": "done", "ben": "done", "cleo": "unaided"}


def locked(store, user_id: int) -> set[int]:
    with store.read() as cur:
        return locked_cases(cur, user_id)


def test_the_cases_of_unfinished_studies_are_locked_for_their_reader(wide_lab):
    store, cases, people = wide_lab
    anna = people["anna"]
    first = new_study(wide_lab, readers=("anna",), washout=0, cases=cases[:10])
    new_study(wide_lab, readers=("anna", "ben"), washout=0, cases=cases[10:20])
    assert locked(store, anna.user_id) == set(cases[:20])
    assert locked(store, people["ben"].user_id) == set(cases[10:20])
    assert locked(store, people["cleo"].user_id) == set()
    last = read_phase(store, first, anna, lambda case: ("3", 30), T0)
    assert locked(store, anna.user_id) == set(cases[:20])
    read_phase(store, first, anna, lambda case: ("3", 30), last)
    assert locked(store, anna.user_id) == set(cases[10:20])


def test_practice_leaves_out_the_cases_of_an_unfinished_study(lab):
    store, cases, people = lab
    anna = people["anna"]
    study_id = new_study(lab, readers=("anna",), washout=0, cases=cases[:10])
    picked = set(selection.practice_cases(store, anna.user_id, "all", 50, seed=0))
    assert picked == set(cases) - locked(store, anna.user_id)
    assert picked.isdisjoint(cases[:10])
    assert set(selection.practice_cases(store, people["ben"].user_id, "all", 50, seed=0)
               ) == set(cases)
    last = read_phase(store, study_id, anna, lambda case: ("3", 30), T0)
    read_phase(store, study_id, anna, lambda case: ("3", 30), last)
    assert set(selection.practice_cases(store, anna.user_id, "all", 50, seed=0)) == set(cases)


def test_a_practice_set_a_study_locks_says_which_study_and_until_when(lab):
    """During the washout the test split is locked by the study: the start form's option and
    the refusal name the study and the washout's end, never "no cases"."""
    store, cases, people = lab
    anna = people["anna"]
    study_id = protocol.create_study(store, people["sue"], "Autumn *study*", cases[1:],
                                     [anna.user_id], 14.0, now=T0)
    start = utcnow()
    last = read_phase(store, study_id, anna, lambda case: ("3", 30), start)
    until = last + timedelta(days=14)
    options = {option.code: option for option in
               selection.practice_set_options(store, anna.user_id)}
    free = set(cases) - set(cases[1:])
    assert options["all"].count == len(free) and options["all"].locked == 11
    lock = (f"locked by the reader study 'Autumn *study*' during its washout (until "
            f"{until:%Y-%m-%d %H:%M} UTC) and then until you have read its cases with the AI")
    assert len(free) == 1 and options["all"].text == f"All cases (1 case; 11 more {lock})"
    with store.read() as cur:
        test_split = {c for (c,) in cur.execute(
            "SELECT case_id FROM splits WHERE split = 'test'").fetchall()}
    assert test_split <= set(cases[1:])  # every test case is in the study
    assert options["test"].count == 0 and options["test"].text == f"The test split: {lock}"
    with pytest.raises(UserError) as refused:
        flow.start_session(store, anna.user_id, "test", 5)
    assert str(refused.value) == f"the practice set 'The test split' is {lock}"
    ben = {o.code: o for o in selection.practice_set_options(store, people["ben"].user_id)}
    assert (ben["test"].count, ben["test"].locked) == (len(test_split), 0)
    read_phase(store, study_id, anna, lambda case: ("3", 30), until)
    after = {option.code: option for option in
             selection.practice_set_options(store, anna.user_id)}
    assert after["test"].locked == 0 and after["test"].count == len(test_split)
