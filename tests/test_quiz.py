"""The quiz state machine: transitions, refusals, reloads, the model shown, the summary."""
from __future__ import annotations

import dataclasses
import json
import math
import re
import threading

import pytest

from core import shown_model
from core.errors import UserError
from core.lexicon import BIRADS_CATEGORIES, DESCRIPTORS, calls_malignant
from core.quiz import flow, scoring, selection
from core.reads import AIOutput, Answer
from core.stats.metrics import threshold_metrics
from core.stats.readers import birads_scores, change_ledger
from core.stats.roc import TooFewCases, auc_ci, auc_text
from core.store import Store
from tests.quiz_helpers import add_model, labels_of, make_cases, make_user

TRUTH_FIELDS = {"label", "histology", "birads_ref", "descriptors", "mask_path", "verdicts"}


@pytest.fixture
def setup(store):
    cases = make_cases(store, n=8)
    trainee = make_user(store, "trainee1")
    add_model(store, "resnet50-test", cases)
    return store, cases, trainee


def right_answer(label: str) -> str:
    return "4C" if label == "malignant" else "2"


def wrong_answer(label: str) -> str:
    return "3" if label == "malignant" else "4B"


def reads_of(store, session_id):
    with store.read() as cur:
        return cur.execute("SELECT case_id, mode, birads, probability, seconds, model_id, ai_prob"
                           " FROM reads WHERE session_id = ? ORDER BY read_id",
                           [session_id]).fetchall()


def test_views_before_the_truth_cannot_hold_it():
    for view in (flow.PresentView, flow.AIView):
        assert not TRUTH_FIELDS & {f.name for f in dataclasses.fields(view)}
    assert "ai" not in {f.name for f in dataclasses.fields(flow.PresentView)}
    assert TRUTH_FIELDS <= {f.name for f in dataclasses.fields(flow.TruthView)}


def test_a_case_goes_present_ai_truth_then_the_next(setup):
    store, cases, trainee = setup
    labels = labels_of(store)
    session = flow.start_session(store, trainee.user_id, "all", 3, seed=1)
    view = flow.state(store, session, trainee.user_id)
    assert isinstance(view, flow.PresentView) and (view.position, view.total) == (1, 3)
    first = view.case_id

    view = flow.submit_unaided(store, session, trainee.user_id, first, "3", 30,
                               {"shape": "oval"}, seconds=12.5)
    assert isinstance(view, flow.AIView) and view.case_id == first
    assert view.unaided == Answer("3", 30.0, {"shape": "oval"}, 12.5)
    assert view.ai.model_id == "resnet50-test" and view.ai.probability in (0.2, 0.8)

    view = flow.submit_aided(store, session, trainee.user_id, first, "4B", 60, seconds=4)
    assert isinstance(view, flow.TruthView)
    assert view.label == labels[first] and view.histology and view.mask_path
    assert view.aided.birads == "4B" and view.ai.model_id == "resnet50-test"
    assert any(labels[first] in line for line in view.verdicts)
    stored = reads_of(store, session)
    assert [(r[0], r[1], r[2], r[3]) for r in stored] == [(first, "unaided", "3", 30.0),
                                                          (first, "aided", "4B", 60.0)]
    assert stored[1][5:] == ("resnet50-test", view.ai.probability)

    view = flow.advance(store, session, trainee.user_id, first)
    assert isinstance(view, flow.PresentView) and view.position == 2 and view.case_id != first


def test_the_aided_read_is_stored_even_when_unchanged(setup):
    store, _, trainee = setup
    session = flow.start_session(store, trainee.user_id, "all", 1, seed=2)
    case = flow.state(store, session, trainee.user_id).case_id
    flow.submit_unaided(store, session, trainee.user_id, case, "4A", 40)
    view = flow.submit_aided(store, session, trainee.user_id, case, "4A", 40)
    assert view.aided == Answer("4A", 40.0)
    assert "You kept your first read after the AI." in view.verdicts
    assert [r[1] for r in reads_of(store, session)] == ["unaided", "aided"]


def test_the_last_case_leads_to_the_summary(setup):
    store, _, trainee = setup
    session = flow.start_session(store, trainee.user_id, "all", 2, seed=3)
    for _ in range(2):
        case = flow.state(store, session, trainee.user_id).case_id
        flow.submit_unaided(store, session, trainee.user_id, case, "3", 20)
        flow.submit_aided(store, session, trainee.user_id, case, "3", 20)
        view = flow.advance(store, session, trainee.user_id, case)
    assert view == flow.SummaryView(session, 2)
    assert flow.unfinished_session(store, trainee.user_id) is None


@pytest.mark.parametrize("birads, probability, descriptors, seconds, message", [
    ("1", 50, None, None, "not a category"),
    ("6", 50, None, None, "not a category"),
    ("4D", 50, None, None, "not a category"),
    (None, 50, None, None, "choose a BI-RADS category"),
    ("", 50, None, None, "choose a BI-RADS category"),
    ("3", -1, None, None, "between 0 and 100"),
    ("3", 100.5, None, None, "between 0 and 100"),
    ("3", float("nan"), None, None, "between 0 and 100"),
    ("3", "fifty", None, None, "must be a number"),
    ("3", None, None, None, "must be a number"),
    ("3", 50, {"margin": "wavy"}, None, "not a margin"),
    ("3", 50, {"colour": "red"}, None, "unknown lexicon descriptor"),
    ("3", 50, None, -2, "non-negative"),
])
def test_a_wrong_answer_form_is_refused_and_nothing_stored(setup, birads, probability,
                                                           descriptors, seconds, message):
    store, _, trainee = setup
    session = flow.start_session(store, trainee.user_id, "all", 2, seed=4)
    case = flow.state(store, session, trainee.user_id).case_id
    with pytest.raises(UserError, match=message):
        flow.submit_unaided(store, session, trainee.user_id, case, birads, probability,
                            descriptors, seconds)
    assert reads_of(store, session) == []
    assert isinstance(flow.state(store, session, trainee.user_id), flow.PresentView)


def test_lower_case_birads_and_empty_descriptors_are_accepted(setup):
    store, _, trainee = setup
    session = flow.start_session(store, trainee.user_id, "all", 1, seed=5)
    case = flow.state(store, session, trainee.user_id).case_id
    view = flow.submit_unaided(store, session, trainee.user_id, case, "4a", 0,
                               {"shape": None, "margin": "angular"})
    assert view.unaided == Answer("4A", 0.0, {"margin": "angular"})


def test_the_unaided_read_cannot_be_skipped(setup):
    store, _, trainee = setup
    session = flow.start_session(store, trainee.user_id, "all", 2, seed=6)
    case = flow.state(store, session, trainee.user_id).case_id
    with pytest.raises(UserError, match="not at the AI step"):
        flow.submit_aided(store, session, trainee.user_id, case, "3", 10)
    with pytest.raises(UserError, match="not at the truth step"):
        flow.advance(store, session, trainee.user_id, case)
    assert reads_of(store, session) == []


def test_a_stored_read_cannot_be_overwritten(setup):
    store, _, trainee = setup
    session = flow.start_session(store, trainee.user_id, "all", 2, seed=7)
    case = flow.state(store, session, trainee.user_id).case_id
    flow.submit_unaided(store, session, trainee.user_id, case, "3", 10)
    with pytest.raises(UserError, match="first read of this case is already stored"):
        flow.submit_unaided(store, session, trainee.user_id, case, "5", 99)
    flow.submit_aided(store, session, trainee.user_id, case, "4A", 45)
    with pytest.raises(UserError, match="after the AI is already stored"):
        flow.submit_aided(store, session, trainee.user_id, case, "5", 99)
    assert [(r[1], r[2], r[3]) for r in reads_of(store, session)] == [
        ("unaided", "3", 10.0), ("aided", "4A", 45.0)]


def test_the_back_button_cannot_replay_a_finished_case(setup):
    store, _, trainee = setup
    session = flow.start_session(store, trainee.user_id, "all", 3, seed=8)
    case = flow.state(store, session, trainee.user_id).case_id
    flow.submit_unaided(store, session, trainee.user_id, case, "3", 10)
    flow.submit_aided(store, session, trainee.user_id, case, "3", 10)
    flow.advance(store, session, trainee.user_id, case)
    for action in (lambda: flow.submit_aided(store, session, trainee.user_id, case, "5", 90),
                   lambda: flow.advance(store, session, trainee.user_id, case),
                   lambda: flow.submit_unaided(store, session, trainee.user_id, case, "5", 90)):
        with pytest.raises(UserError):
            action()
    view = flow.state(store, session, trainee.user_id)
    assert isinstance(view, flow.PresentView) and view.position == 2


def test_a_case_outside_the_session_is_refused(setup):
    store, cases, trainee = setup
    session = flow.start_session(store, trainee.user_id, "all", 2, seed=9)
    with store.read() as cur:
        chosen = json.loads(cur.execute("SELECT case_ids FROM quiz_sessions WHERE session_id = ?",
                                        [session]).fetchone()[0])
    outside = next(c for c in cases if c not in chosen)
    with pytest.raises(UserError, match="not part of this session"):
        flow.submit_unaided(store, session, trainee.user_id, outside, "3", 10)


def test_a_reload_recomputes_the_step_from_the_store(setup, tmp_path):
    store, _, trainee = setup
    session = flow.start_session(store, trainee.user_id, "all", 2, seed=10)
    case = flow.state(store, session, trainee.user_id).case_id
    flow.submit_unaided(store, session, trainee.user_id, case, "4B", 70)
    path = store.path
    store.close()
    with Store(path) as reopened:
        assert flow.unfinished_session(reopened, trainee.user_id) == session
        view = flow.state(reopened, session, trainee.user_id)
        assert isinstance(view, flow.AIView) and view.case_id == case
        assert view.unaided.birads == "4B"


def test_another_users_session_is_refused(setup):
    store, _, trainee = setup
    other = make_user(store, "trainee2")
    session = flow.start_session(store, trainee.user_id, "all", 2, seed=11)
    case = flow.state(store, session, trainee.user_id).case_id
    with pytest.raises(UserError, match="belongs to another user"):
        flow.state(store, session, other.user_id)
    with pytest.raises(UserError, match="belongs to another user"):
        flow.submit_unaided(store, session, other.user_id, case, "3", 10)
    with pytest.raises(UserError, match="belongs to another user"):
        scoring.session_summary(store, session, other.user_id)
    assert reads_of(store, session) == []


def test_two_tabs_submitting_at_once_store_one_read(setup):
    store, _, trainee = setup
    session = flow.start_session(store, trainee.user_id, "all", 2, seed=12)
    case = flow.state(store, session, trainee.user_id).case_id
    outcomes: list[str] = []

    def submit(category: str) -> None:
        try:
            flow.submit_unaided(store, session, trainee.user_id, case, category, 50)
            outcomes.append("stored")
        except UserError:
            outcomes.append("refused")

    threads = [threading.Thread(target=submit, args=(c,)) for c in ("3", "5")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "stored"]
    assert len(reads_of(store, session)) == 1


def test_no_model_goes_straight_to_the_truth_and_stores_no_aided_read(store):
    make_cases(store, n=4)
    trainee = make_user(store, "trainee1")
    session = flow.start_session(store, trainee.user_id, "all", 2, seed=13)
    case = flow.state(store, session, trainee.user_id).case_id
    view = flow.submit_unaided(store, session, trainee.user_id, case, "3", 10, seconds=3)
    assert isinstance(view, flow.TruthView)
    assert view.ai is None and view.aided is None
    assert view.no_ai_reason == "no model is trained yet"
    assert "No AI was shown: no model is trained yet." in view.verdicts
    with pytest.raises(UserError):
        flow.submit_aided(store, session, trainee.user_id, case, "3", 10)
    assert [r[1] for r in reads_of(store, session)] == ["unaided"]
    summary = scoring.session_summary(store, session, trainee.user_id)
    assert summary.aided is None and summary.no_ai == 1
    assert summary.no_ai_reasons == ("no model is trained yet",)


def test_a_model_trained_during_the_session_is_shown_from_then_on(store):
    cases = make_cases(store, n=4)
    trainee = make_user(store, "trainee1")
    session = flow.start_session(store, trainee.user_id, "all", 2, seed=14)
    add_model(store, "late-model", cases)
    case = flow.state(store, session, trainee.user_id).case_id
    view = flow.submit_unaided(store, session, trainee.user_id, case, "3", 10)
    assert isinstance(view, flow.AIView) and view.ai.model_id == "late-model"


def test_the_default_model_is_the_best_cross_validated(store):
    cases = make_cases(store, n=4)
    assert shown_model.quiz_model(store) == shown_model.ModelChoice(None, "no model is trained yet")
    add_model(store, "vgg16-a", cases, cv_auc=0.81, heatmaps=False)
    add_model(store, "resnet50-a", cases, cv_auc=0.93, heatmaps=False)
    add_model(store, "alexnet-a", cases, cv_auc=0.77, heatmaps=False)
    assert shown_model.quiz_model(store).model_id == "resnet50-a"


def test_the_supervisor_picks_the_model_and_a_trainee_cannot(store):
    cases = make_cases(store, n=4)
    add_model(store, "vgg16-a", cases, cv_auc=0.81, heatmaps=False)
    add_model(store, "resnet50-a", cases, cv_auc=0.93, heatmaps=False)
    supervisor = make_user(store, "super", role="supervisor")
    trainee = make_user(store, "trainee1")
    with pytest.raises(UserError, match="only a supervisor"):
        shown_model.set_quiz_model(store, trainee, "vgg16-a")
    with pytest.raises(UserError, match="no trained model"):
        shown_model.set_quiz_model(store, supervisor, "nope")
    shown_model.set_quiz_model(store, supervisor, "vgg16-a")
    assert shown_model.quiz_model(store).model_id == "vgg16-a"
    session = flow.start_session(store, trainee.user_id, "all", 1, seed=15)
    case = flow.state(store, session, trainee.user_id).case_id
    assert flow.submit_unaided(store, session, trainee.user_id, case, "3", 5).ai.model_id == \
        "vgg16-a"
    shown_model.set_quiz_model(store, supervisor, None)
    assert shown_model.quiz_model(store).model_id == "resnet50-a"


def test_a_chosen_model_that_is_missing_says_so(store):
    make_cases(store, n=4)
    trainee = make_user(store, "trainee1")
    with store.transaction() as cur:
        cur.execute("INSERT INTO settings VALUES ('quiz_model', ?)", [json.dumps("gone-model")])
    session = flow.start_session(store, trainee.user_id, "all", 1, seed=16)
    case = flow.state(store, session, trainee.user_id).case_id
    view = flow.submit_unaided(store, session, trainee.user_id, case, "3", 5)
    assert isinstance(view, flow.TruthView) and "gone-model" in view.no_ai_reason


def test_a_case_without_a_prediction_skips_the_ai(store):
    cases = make_cases(store, n=4)
    trainee = make_user(store, "trainee1")
    session = flow.start_session(store, trainee.user_id, "all", 4, seed=17)  # no model yet
    add_model(store, "partial", cases[:1], heatmaps=False)  # shown from the next read on
    views = []
    for _ in cases:
        case = flow.state(store, session, trainee.user_id).case_id
        view = flow.submit_unaided(store, session, trainee.user_id, case, "3", 5)
        views.append((case, type(view).__name__))
        if isinstance(view, flow.AIView):
            flow.submit_aided(store, session, trainee.user_id, case, "3", 5)
        flow.advance(store, session, trainee.user_id, case)
    assert dict(views) == {c: ("AIView" if c == cases[0] else "TruthView") for c in cases}


def test_practice_sets_select_their_cases(setup):
    store, cases, trainee = setup
    with store.read() as cur:
        test_split = {c for (c,) in cur.execute(
            "SELECT case_id FROM splits WHERE split = 'test'").fetchall()}
    picked = selection.practice_cases(store, trainee.user_id, "test", 50, seed=0)
    assert set(picked) == test_split
    assert sorted(selection.practice_cases(store, trainee.user_id, "all", 50)) == sorted(cases)
    assert len(selection.practice_cases(store, trainee.user_id, "all", 3)) == 3
    options = {option.code: option.count for option in
               selection.practice_set_options(store, trainee.user_id)}
    assert options["all"] == 8 and options["test"] == len(test_split)
    assert "missed" not in options


def test_no_practice_set_is_named_by_what_its_cases_are(setup):
    """A set "Reference BI-RADS 4C" or "margin: spiculated" gave the answer before the read:
    every set holds both labels and no label names a category or a descriptor's value."""
    store, _, trainee = setup
    options = selection.practice_set_options(store, trainee.user_id)
    codes = {option.code for option in options}
    # echo_pattern is hypoechoic in every case: nothing to balance
    assert codes == {"all", "test", "balanced:birads", "balanced:shape", "balanced:orientation",
                     "balanced:margin", "balanced:posterior", "balanced:calcifications"}
    values = {value for values in DESCRIPTORS.values() for value in values}
    categories = set(BIRADS_CATEGORIES) | {"1", "6"}
    labels = labels_of(store)
    for option in options:
        words = set(re.findall(r"[\w-]+", option.label.lower()))
        assert not words & {v.lower() for v in categories | values}, option.label
        assert not words & {"benign", "malignant"}, option.label
        picked = selection.practice_cases(store, trainee.user_id, option.code, 50, seed=0)
        assert {labels[c] for c in picked} == {"benign", "malignant"}, option.code


@pytest.mark.parametrize("code", ["balanced:birads", "balanced:margin"])
def test_a_balanced_set_takes_each_kind_in_turn(setup, code):
    """4 of 8 cases, 4 of each kind: a balanced draw is 2 and 2 every time (a plain random
    draw is 3-1 or worse in 49 % of draws)."""
    store, _, trainee = setup
    labels = labels_of(store)
    for seed in range(12):
        picked = selection.practice_cases(store, trainee.user_id, code, 4, seed=seed)
        assert sorted(labels[c] for c in picked) == ["benign"] * 2 + ["malignant"] * 2


def test_a_set_with_nothing_to_draw_says_so(setup):
    store, _, trainee = setup
    with store.transaction() as cur:
        cur.execute("UPDATE splits SET split = 'train'")
    with pytest.raises(UserError, match="no cases in the practice set 'The test split'"):
        flow.start_session(store, trainee.user_id, "test", 5)
    assert "test" not in {option.code for option in
                          selection.practice_set_options(store, trainee.user_id)}


def test_normal_and_excluded_cases_are_never_quizzed(setup):
    store, cases, trainee = setup
    with store.transaction() as cur:
        cur.execute("UPDATE splits SET split = 'excluded' WHERE case_id = ?", [cases[0]])
    assert cases[0] not in selection.practice_cases(store, trainee.user_id, "all", 50)


@pytest.mark.parametrize("practice_set, message", [
    ("everything", "unknown practice set"), ("birads:4C", "unknown practice set"),
    ("descriptor:margin=spiculated", "unknown practice set"),
    ("balanced:size", "unknown practice set"), ("missed", "no missed cases"),
])
def test_unknown_or_empty_practice_sets_are_refused(setup, practice_set, message):
    store, _, trainee = setup
    with pytest.raises(UserError, match=message):
        flow.start_session(store, trainee.user_id, practice_set, 5)


@pytest.mark.parametrize("length", [0, -3, 201, 2.5, "10", True])
def test_a_bad_session_length_is_refused(setup, length):
    store, _, trainee = setup
    with pytest.raises(UserError, match="session length"):
        flow.start_session(store, trainee.user_id, "all", length)


def play(store, user_id, practice_set, length, answer_for, seed=0) -> list[int]:
    """Start a session and read every case with ``answer_for(case_id)``; returns its cases."""
    session = flow.start_session(store, user_id, practice_set, length, seed=seed)
    shown = []
    while not isinstance(view := flow.state(store, session, user_id), flow.SummaryView):
        if isinstance(view, flow.PresentView):
            shown.append(view.case_id)
            flow.submit_unaided(store, session, user_id, view.case_id,
                                answer_for(view.case_id), 50)
        elif isinstance(view, flow.AIView):
            flow.submit_aided(store, session, user_id, view.case_id, view.unaided.birads, 50)
        else:
            flow.advance(store, session, user_id, view.case_id)
    return shown


def test_a_missed_case_comes_back_after_1_then_3_then_7_sessions(store):
    make_cases(store, n=40)
    labels = labels_of(store)
    trainee = make_user(store, "trainee1")
    user = trainee.user_id

    def right(case_id: int) -> str:
        return right_answer(labels[case_id])

    missed = play(store, user, "all", 1, lambda c: wrong_answer(labels[c]))[0]
    # Due in the very next session (first, before the unseen cases), whatever the seed.
    for seed in range(5):
        assert selection.practice_cases(store, user, "all", 1, seed=seed) == [missed]
    assert selection.practice_cases(store, user, "missed", 10) == [missed]
    assert play(store, user, "all", 1, right, seed=3) == [missed]
    # Read right once: due again 3 sessions after that read, not in the two between.
    for gap in range(2):
        assert selection.practice_cases(store, user, "all", 1) != [missed]
        play(store, user, "all", 1, right, seed=10 + gap)
    assert selection.practice_cases(store, user, "all", 1) == [missed]
    assert play(store, user, "all", 1, right) == [missed]
    # Right twice: due 7 sessions later; right three times in a row: retired.
    for gap in range(6):
        assert selection.practice_cases(store, user, "all", 1) != [missed]
        play(store, user, "all", 1, right, seed=20 + gap)
    assert selection.practice_cases(store, user, "all", 1) == [missed]
    assert play(store, user, "missed", 5, right) == [missed]
    with pytest.raises(UserError, match="no missed cases"):
        flow.start_session(store, user, "missed", 5)


def test_a_new_miss_of_a_reviewed_case_starts_over(store):
    make_cases(store, n=20)
    labels = labels_of(store)
    trainee = make_user(store, "trainee1")
    shown = play(store, trainee.user_id, "all", 1, lambda c: wrong_answer(labels[c]))
    missed = shown[0]
    play(store, trainee.user_id, "missed", 5, lambda c: right_answer(labels[c]))
    play(store, trainee.user_id, "missed", 5, lambda c: wrong_answer(labels[c]))
    assert selection.practice_cases(store, trainee.user_id, "all", 1) == [missed]


def test_the_summary_matches_the_statistics_functions(store):
    cases = make_cases(store, n=10)  # 5 malignant, 5 benign: the fewest that show an AUC
    trainee = make_user(store, "trainee1")
    add_model(store, "resnet50-test", cases)
    labels = labels_of(store)
    session = flow.start_session(store, trainee.user_id, "all", 10, seed=18)
    plan = ["2", "3", "4A", "4B", "4C", "5", "3", "4A", "2", "5"]
    revised = ["2", "4A", "4A", "3", "4C", "5", "4B", "2", "3", "4C"]
    order = []
    for step, (first, second) in enumerate(zip(plan, revised)):
        case = flow.state(store, session, trainee.user_id).case_id
        order.append(case)
        flow.submit_unaided(store, session, trainee.user_id, case, first, 10 * step, seconds=step)
        flow.submit_aided(store, session, trainee.user_id, case, second, 10 * step, seconds=1)
        flow.advance(store, session, trainee.user_id, case)
    summary = scoring.session_summary(store, session, trainee.user_id)
    truth = [int(labels[c] == "malignant") for c in order]
    for phase, answers in ((summary.unaided, plan), (summary.aided, revised)):
        called = [int(calls_malignant(b)) for b in answers]
        expected = threshold_metrics(truth, called)
        assert phase.n == 10 and phase.correct == sum(c == t for c, t in zip(called, truth))
        assert phase.sensitivity == expected["sensitivity"]
        assert phase.specificity == expected["specificity"]
        assert phase.birads_auc == auc_ci(truth, birads_scores(answers), method="logit")
    ledger = change_ledger(truth, [int(calls_malignant(b)) for b in plan],
                           [int(calls_malignant(b)) for b in revised])
    assert (summary.helpful, summary.harmful) == (ledger["helpful"], ledger["harmful"])
    assert summary.helpful + summary.harmful > 0
    assert summary.unaided.median_seconds == 4.5 and summary.aided.median_seconds == 1
    assert summary.median_seconds_per_case == 5.5 and summary.no_ai == 0


def test_the_summary_of_a_session_without_reads_is_none(setup):
    store, _, trainee = setup
    session = flow.start_session(store, trainee.user_id, "all", 2)
    assert scoring.session_summary(store, session, trainee.user_id) is None


def test_the_summary_shows_too_few_cases_below_five_of_a_class(setup):
    store, _, trainee = setup
    session = flow.start_session(store, trainee.user_id, "all", 1)
    case = flow.state(store, session, trainee.user_id).case_id
    flow.submit_unaided(store, session, trainee.user_id, case, "3", 10)
    summary = scoring.session_summary(store, session, trainee.user_id)
    assert isinstance(summary.unaided.birads_auc, TooFewCases) and summary.unaided.n == 1
    assert math.isnan(summary.unaided.sensitivity.value) or \
        math.isnan(summary.unaided.specificity.value)


def test_a_session_of_four_malignant_cases_shows_too_few_cases(setup):
    store, _, trainee = setup
    labels = labels_of(store)
    shown = play(store, trainee.user_id, "all", 8, lambda case: right_answer(labels[case]))
    with store.read() as cur:
        session = cur.execute("SELECT max(session_id) FROM quiz_sessions").fetchone()[0]
    summary = scoring.session_summary(store, session, trainee.user_id)
    assert len(shown) == 8 and summary.unaided.correct == 8
    assert summary.unaided.birads_auc == TooFewCases(4, 4)  # every case right, yet no AUC
    assert summary.unaided.accuracy.ci_low < 1 == summary.unaided.accuracy.ci_high
    assert auc_text(summary.aided.birads_auc) == "too few cases (4 + 4)"


def test_ending_a_session_early_keeps_its_reads_and_stops_it(setup):
    store, _, trainee = setup
    session = flow.start_session(store, trainee.user_id, "all", 4, seed=19)
    case = flow.state(store, session, trainee.user_id).case_id
    flow.submit_unaided(store, session, trainee.user_id, case, "3", 10)
    flow.submit_aided(store, session, trainee.user_id, case, "3", 10)
    flow.advance(store, session, trainee.user_id, case)
    following = flow.state(store, session, trainee.user_id).case_id
    assert flow.unfinished_session(store, trainee.user_id) == session
    assert flow.end_session(store, session, trainee.user_id) == flow.SummaryView(session, 4)
    assert flow.unfinished_session(store, trainee.user_id) is None
    with pytest.raises(UserError):
        flow.submit_unaided(store, session, trainee.user_id, following, "3", 10)
    with pytest.raises(UserError, match="already over"):
        flow.end_session(store, session, trainee.user_id)
    assert scoring.session_summary(store, session, trainee.user_id).cases == 1


def test_the_saved_choice_and_the_model_list(store):
    cases = make_cases(store, n=4)
    add_model(store, "vgg16-a", cases, cv_auc=0.81, heatmaps=False)
    add_model(store, "resnet50-a", cases, cv_auc=0.93, heatmaps=False)
    supervisor = make_user(store, "super", role="supervisor")
    assert shown_model.saved_quiz_model(store) is None
    shown_model.set_quiz_model(store, supervisor, "vgg16-a")
    assert shown_model.saved_quiz_model(store) == "vgg16-a"
    assert [m[0] for m in shown_model.trained_models(store)] == ["resnet50-a", "vgg16-a"]


def test_a_reader_study_session_is_not_a_practice_quiz(setup):
    store, cases, trainee = setup
    with store.transaction() as cur:
        session = cur.execute(
            "INSERT INTO quiz_sessions (user_id, kind, case_ids) VALUES (?, 'study_unaided', ?)"
            " RETURNING session_id", [trainee.user_id, json.dumps(cases[:2])]).fetchone()[0]
    with pytest.raises(UserError, match="reader study"):
        flow.state(store, session, trainee.user_id)
    with pytest.raises(UserError, match="reader study"):
        flow.submit_unaided(store, session, trainee.user_id, cases[0], "3", 10)
    assert flow.unfinished_session(store, trainee.user_id) is None


@pytest.mark.parametrize("probability, threshold, shown", [
    (0.8, 0.5, ("80%", "50%")),
    (0.5549, 0.5551, ("55%", "56%")),            # whole percents already differ
    (0.558, 0.556, ("55.8%", "55.6%")),          # "56% (cut-off 56%)" would hide the call
    (0.5551, 0.5554, ("55.51%", "55.54%")),
    (0.56, 0.56, ("56%", "56%")),                # at the cut-off: malignant, and reads so
    (0.5600001, 0.56, ("just above 56.00%", "56.00%")),
    (0.5599999, 0.56, ("just below 56.00%", "56.00%")),
])
def test_the_ai_figures_agree_with_its_call(probability, threshold, shown):
    ai = AIOutput("m", probability, threshold)
    assert ai.figures == shown
    number = re.compile(r"[\d.]+")
    if "just" not in shown[0] and shown[0] != shown[1]:  # the call follows the shown figures
        assert (float(number.search(shown[0]).group()) >= float(shown[1][:-1])) == ai.malignant


def test_the_truths_sentence_on_the_ai_uses_figures_that_agree_with_its_call():
    lines = flow.verdicts("malignant", None, Answer("4C", 80.0), None,
                          AIOutput("m", 0.558, 0.561), None)
    assert "The AI gave 55.8% (its cut-off is 56.1%) and called it benign: wrong." in lines
