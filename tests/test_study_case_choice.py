"""A study's cases guarded against what its readers have seen: the set-up warns per reader how
many cases they read in practice (truth shown) and which earlier study shares them, offers to
leave the practised cases out, and can read a stratified, seeded subset."""
from __future__ import annotations

from collections import Counter

import pytest

from core.errors import UserError
from core.store import Store
from core.studies import protocol
from tests.app_pages import app_as, click
from tests.quiz_helpers import add_model, add_practice_reads, labels_of, make_cases, make_user


@pytest.fixture
def lab(app_db):
    """60 cases (20 in the test split, 10 of each label), a model, two trainees, a supervisor."""
    with Store(app_db) as store:
        cases = make_cases(store, n=60)
        add_model(store, "resnet50-study", cases, heatmaps=False)
        users = {name: make_user(store, name, role, display_name=name.capitalize())
                 for name, role in (("anna", "trainee"), ("ben", "trainee"),
                                    ("sue", "supervisor"))}
        test_split = protocol.study_case_set(store, "quizset")
        add_practice_reads(store, users["anna"].user_id, test_split[:3], ["3", "4A", "2"])
    return app_db, users, test_split


def test_a_subset_is_stratified_seeded_and_bounded(lab):
    path, _, test_split = lab
    with Store(path) as store:
        labels = labels_of(store)
        subset = protocol.study_subset(store, test_split, 10, seed=1)
        assert len(subset) == 10 and set(subset) <= set(test_split)
        assert Counter(labels[c] for c in subset) == {"benign": 5, "malignant": 5}
        assert protocol.study_subset(store, test_split, 10, seed=1) == subset
        assert protocol.study_subset(store, test_split, 10, seed=2) != subset
        assert protocol.study_subset(store, test_split, 20) == sorted(test_split)
        for size in (2 * protocol.MIN_PER_CLASS - 1, 21):
            with pytest.raises(UserError, match=f"between {2 * protocol.MIN_PER_CLASS} and 20"):
                protocol.study_subset(store, test_split, size)


def test_histories_name_practised_cases_and_earlier_studies(lab):
    path, users, test_split = lab
    anna, ben = users["anna"].user_id, users["ben"].user_id
    with Store(path) as store:
        [history] = protocol.reader_histories(store, [anna, ben], test_split)
        assert (history.user_id, history.practised) == (anna, tuple(test_split[:3]))
        left = protocol.choose_cases(store, "quizset", [anna, ben], leave_out_practised=True)
        assert left == test_split[3:]
        assert protocol.choose_cases(store, "quizset", [ben], leave_out_practised=True) \
            == test_split
        protocol.create_study(store, users["sue"], "Pilot", test_split[:12], [ben], 0)
        histories = {h.user_id: h for h in protocol.reader_histories(store, [anna, ben],
                                                                     test_split)}
        assert histories[ben].studies == (("Pilot", 12),) and not histories[ben].practised
        assert histories[anna].studies == ()


def test_the_set_up_warns_and_leaves_the_practised_cases_out(lab):
    path, users, test_split = lab
    at = app_as(users["sue"], "pages/studies.py")
    at.radio(key="studies_view").set_value("Set up a study").run()
    at.multiselect(key="study_readers").set_value([users["anna"].user_id,
                                                  users["ben"].user_id]).run()
    warnings = [w.value for w in at.warning]
    assert warnings == ["Anna has read 3 of these 20 cases in practice, where the truth is "
                        "shown after each answer."]
    at.checkbox(key="study_leave_out").check().run()
    at.checkbox(key="study_use_subset").check().run()
    at.number_input(key="study_subset_size").set_value(12).run()
    at.text_input(key="study_name").input("Pilot")
    at.number_input(key="study_washout").set_value(0.0)
    click(at, "Set up the study")
    assert not at.error, [e.value for e in at.error]
    with Store(path) as store:
        [study] = protocol.list_studies(store, users["sue"])
        labels = labels_of(store)
    assert len(study.case_ids) == 12 and not set(study.case_ids) & set(test_split[:3])
    assert Counter(labels[c] for c in study.case_ids) == {"benign": 6, "malignant": 6}

    again = app_as(users["sue"], "pages/studies.py")
    again.radio(key="studies_view").set_value("Set up a study").run()
    again.multiselect(key="study_readers").set_value([users["ben"].user_id]).run()
    assert [w.value for w in again.warning] == [
        "Ben was a reader of the study Pilot, which shares 12 of these cases."]
