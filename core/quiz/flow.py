"""The quiz's state machine: a practice session, case by case, its state in the store.

A practice session is an ordered list of cases. Each case goes
PRESENT --submit_unaided--> AI --submit_aided--> TRUTH --advance--> the next case ... SUMMARY
(or SUMMARY at once after ``end_session``).
The step a case is at is derived from its stored reads and its ``quiz_steps`` rows, never from
the page's memory, so a reload, a second tab or the back button recomputes it; every action
checks, inside its write transaction, that the case is at the step it acts on, and stored reads
are never overwritten. The view handed to the page is a different dataclass per step: only
:class:`AIView` holds the model output, only :class:`TruthView` holds the truth.

The model shown is fixed when the unaided read is stored: the session's model (the supervisor's
choice, setting ``quiz_model``, else the best ``models.cv_auc``, taken when the session starts),
or, if there was none then, the one chosen now. A session with a model draws only cases the
model has an honest (out-of-sample) output for (:mod:`core.quiz.selection`). With no model
output for the case (no model, the chosen one missing, or no honest prediction for the case)
the case goes straight to the truth and no aided read is stored.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from core.errors import UserError
from core.quiz.selection import parse_practice_set, pick_cases
from core.reads import AIOutput, Answer, ai_output, insert_read, validate_answer
from core.shown_model import model_choice
from core.store import Store

MAX_SESSION_LENGTH = 200
BIRADS_WORDS = {"2": "benign", "3": "probably benign", "4A": "low suspicion",
                "4B": "moderate suspicion", "4C": "high suspicion",
                "5": "highly suggestive of malignancy"}


# ---- views ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaseStep:
    """What every step of a case shows: the session, the case's image and its place."""

    session_id: int
    case_id: int
    image_path: str
    position: int
    total: int


@dataclass(frozen=True)
class PresentView(CaseStep):
    """Step PRESENT: the image only; nothing of the truth or the model."""


@dataclass(frozen=True)
class AIView(CaseStep):
    """Step AI: the unaided read is stored; the model output may be shown."""

    unaided: Answer
    ai: AIOutput


@dataclass(frozen=True)
class TruthView(CaseStep):
    """Step TRUTH: both reads are stored (or the unaided one and no model output)."""

    unaided: Answer
    aided: Answer | None
    ai: AIOutput | None
    no_ai_reason: str | None
    label: str
    histology: str | None
    birads_ref: str | None
    descriptors: dict[str, str]
    mask_path: str | None
    verdicts: tuple[str, ...]


@dataclass(frozen=True)
class SummaryView:
    """The session is over: every case is done, or the trainee ended it early."""

    session_id: int
    total: int


QuizView = PresentView | AIView | TruthView | SummaryView


# ---- sessions ------------------------------------------------------------------------------

def start_session(store: Store, user_id: int, practice_set: str, length: int,
                  seed: int | None = None) -> int:
    """Create a practice session of up to ``length`` cases; returns its id."""
    if (isinstance(length, bool) or not isinstance(length, int)
            or not 1 <= length <= MAX_SESSION_LENGTH):
        raise UserError(f"the session length must be a whole number from 1 to "
                        f"{MAX_SESSION_LENGTH}, got {length!r}")
    chosen = parse_practice_set(practice_set)
    with store.transaction() as cur:
        if not cur.execute("SELECT 1 FROM users WHERE user_id = ?", [user_id]).fetchone():
            raise UserError(f"no user with id {user_id}")
        model_id = model_choice(cur).model_id
        case_ids = pick_cases(cur, user_id, chosen, length, seed, model_id)
        return cur.execute(
            "INSERT INTO quiz_sessions (user_id, kind, practice_set, case_ids, model_id)"
            " VALUES (?, 'practice', ?, ?, ?) RETURNING session_id",
            [user_id, chosen.code, json.dumps(case_ids), model_id]).fetchone()[0]


def unfinished_session(store: Store, user_id: int) -> int | None:
    """The user's newest practice session that still has a case to finish."""
    with store.read() as cur:
        row = cur.execute(
            "SELECT s.session_id FROM quiz_sessions s"
            " LEFT JOIN quiz_steps q ON q.session_id = s.session_id"
            " WHERE s.user_id = ? AND s.kind = 'practice'"
            " GROUP BY s.session_id, s.started_at, s.case_ids"
            " HAVING count(*) FILTER (WHERE q.step = 'next') < json_array_length(s.case_ids)"
            " AND count(*) FILTER (WHERE q.step = 'end') = 0"
            " ORDER BY s.started_at DESC, s.session_id DESC LIMIT 1", [user_id]).fetchone()
    return row[0] if row else None


# ---- the state machine ---------------------------------------------------------------------

@dataclass(frozen=True)
class Session:
    """A practice session as stored: its cases in order, the model fixed at its start, and
    its reads and steps so far."""

    session_id: int
    case_ids: list[int]
    model_id: str | None
    reads: dict[tuple[int, str], Answer]
    steps: dict[tuple[int, str], tuple]

    @property
    def ended(self) -> bool:
        return any(step == "end" for _, step in self.steps)

    def current(self) -> tuple[int, int, str]:
        """(position, case_id, step) of the first unfinished case; step 'summary' when done."""
        if self.ended:
            return len(self.case_ids), -1, "summary"
        for position, case_id in enumerate(self.case_ids, 1):
            if (case_id, "next") in self.steps:
                continue
            if (case_id, "unaided") not in self.reads:
                return position, case_id, "present"
            if ((case_id, "aided") not in self.reads and (case_id, "ai") in self.steps
                    and (case_id, "no_ai") not in self.steps):
                return position, case_id, "ai"
            return position, case_id, "truth"
        return len(self.case_ids), -1, "summary"

    def ai(self, case_id: int) -> AIOutput | None:
        row = self.steps.get((case_id, "ai"))
        return None if row is None else AIOutput(row[0], row[1], row[2], row[4])


def load(cur: duckdb.DuckDBPyConnection, session_id: int, user_id: int) -> Session:
    """The user's practice session; UserError for another user's or a study's session."""
    row = cur.execute("SELECT user_id, kind, case_ids, model_id FROM quiz_sessions"
                      " WHERE session_id = ?", [session_id]).fetchone()
    if row is None:
        raise UserError(f"no quiz session {session_id}")
    if row[0] != user_id:
        raise UserError("this quiz session belongs to another user")
    if row[1] != "practice":
        raise UserError("this session belongs to a reader study, not to the practice quiz")
    reads = {(case_id, mode): Answer(birads, probability, json.loads(desc) if desc else None,
                                     seconds)
             for case_id, mode, birads, probability, desc, seconds in cur.execute(
                 "SELECT case_id, mode, birads, probability, descriptors, seconds FROM reads"
                 " WHERE session_id = ?", [session_id]).fetchall()}
    steps = {(case_id, step): rest for case_id, step, *rest in cur.execute(
        "SELECT case_id, step, model_id, ai_prob, ai_threshold, note, checkpoint_sha256"
        " FROM quiz_steps"
        " WHERE session_id = ?", [session_id]).fetchall()}
    return Session(session_id, json.loads(row[2]), row[3], reads, steps)


def _view(cur: duckdb.DuckDBPyConnection, session: Session) -> QuizView:
    position, case_id, step = session.current()
    total = len(session.case_ids)
    if step == "summary":
        return SummaryView(session.session_id, total)
    image_path = cur.execute("SELECT image_path FROM cases WHERE case_id = ?",
                             [case_id]).fetchone()[0]
    if step == "present":
        return PresentView(session.session_id, case_id, image_path, position, total)
    unaided = session.reads[(case_id, "unaided")]
    if step == "ai":
        return AIView(session.session_id, case_id, image_path, position, total, unaided,
                      session.ai(case_id))
    label, histology, birads_ref, descriptors, mask_path = cur.execute(
        "SELECT label, histology, birads_ref, descriptors, mask_path FROM cases"
        " WHERE case_id = ?", [case_id]).fetchone()
    aided = session.reads.get((case_id, "aided"))
    ai = session.ai(case_id)
    no_ai = session.steps.get((case_id, "no_ai"))
    reason = None if ai else (no_ai[3] if no_ai else "no model output was shown")
    return TruthView(session.session_id, case_id, image_path, position, total, unaided, aided,
                     ai, reason, label, histology, birads_ref,
                     json.loads(descriptors) if descriptors else {}, mask_path,
                     verdicts(label, histology, unaided, aided, ai, reason))


def state(store: Store, session_id: int, user_id: int) -> QuizView:
    """What the page shows now, recomputed from the store."""
    with store.read() as cur:
        return _view(cur, load(cur, session_id, user_id))


_STEP_NAMES = {"present": "the answer", "ai": "the AI", "truth": "the truth",
               "summary": "the summary"}


def _expect(session: Session, case_id: int, step: str) -> None:
    """Refuse an action on a case that is not the current one at ``step``."""
    if case_id not in session.case_ids:
        raise UserError(f"case {case_id} is not part of this session")
    if step == "present" and (case_id, "unaided") in session.reads:
        raise UserError("your first read of this case is already stored and cannot be changed")
    if step == "ai" and (case_id, "aided") in session.reads:
        raise UserError("your read after the AI is already stored and cannot be changed")
    _, current_case, current_step = session.current()
    if (current_case, current_step) != (case_id, step):
        raise UserError(f"this case is not at {_STEP_NAMES[step]} step; the page now shows "
                        "where the session is")


def submit_unaided(store: Store, session_id: int, user_id: int, case_id: int, birads: object,
                   probability: object, descriptors: Mapping[str, str] | None = None,
                   seconds: object = None) -> QuizView:
    """Store the unaided read of the current case, then open the AI step (or the truth)."""
    answer = validate_answer(birads, probability, descriptors, seconds)
    with store.transaction() as cur:
        session = load(cur, session_id, user_id)
        _expect(session, case_id, "present")
        insert_read(cur, session_id, user_id, case_id, "unaided", answer, None)
        model_id = session.model_id or model_choice(cur).model_id
        ai = model_choice(cur).reason if model_id is None else ai_output(cur, model_id, case_id)
        if isinstance(ai, AIOutput):
            cur.execute("INSERT INTO quiz_steps (session_id, case_id, step, model_id, ai_prob,"
                        " ai_threshold, checkpoint_sha256) VALUES (?, ?, 'ai', ?, ?, ?, ?)",
                        [session_id, case_id, ai.model_id, ai.probability, ai.threshold,
                         ai.checkpoint_sha256])
        else:
            cur.execute("INSERT INTO quiz_steps (session_id, case_id, step, model_id, note)"
                        " VALUES (?, ?, 'no_ai', ?, ?)", [session_id, case_id, model_id, ai])
    return state(store, session_id, user_id)


def submit_aided(store: Store, session_id: int, user_id: int, case_id: int, birads: object,
                 probability: object, seconds: object = None) -> QuizView:
    """Store the read after the AI (kept or revised), then open the truth."""
    answer = validate_answer(birads, probability, None, seconds)
    with store.transaction() as cur:
        session = load(cur, session_id, user_id)
        _expect(session, case_id, "ai")
        insert_read(cur, session_id, user_id, case_id, "aided", answer, session.ai(case_id))
    return state(store, session_id, user_id)


def advance(store: Store, session_id: int, user_id: int, case_id: int) -> QuizView:
    """Leave the truth of the current case for the next case (or the summary)."""
    with store.transaction() as cur:
        session = load(cur, session_id, user_id)
        _expect(session, case_id, "truth")
        cur.execute("INSERT INTO quiz_steps (session_id, case_id, step) VALUES (?, ?, 'next')",
                    [session_id, case_id])
    return state(store, session_id, user_id)


def end_session(store: Store, session_id: int, user_id: int) -> QuizView:
    """End the session at the current case (its stored reads stay; the cases after it are
    dropped); the summary covers what was read."""
    with store.transaction() as cur:
        session = load(cur, session_id, user_id)
        _, case_id, step = session.current()
        if step == "summary":
            raise UserError("this session is already over")
        cur.execute("INSERT INTO quiz_steps (session_id, case_id, step) VALUES (?, ?, 'end')",
                    [session_id, case_id])
    return state(store, session_id, user_id)


# ---- the truth in plain words --------------------------------------------------------------

def _right(correct: bool) -> str:
    return "right" if correct else "wrong"


def verdicts(label: str, histology: str | None, unaided: Answer, aided: Answer | None,
             ai: AIOutput | None, no_ai_reason: str | None) -> tuple[str, ...]:
    """What the trainee and the AI got right or wrong, one sentence each."""
    malignant = label == "malignant"
    truth = f"The nodule is {label}" + (f" ({histology})." if histology else ".")
    lines = [truth]
    first = unaided.malignant == malignant
    lines.append(f"Your first read, BI-RADS {unaided.birads} ({BIRADS_WORDS[unaided.birads]}), "
                 f"called it {'malignant' if unaided.malignant else 'benign'}: "
                 f"{_right(first)}.")
    if ai is None:
        lines.append(f"No AI was shown: {no_ai_reason}.")
        return tuple(lines)
    probability, cut_off = ai.figures
    lines.append(f"The AI gave {probability} (its cut-off is {cut_off}) and "
                 f"called it {'malignant' if ai.malignant else 'benign'}: "
                 f"{_right(ai.malignant == malignant)}.")
    if aided is None:
        return tuple(lines)
    second = aided.malignant == malignant
    if aided.birads == unaided.birads and aided.probability == unaided.probability:
        lines.append("You kept your first read after the AI.")
    elif first == second:
        lines.append(f"After the AI you moved to BI-RADS {aided.birads}, {aided.probability:.0f}%:"
                     f" the call stayed {_right(second)}.")
    else:
        change = "a helpful change" if second else "a harmful change"
        lines.append(f"After the AI you moved to BI-RADS {aided.birads}, {aided.probability:.0f}%:"
                     f" {change}, from {_right(first)} to {_right(second)}.")
    return tuple(lines)
