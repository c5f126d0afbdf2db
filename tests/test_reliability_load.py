"""Load: trainees answering at once in threads of one process (as Streamlit runs sessions), and
the races a double click or a second tab makes: every read stored exactly once, no "connection
is busy", lock or conflict error. ``bench/load.py`` runs the same at full size and times it."""
from __future__ import annotations

import threading
from functools import partial

import pytest

from bench.load import MODEL_ID, build_store, problems, simulate
from core.errors import UserError
from core.quiz import flow
from core.store import Store
from tests.quiz_helpers import add_model, make_cases, make_user

TRAINEES = 8
CASES = 4


@pytest.fixture
def loaded(tmp_path):
    path, users = build_store(tmp_path, TRAINEES, CASES, size=32)
    with Store(path) as store:
        yield store, users


def test_trainees_answering_at_once_store_every_read_exactly_once(loaded):
    store, users = loaded
    report = simulate(store, users, CASES)
    assert report.errors == []
    assert report.reads == TRAINEES * CASES * 2   # unaided and aided, every case
    assert problems(store, report) == []
    with store.read() as cur:
        steps = dict(cur.execute("SELECT step, count(*) FROM quiz_steps GROUP BY step")
                     .fetchall())
        models = {m for (m,) in cur.execute("SELECT DISTINCT model_id FROM reads"
                                            " WHERE mode = 'aided'").fetchall()}
    assert steps == {"ai": TRAINEES * CASES, "next": TRAINEES * CASES}
    assert models == {MODEL_ID}


def test_the_check_sees_a_lost_and_a_doubled_read(loaded):
    """The checker itself can fail: a read removed or added behind the quiz's back is found."""
    store, users = loaded
    report = simulate(store, users[:2], CASES)
    assert problems(store, report) == []
    lost = report.runs[0]
    with store.transaction() as cur:
        cur.execute("DELETE FROM reads WHERE user_id = ? AND mode = 'aided'"
                    " AND case_id = ?", [lost.user.user_id, lost.submitted[0][0]])
        cur.execute("INSERT INTO reads (session_id, user_id, case_id, mode, birads, probability)"
                    " SELECT session_id, user_id, case_id, 'aided', '5', 99 FROM reads"
                    " WHERE user_id = ? AND mode = 'unaided' AND case_id = ?",
                    [lost.user.user_id, lost.submitted[0][0]])
    found = problems(store, report)
    assert any("missing" in line for line in found) and any("too many" in line for line in found)


def race(*calls) -> list[object]:
    """Run the ``calls`` in threads released together; each outcome is what the call returned
    or the exception it raised."""
    outcomes: list[object] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def one(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = calls[index]()
        except Exception as error:  # collected: the test asserts on each
            outcomes[index] = error

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_a_double_click_or_second_tab_stores_one_read_per_step(store):
    case_ids = make_cases(store, n=6, size=32)
    add_model(store, "resnet50-race", case_ids, heatmaps=False)
    user = make_user(store, "racer")
    session = flow.start_session(store, user.user_id, "all", 6, seed=1)
    for _ in range(6):
        case_id = flow.state(store, session, user.user_id).case_id
        steps = [(flow.submit_unaided, (case_id, "3", 20)),
                 (flow.submit_aided, (case_id, "4A", 60)),
                 (flow.advance, (case_id,))]
        for action, args in steps:
            outcomes = race(*[partial(action, store, session, user.user_id, *args)] * 3)
            refused = [o for o in outcomes if isinstance(o, Exception)]
            assert len(refused) == 2, outcomes
            assert all(isinstance(error, UserError) for error in refused), refused
    with store.read() as cur:
        counts = cur.execute("SELECT mode, count(*), count(DISTINCT case_id) FROM reads"
                             " GROUP BY mode ORDER BY mode").fetchall()
        steps = cur.execute("SELECT step, count(*) FROM quiz_steps GROUP BY step ORDER BY step"
                            ).fetchall()
    assert counts == [("aided", 6, 6), ("unaided", 6, 6)]
    assert steps == [("ai", 6), ("next", 6)]
    assert isinstance(flow.state(store, session, user.user_id), flow.SummaryView)


def test_an_end_racing_a_submit_keeps_an_accepted_read_and_ends(store):
    """"End the session now" in one tab while the other submits: the read is stored exactly
    when the submit was accepted, and the session ends either way."""
    make_cases(store, n=4, size=32)
    user = make_user(store, "ender")
    for attempt in range(6):
        session = flow.start_session(store, user.user_id, "all", 4, seed=attempt)
        case_id = flow.state(store, session, user.user_id).case_id
        submitted, ended = race(
            partial(flow.submit_unaided, store, session, user.user_id, case_id, "3", 10),
            partial(flow.end_session, store, session, user.user_id))
        with store.read() as cur:
            stored = cur.execute("SELECT count(*) FROM reads WHERE session_id = ?",
                                 [session]).fetchone()[0]
        assert isinstance(ended, flow.SummaryView), ended
        assert isinstance(submitted, (flow.TruthView, flow.SummaryView, UserError)), submitted
        assert stored == (0 if isinstance(submitted, UserError) else 1)
        assert isinstance(flow.state(store, session, user.user_id), flow.SummaryView)
