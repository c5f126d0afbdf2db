"""Reader studies: the paper's design made repeatable.

A supervisor fixes a case set (default: a dataset's test split), the readers (active
trainees), a washout in days and the model shown in the aided phase. Each reader reads every
case unaided in their own random order; the aided session opens only after the washout,
counted from the reader's LAST unaided read, in a new random order, with the model's
probability and heatmap. No truth and no feedback reach a reader during the study.

The phase a reader is in, and the next case, are derived from the reads stored in the reader's
study sessions (``quiz_sessions`` of kind ``study_unaided`` / ``study_aided``), never from the
page's memory. Every read is checked inside its write transaction: the reader's own session,
the case that is next in the reader's order, one read per case and mode, the washout passed.
Times are naive UTC from an injectable ``now`` (reads store it as ``created_at``), so tests can
move the clock.
"""
from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pandas as pd

from core.auth import STAFF_ROLES, User, utcnow
from core.errors import UserError
from core.reads import AIOutput, ai_output, ai_outputs, insert_read, validate_answer
from core.shown_model import quiz_model
from core.store import Store
from core.stats.roc import MIN_PER_CLASS
from core.studies.definitions import MODES, Study

DEFAULT_WASHOUT_DAYS = 14.0
MAX_WASHOUT_DAYS = 365.0
MAX_NAME_LENGTH = 120
HEATMAP_METHOD = "gradcam"
SESSION_KIND = {"unaided": "study_unaided", "aided": "study_aided"}


@dataclass(frozen=True)
class PhaseView:
    """Where one reader stands in one study. ``phase``: unaided (reading), washout (waiting
    until ``washout_until``), aided (reading) or done. ``read`` counts the reads of the current
    phase (of the aided phase once done); ``session_id`` is the current phase's session once
    started."""

    study_id: int
    name: str
    phase: str
    read: int
    total: int
    washout_until: datetime | None
    session_id: int | None


@dataclass(frozen=True)
class StudyCase:
    """What both phases show of a case: the session, the case's image and its place."""

    session_id: int
    study_id: int
    case_id: int
    image_path: str
    position: int
    total: int


@dataclass(frozen=True)
class UnaidedCaseView(StudyCase):
    """The next case of the unaided phase: the image only, nothing of the truth or the model."""


@dataclass(frozen=True)
class AidedCaseView(StudyCase):
    """The next case of the aided phase: the image, the model's output and where its heatmap
    comes from (``ai.model_id``, ``heatmap_method``); nothing of the truth."""

    ai: AIOutput
    heatmap_method: str


@dataclass(frozen=True)
class PhaseDoneView:
    """Every case of the session's phase is read."""

    session_id: int
    study_id: int
    mode: str
    total: int


StudyView = UnaidedCaseView | AidedCaseView | PhaseDoneView


def _require_staff(user: User, what: str) -> None:
    if user.role not in STAFF_ROLES:
        raise UserError(f"only supervisors and admins can {what}")


# ---- setting up ----------------------------------------------------------------------------

def study_datasets(store: Store) -> list[tuple[str, int]]:
    """(dataset, nodules in its test split) of every dataset with a test split."""
    with store.read() as cur:
        return cur.execute(
            "SELECT c.dataset, count(*) FROM cases c JOIN splits s USING (case_id)"
            " WHERE s.split = 'test' AND c.label IN ('benign', 'malignant')"
            " GROUP BY c.dataset ORDER BY c.dataset").fetchall()


def study_case_set(store: Store, dataset: str) -> list[int]:
    """The default case set: the nodules of the dataset's test split, by case id."""
    with store.read() as cur:
        rows = cur.execute(
            "SELECT c.case_id FROM cases c JOIN splits s USING (case_id)"
            " WHERE c.dataset = ? AND s.split = 'test' AND c.label IN ('benign', 'malignant')"
            " ORDER BY c.case_id", [dataset]).fetchall()
    if not rows:
        raise UserError(f"the dataset {dataset!r} has no test split with nodules: split it "
                        "first (Administration) or choose the cases yourself")
    return [case_id for (case_id,) in rows]


def study_subset(store: Store, case_ids: list[int], size: int, seed: int = 0) -> list[int]:
    """``size`` of ``case_ids``, stratified by label (each label keeps its share, as
    scikit-learn's ``train_test_split`` rounds it), the same for the same seed; by case id."""
    from sklearn.model_selection import train_test_split

    with store.read() as cur:
        labels = dict(cur.execute("SELECT case_id, label FROM cases WHERE case_id IN"
                                  " (SELECT unnest(?))", [case_ids]).fetchall())
    ids = sorted(c for c in case_ids if c in labels)
    if not 2 * MIN_PER_CLASS <= size <= len(ids):
        raise UserError(f"a subset must have between {2 * MIN_PER_CLASS} and {len(ids)} cases "
                        f"(got {size})")
    if size == len(ids):
        return ids
    chosen, _ = train_test_split(ids, train_size=size, random_state=seed,
                                 stratify=[labels[c] for c in ids])
    return sorted(chosen)


@dataclass(frozen=True)
class ReaderHistory:
    """What a prospective reader has already seen of a case set: ``practised``, the cases they
    read in practice, where the truth is shown once the answer is stored; ``studies``, earlier
    studies they were a reader of with how many of the cases each shares."""

    user_id: int
    practised: tuple[int, ...]
    studies: tuple[tuple[str, int], ...]


def reader_histories(store: Store, reader_ids: list[int], case_ids: list[int]
                     ) -> list[ReaderHistory]:
    """Per reader (only those with any history), the cases of ``case_ids`` they have seen."""
    with store.read() as cur:
        practised = cur.execute(
            "SELECT DISTINCT r.user_id, r.case_id FROM reads r JOIN quiz_sessions q"
            " USING (session_id) WHERE q.kind = 'practice' AND r.user_id IN (SELECT unnest(?))"
            " AND r.case_id IN (SELECT unnest(?)) ORDER BY r.case_id",
            [reader_ids, case_ids]).fetchall()
        studies = cur.execute(
            "SELECT sr.user_id, rs.name, len(list_intersect(CAST(rs.case_ids AS INTEGER[]), ?))"
            " FROM study_readers sr JOIN reader_studies rs USING (study_id)"
            " WHERE sr.user_id IN (SELECT unnest(?)) ORDER BY rs.created_at, rs.study_id",
            [case_ids, reader_ids]).fetchall()
    histories = []
    for user_id in reader_ids:
        seen = tuple(case for reader, case in practised if reader == user_id)
        shared = tuple((name, n) for reader, name, n in studies if reader == user_id and n)
        if seen or shared:
            histories.append(ReaderHistory(user_id, seen, shared))
    return histories


def choose_cases(store: Store, dataset: str, reader_ids: list[int], size: int | None = None,
                 seed: int = 0, leave_out_practised: bool = False) -> list[int]:
    """A study's case set: the dataset's test-split nodules, without those any of the readers
    read in practice (``leave_out_practised``: every reader reads every case, so a case one
    of them saw with its truth goes for all), then a stratified subset of ``size``."""
    cases = study_case_set(store, dataset)
    if leave_out_practised:
        seen = {c for history in reader_histories(store, reader_ids, cases)
                for c in history.practised}
        cases = [c for c in cases if c not in seen]
    if size is not None:
        cases = study_subset(store, cases, size, seed)
    return cases


def eligible_readers(store: Store) -> list[User]:
    """The active trainees, who may be readers of a study."""
    with store.read() as cur:
        rows = cur.execute("SELECT user_id, username, coalesce(display_name, username), role"
                           " FROM users WHERE role = 'trainee' AND active"
                           " ORDER BY username").fetchall()
    return [User(*row) for row in rows]


def _checked_washout(washout_days: object) -> float:
    try:
        days = float(washout_days)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UserError(f"the washout must be a number of days, got {washout_days!r}") from None
    if not math.isfinite(days) or not 0 <= days <= MAX_WASHOUT_DAYS:
        raise UserError(f"the washout must lie between 0 and {MAX_WASHOUT_DAYS:.0f} days, "
                        f"got {washout_days!r}")
    return days


def _checked_ids(values: object, what: str) -> list[int]:
    try:
        ids = [int(value) for value in values]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise UserError(f"the {what} must be a list of ids") from None
    if len(set(ids)) != len(ids):
        raise UserError(f"the {what} list a member twice")
    return ids


def _check_cases(cur: duckdb.DuckDBPyConnection, case_ids: list[int]) -> None:
    labels = dict(cur.execute("SELECT case_id, label FROM cases WHERE case_id IN"
                              " (SELECT unnest(?))", [case_ids]).fetchall())
    missing = [c for c in case_ids if c not in labels]
    if missing:
        raise UserError(f"no case {missing[0]} in the store")
    normal = [c for c in case_ids if labels[c] not in ("benign", "malignant")]
    if normal:
        raise UserError(f"case {normal[0]} is not a nodule (label {labels[normal[0]]!r}); a "
                        "study reads benign and malignant nodules only")
    malignant = sum(labels[c] == "malignant" for c in case_ids)
    if min(malignant, len(case_ids) - malignant) < MIN_PER_CLASS:
        raise UserError(f"a study needs at least {MIN_PER_CLASS} malignant and "
                        f"{MIN_PER_CLASS} benign cases (below that the app shows no AUC); "
                        f"this set has {malignant} malignant and "
                        f"{len(case_ids) - malignant} benign")


def _check_readers(cur: duckdb.DuckDBPyConnection, reader_ids: list[int]) -> None:
    if not reader_ids:
        raise UserError("choose at least one reader")
    found = {user_id: (username, role, active) for user_id, username, role, active in
             cur.execute("SELECT user_id, username, role, active FROM users WHERE user_id IN"
                         " (SELECT unnest(?))", [reader_ids]).fetchall()}
    for user_id in reader_ids:
        if user_id not in found:
            raise UserError(f"no user with id {user_id}")
        username, role, active = found[user_id]
        if role != "trainee" or not active:
            raise UserError(f"{username} cannot be a reader: readers are active trainees")


def _check_model(cur: duckdb.DuckDBPyConnection, model_id: str, case_ids: list[int]) -> None:
    if not cur.execute("SELECT 1 FROM models WHERE model_id = ?", [model_id]).fetchone():
        raise UserError(f"no trained model {model_id!r}")
    predicted = ai_outputs(cur, model_id, case_ids)
    missing = [c for c in case_ids if c not in predicted]
    if missing:
        raise UserError(f"the model {model_id} has no output it could honestly show (one "
                        f"from a model that never trained on the case) for {len(missing)} of "
                        f"the {len(case_ids)} cases (case {missing[0]} first): choose another "
                        "model, test cases, or train its cross-fitted outputs first")


def reader_orders(case_ids: list[int], reader_ids: list[int], seed: int
                  ) -> dict[int, tuple[list[int], list[int]]]:
    """Each reader's (unaided, aided) order: two seeded random permutations of the case set,
    the aided one always different from the unaided one."""
    rng = random.Random(seed)
    orders = {}
    for user_id in sorted(reader_ids):
        unaided = list(case_ids)
        rng.shuffle(unaided)
        aided = list(unaided)
        while aided == unaided and len(set(case_ids)) > 1:
            rng.shuffle(aided)
        orders[user_id] = (unaided, aided)
    return orders


def create_study(store: Store, supervisor: User, name: str, case_ids: list[int],
                 reader_ids: list[int], washout_days: float = DEFAULT_WASHOUT_DAYS,
                 model_id: str | None = None, seed: int = 0, now: datetime | None = None) -> int:
    """Set up a study (see the module's docstring); returns its id. ``model_id`` None: the
    quiz's model (the supervisor's choice, else the best cross-validated AUC)."""
    _require_staff(supervisor, "set up a reader study")
    title = str(name or "").strip()
    if not title:
        raise UserError("give the study a name")
    if len(title) > MAX_NAME_LENGTH:
        raise UserError(f"the study's name may have at most {MAX_NAME_LENGTH} characters")
    cases = _checked_ids(case_ids, "cases")
    readers = _checked_ids(reader_ids, "readers")
    days = _checked_washout(washout_days)
    if not cases:
        raise UserError("the case set is empty")
    if model_id is None:
        model_id = quiz_model(store).model_id
        if model_id is None:
            raise UserError("no model is trained yet: the aided phase needs one")
    orders = reader_orders(cases, readers, int(seed))
    with store.transaction() as cur:
        _check_cases(cur, cases)
        _check_readers(cur, readers)
        _check_model(cur, model_id, cases)
        study_id = cur.execute(
            "INSERT INTO reader_studies (name, case_ids, washout_days, model_id, created_by,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING study_id",
            [title, json.dumps(cases), days, model_id, supervisor.user_id,
             now or utcnow()]).fetchone()[0]
        cur.executemany("INSERT INTO study_readers (study_id, user_id, unaided_order,"
                        " aided_order) VALUES (?, ?, ?, ?)",
                        [[study_id, user_id, json.dumps(unaided), json.dumps(aided)]
                         for user_id, (unaided, aided) in orders.items()])
    return study_id


# ---- reading the store ---------------------------------------------------------------------

def _study(cur: duckdb.DuckDBPyConnection, study_id: int) -> Study:
    row = cur.execute("SELECT study_id, name, case_ids, washout_days, model_id, created_by,"
                      " created_at FROM reader_studies WHERE study_id = ?",
                      [study_id]).fetchone()
    if row is None:
        raise UserError(f"no reader study {study_id}")
    readers = [user_id for (user_id,) in cur.execute(
        "SELECT user_id FROM study_readers WHERE study_id = ? ORDER BY user_id",
        [study_id]).fetchall()]
    return Study(row[0], row[1], tuple(json.loads(row[2])), float(row[3]), row[4], row[5],
                 row[6], tuple(readers))


def get_study(store: Store, study_id: int) -> Study:
    """The study as set up; UserError if there is none."""
    with store.read() as cur:
        return _study(cur, study_id)


def list_studies(store: Store, viewer: User) -> list[Study]:
    """Every study, the newest first (supervisors and admins)."""
    _require_staff(viewer, "see the reader studies")
    with store.read() as cur:
        ids = [s for (s,) in cur.execute("SELECT study_id FROM reader_studies"
                                         " ORDER BY study_id DESC").fetchall()]
        return [_study(cur, study_id) for study_id in ids]


@dataclass(frozen=True)
class _Progress:
    """One reader's sessions and reads in one study."""

    orders: dict[str, list[int]]
    sessions: dict[str, int]
    read: dict[str, set[int]]
    last_unaided: datetime | None


def _progress(cur: duckdb.DuckDBPyConnection, study_id: int, user_id: int) -> _Progress:
    row = cur.execute("SELECT unaided_order, aided_order FROM study_readers"
                      " WHERE study_id = ? AND user_id = ?", [study_id, user_id]).fetchone()
    if row is None:
        raise UserError("you are not a reader of this study")
    orders = {"unaided": json.loads(row[0]), "aided": json.loads(row[1])}
    sessions = {}
    for mode in MODES:
        found = cur.execute("SELECT min(session_id) FROM quiz_sessions WHERE study_id = ?"
                            " AND user_id = ? AND kind = ?",
                            [study_id, user_id, SESSION_KIND[mode]]).fetchone()[0]
        if found is not None:
            sessions[mode] = found
    read: dict[str, set[int]] = {mode: set() for mode in MODES}
    last_unaided = None
    for mode, session_id in sessions.items():
        rows = cur.execute("SELECT case_id, created_at FROM reads WHERE session_id = ?"
                           " AND mode = ?", [session_id, mode]).fetchall()
        read[mode] = {case_id for case_id, _ in rows}
        if mode == "unaided" and rows:
            last_unaided = max(created for _, created in rows)
    return _Progress(orders, sessions, read, last_unaided)


def _phase_view(study: Study, progress: _Progress, now: datetime) -> PhaseView:
    total = len(study.case_ids)
    unaided, aided = len(progress.read["unaided"]), len(progress.read["aided"])
    if unaided < total:
        return PhaseView(study.study_id, study.name, "unaided", unaided, total, None,
                         progress.sessions.get("unaided"))
    until = progress.last_unaided + timedelta(days=study.washout_days)
    if aided >= total:
        phase = "done"
    elif now < until:
        phase = "washout"
    else:
        phase = "aided"
    return PhaseView(study.study_id, study.name, phase, aided, total, until,
                     progress.sessions.get("aided"))


def reader_phase(store: Store, study_id: int, user_id: int,
                 now: datetime | None = None) -> PhaseView:
    """Where the reader stands in the study now."""
    with store.read() as cur:
        return _phase_view(_study(cur, study_id), _progress(cur, study_id, user_id),
                           now or utcnow())


def _phases(cur: duckdb.DuckDBPyConnection, user_id: int, now: datetime
            ) -> list[tuple[Study, PhaseView]]:
    ids = [s for (s,) in cur.execute("SELECT study_id FROM study_readers WHERE user_id = ?"
                                     " ORDER BY study_id DESC", [user_id]).fetchall()]
    found = []
    for study_id in ids:
        study = _study(cur, study_id)
        found.append((study, _phase_view(study, _progress(cur, study_id, user_id), now)))
    return found


@dataclass(frozen=True)
class StudyLock:
    """A study the reader has not finished: the cases it keeps out of their practice."""

    phase: PhaseView
    case_ids: frozenset[int]

    @property
    def text(self) -> str:
        """By which study, and until when, in plain words (the study's name is user text)."""
        view = self.phase
        if view.phase == "unaided":
            until = "until you have read its cases in both phases"
        elif view.phase == "washout":
            until = (f"during its washout (until {view.washout_until:%Y-%m-%d %H:%M} UTC) and "
                     "then until you have read its cases with the AI")
        else:
            until = "until you have read its cases with the AI"
        return f"locked by the reader study '{view.name}' {until}"


def study_locks(cur: duckdb.DuckDBPyConnection, user_id: int, now: datetime | None = None
                ) -> list[StudyLock]:
    """The reader's unfinished studies, the newest first, each with the cases it locks (the
    studies behind :func:`core.reads.locked_cases`)."""
    return [StudyLock(view, frozenset(study.case_ids))
            for study, view in _phases(cur, user_id, now or utcnow()) if view.phase != "done"]


def my_studies(store: Store, user_id: int, now: datetime | None = None) -> list[PhaseView]:
    """The studies the user reads in, the newest first, with where they stand in each."""
    with store.read() as cur:
        return [view for _, view in _phases(cur, user_id, now or utcnow())]


def reader_progress(store: Store, study_id: int, viewer: User,
                    now: datetime | None = None) -> pd.DataFrame:
    """One row per reader: reader, phase, unaided and aided reads so far, of how many, and
    when the washout ends (supervisors and admins)."""
    _require_staff(viewer, "follow a reader study")
    moment = now or utcnow()
    rows = []
    with store.read() as cur:
        study = _study(cur, study_id)
        names = dict(cur.execute("SELECT user_id, coalesce(display_name, username) FROM users"
                                 " WHERE user_id IN (SELECT unnest(?))",
                                 [list(study.reader_ids)]).fetchall())
        for user_id in study.reader_ids:
            progress = _progress(cur, study_id, user_id)
            view = _phase_view(study, progress, moment)
            rows.append({"reader": names[user_id], "user_id": user_id, "phase": view.phase,
                         "unaided_read": len(progress.read["unaided"]),
                         "aided_read": len(progress.read["aided"]), "cases": view.total,
                         "washout_until": view.washout_until})
    return pd.DataFrame(rows, columns=["reader", "user_id", "phase", "unaided_read",
                                       "aided_read", "cases", "washout_until"])


# ---- reading -------------------------------------------------------------------------------

def _washout_message(until: datetime) -> str:
    return (f"the aided session opens after the washout, on {until:%Y-%m-%d %H:%M} UTC; "
            "no aided read can be stored before then")


def start_or_resume(store: Store, study_id: int, user_id: int, now: datetime | None = None
                    ) -> int:
    """The session of the reader's current phase, created (in the reader's order for that
    phase) on the first call; UserError during the washout and once the study is done."""
    moment = now or utcnow()
    with store.transaction() as cur:
        study = _study(cur, study_id)
        progress = _progress(cur, study_id, user_id)
        view = _phase_view(study, progress, moment)
        if view.phase == "washout":
            raise UserError(_washout_message(view.washout_until))
        if view.phase == "done":
            raise UserError("you have read every case of this study in both phases")
        if view.session_id is not None:
            return view.session_id
        mode = view.phase
        return cur.execute(
            "INSERT INTO quiz_sessions (user_id, kind, case_ids, model_id, study_id, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING session_id",
            [user_id, SESSION_KIND[mode], json.dumps(progress.orders[mode]),
             study.model_id if mode == "aided" else None, study_id, moment]).fetchone()[0]


@dataclass(frozen=True)
class _Session:
    session_id: int
    study: Study
    mode: str
    progress: _Progress

    @property
    def order(self) -> list[int]:
        return self.progress.orders[self.mode]

    def next_case(self) -> tuple[int, int] | None:
        """(position, case_id) of the first case of the order not read yet."""
        done = self.progress.read[self.mode]
        return next(((position, case_id) for position, case_id in enumerate(self.order, 1)
                     if case_id not in done), None)


def _session(cur: duckdb.DuckDBPyConnection, session_id: int, user_id: int) -> _Session:
    row = cur.execute("SELECT user_id, kind, study_id FROM quiz_sessions WHERE session_id = ?",
                      [session_id]).fetchone()
    if row is None:
        raise UserError(f"no session {session_id}")
    if row[0] != user_id:
        raise UserError("this session belongs to another reader")
    mode = {kind: mode for mode, kind in SESSION_KIND.items()}.get(row[1])
    if mode is None or row[2] is None:
        raise UserError("this session belongs to the practice quiz, not to a reader study")
    return _Session(session_id, _study(cur, row[2]), mode,
                    _progress(cur, row[2], user_id))


def _ai_output(cur: duckdb.DuckDBPyConnection, model_id: str, case_id: int) -> AIOutput:
    found = ai_output(cur, model_id, case_id)
    if isinstance(found, str):
        raise UserError(f"the study's model {model_id} has no output for this case any more: "
                        "ask your supervisor")
    return found


def _check_open(session: _Session, now: datetime) -> None:
    """Refuse reading in an aided session before the washout is over."""
    view = _phase_view(session.study, session.progress, now)
    if session.mode == "aided" and view.phase in ("unaided", "washout"):
        if view.phase == "unaided":
            raise UserError("read every case unaided first")
        raise UserError(_washout_message(view.washout_until))


def _view(cur: duckdb.DuckDBPyConnection, session: _Session) -> StudyView:
    following = session.next_case()
    total = len(session.order)
    if following is None:
        return PhaseDoneView(session.session_id, session.study.study_id, session.mode, total)
    position, case_id = following
    image_path = cur.execute("SELECT image_path FROM cases WHERE case_id = ?",
                             [case_id]).fetchone()[0]
    if session.mode == "unaided":
        return UnaidedCaseView(session.session_id, session.study.study_id, case_id, image_path,
                               position, total)
    return AidedCaseView(session.session_id, session.study.study_id, case_id, image_path,
                         position, total, _ai_output(cur, session.study.model_id, case_id),
                         HEATMAP_METHOD)


def next_study_case(store: Store, session_id: int, user_id: int,
                    now: datetime | None = None) -> StudyView:
    """What the reader reads next in the session (never the truth)."""
    with store.read() as cur:
        session = _session(cur, session_id, user_id)
        _check_open(session, now or utcnow())
        return _view(cur, session)


def submit_study_read(store: Store, session_id: int, user_id: int, case_id: int, birads: object,
                      probability: object, descriptors: Mapping[str, str] | None = None,
                      seconds: object = None, now: datetime | None = None) -> StudyView:
    """Store the reader's read of the next case of the session (unaided in the unaided phase,
    aided with the model's output as shown in the aided phase); returns the next view."""
    answer = validate_answer(birads, probability, descriptors, seconds)
    moment = now or utcnow()
    with store.transaction() as cur:
        session = _session(cur, session_id, user_id)
        _check_open(session, moment)
        if case_id not in session.order:
            raise UserError(f"case {case_id} is not part of this study")
        if case_id in session.progress.read[session.mode]:
            raise UserError(f"your {session.mode} read of this case is already stored and "
                            "cannot be changed")
        position, expected = session.next_case()
        if case_id != expected:
            raise UserError(f"cases are read in your order: the next one is case {position} of "
                            f"{len(session.order)}; the page shows it now")
        ai = (_ai_output(cur, session.study.model_id, case_id) if session.mode == "aided"
              else None)
        insert_read(cur, session_id, user_id, case_id, session.mode, answer, ai, moment)
    with store.read() as cur:
        return _view(cur, _session(cur, session_id, user_id))
