"""The case-by-case quiz: a state machine whose state lives in the store.

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
or, if there was none then, the one chosen now. With no model output for the case (no model, the
chosen one missing, or no prediction for the case) the case goes straight to the truth and no
aided read is stored.

Cases: nodules only (label benign or malignant, split not 'excluded'). A read "calls malignant"
when its BI-RADS is 4A or above (the study's convention).

Spaced repetition (counted in practice sessions started, not days): a case whose unaided read
was wrong is due again in the user's next session; each later correct unaided read moves it
on, due again 3 and then 7 sessions after that read; the third correct read in a row retires
it, and any wrong read starts over. A session's cases are chosen first among those due (within
the chosen practice set), then among cases never read, then the longest unread, and shown in a
random order; the set "missed" holds every queued case, those due first.
"""
from __future__ import annotations

import json
import random
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from core.auth import User
from core.errors import UserError
from core.lexicon import BIRADS_CATEGORIES, DESCRIPTORS, calls_malignant, validate_descriptors
from core.shown_model import model_choice
from core.reads import AIOutput, Answer, ai_output, insert_read, locked_cases, validate_answer
from core.stats.metrics import Estimate, threshold_metrics
from core.stats.readers import birads_scores, change_ledger
from core.stats.roc import AucResult, auc_ci
from core.store import Store

REPEAT_AFTER_SESSIONS = (1, 3, 7)
MAX_SESSION_LENGTH = 200
REFERENCE_BIRADS = ("1", *BIRADS_CATEGORIES, "6")  # a case's reference may also be 1 or 6
BIRADS_WORDS = {"2": "benign", "3": "probably benign", "4A": "low suspicion",
                "4B": "moderate suspicion", "4C": "high suspicion",
                "5": "highly suggestive of malignancy"}
_NODULES = ("SELECT c.case_id, c.birads_ref, c.descriptors, s.split FROM cases c"
            " LEFT JOIN splits s USING (case_id)"
            " WHERE c.label IN ('benign', 'malignant') AND coalesce(s.split, '') <> 'excluded'")


# ---- answers and views ---------------------------------------------------------------------

@dataclass(frozen=True)
class PresentView:
    """Step PRESENT: the image only."""

    session_id: int
    case_id: int
    image_path: str
    position: int
    total: int


@dataclass(frozen=True)
class AIView:
    """Step AI: the unaided read is stored; the model output may be shown."""

    session_id: int
    case_id: int
    image_path: str
    position: int
    total: int
    unaided: Answer
    ai: AIOutput


@dataclass(frozen=True)
class TruthView:
    """Step TRUTH: both reads are stored (or the unaided one and no model output)."""

    session_id: int
    case_id: int
    image_path: str
    position: int
    total: int
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


# ---- practice sets and spaced repetition ---------------------------------------------------

@dataclass(frozen=True)
class PracticeSet:
    """``all``, ``test``, ``missed``, ``birads:4A`` or ``descriptor:margin=spiculated``."""

    kind: str
    birads: str | None = None
    descriptor: str | None = None
    value: str | None = None

    @property
    def code(self) -> str:
        if self.kind == "birads":
            return f"birads:{self.birads}"
        if self.kind == "descriptor":
            return f"descriptor:{self.descriptor}={self.value}"
        return self.kind

    @property
    def label(self) -> str:
        if self.kind == "birads":
            return f"Reference BI-RADS {self.birads}"
        if self.kind == "descriptor":
            return f"{self.descriptor.replace('_', ' ')}: {self.value}"
        return {"all": "All cases", "test": "The test split",
                "missed": "My missed cases"}[self.kind]

    def matches(self, birads_ref: str | None, descriptors: dict, split: str | None) -> bool:
        if self.kind == "test":
            return split == "test"
        if self.kind == "birads":
            return birads_ref == self.birads
        if self.kind == "descriptor":
            return descriptors.get(self.descriptor) == self.value
        return True


def parse_practice_set(code: str) -> PracticeSet:
    """The practice set a code names; UserError for anything unknown."""
    code = str(code).strip()
    if code in ("all", "test", "missed"):
        return PracticeSet(code)
    if match := re.fullmatch(r"birads:(\w+)", code):
        category = match.group(1).upper()
        if category not in REFERENCE_BIRADS:
            raise UserError(f"unknown reference BI-RADS {match.group(1)!r}")
        return PracticeSet("birads", birads=category)
    if match := re.fullmatch(r"descriptor:(\w+)=(.+)", code):
        key, value = match.groups()
        try:
            validate_descriptors({key: value})
        except ValueError as error:
            raise UserError(str(error)) from None
        return PracticeSet("descriptor", descriptor=key, value=value)
    raise UserError(f"unknown practice set {code!r}: use all, test, missed, birads:<category> "
                    "or descriptor:<name>=<value>")


def _nodules(cur: duckdb.DuckDBPyConnection) -> list[tuple[int, str | None, dict, str | None]]:
    return [(case_id, birads_ref, json.loads(desc) if desc else {}, split)
            for case_id, birads_ref, desc, split in cur.execute(_NODULES).fetchall()]


@dataclass(frozen=True)
class _History:
    due_in: dict[int, int]      # queued case -> sessions until due (<= 0: due now)
    last_read: dict[int, int]   # case -> index of the last session that read it


def _history(cur: duckdb.DuckDBPyConnection, user_id: int) -> _History:
    """The repetition queue as of the user's next session (see the module's docstring)."""
    sessions = [sid for (sid,) in cur.execute(
        "SELECT session_id FROM quiz_sessions WHERE user_id = ? AND kind = 'practice'"
        " ORDER BY session_id", [user_id]).fetchall()]
    index = {sid: number for number, sid in enumerate(sessions, 1)}
    reads = cur.execute(
        "SELECT r.case_id, r.session_id, r.birads, c.label FROM reads r"
        " JOIN cases c USING (case_id) JOIN quiz_sessions s USING (session_id)"
        " WHERE r.user_id = ? AND r.mode = 'unaided' AND s.kind = 'practice'"
        " ORDER BY r.read_id", [user_id]).fetchall()
    box: dict[int, int | None] = {}
    last: dict[int, int] = {}
    for case_id, session_id, birads, label in reads:
        if calls_malignant(birads) != (label == "malignant"):
            box[case_id] = 0
        elif box.get(case_id) is not None:
            following = box[case_id] + 1
            box[case_id] = following if following < len(REPEAT_AFTER_SESSIONS) else None
        last[case_id] = index[session_id]
    upcoming = len(sessions) + 1
    due_in = {case_id: last[case_id] + REPEAT_AFTER_SESSIONS[level] - upcoming
              for case_id, level in box.items() if level is not None}
    return _History(due_in, last)


def practice_cases(store: Store, user_id: int, practice_set: str, length: int,
                   seed: int | None = None) -> list[int]:
    """The cases of a new session, in the order they will be shown (see the module's
    docstring)."""
    with store.read() as cur:
        return _practice_cases(cur, user_id, parse_practice_set(practice_set), length, seed)


def _practice_cases(cur: duckdb.DuckDBPyConnection, user_id: int, chosen: PracticeSet,
                    length: int, seed: int | None) -> list[int]:
    rng = random.Random(seed)
    history = _history(cur, user_id)
    locked = locked_cases(cur, user_id)
    pool = [case_id for case_id, birads_ref, descriptors, split in _nodules(cur)
            if chosen.matches(birads_ref, descriptors, split) and case_id not in locked]
    rng.shuffle(pool)
    if chosen.kind == "missed":
        pool = sorted((c for c in pool if c in history.due_in), key=history.due_in.__getitem__)
        if not pool:
            raise UserError("you have no missed cases to review")
    else:
        due = [c for c in pool if history.due_in.get(c, 1) <= 0]
        unseen = [c for c in pool if c not in history.last_read]
        rest = sorted((c for c in pool if c in history.last_read and c not in due),
                      key=lambda c: (c in history.due_in, history.last_read[c]))
        pool = due + unseen + rest
    if not pool:
        raise UserError(f"no cases in the practice set {chosen.label!r}")
    picked = pool[:length]
    rng.shuffle(picked)
    return picked


def practice_set_options(store: Store, user_id: int) -> list[tuple[str, str, int]]:
    """(code, label, number of cases) of every practice set that holds cases."""
    with store.read() as cur:
        nodules = _nodules(cur)
        history = _history(cur, user_id)
    ids = {case_id for case_id, *_ in nodules}
    sets = [PracticeSet("all"), PracticeSet("test"), PracticeSet("missed")]
    sets += [PracticeSet("birads", birads=b) for b in sorted(
        {b for _, b, _, _ in nodules if b}, key=REFERENCE_BIRADS.index)]
    sets += [PracticeSet("descriptor", descriptor=key, value=value)
             for key, values in DESCRIPTORS.items() for value in values]
    options = []
    for chosen in sets:
        if chosen.kind == "missed":
            count = len(ids & history.due_in.keys())
        else:
            count = sum(chosen.matches(b, d, s) for _, b, d, s in nodules)
        if count:
            options.append((chosen.code, chosen.label, count))
    return options


def start_session(store: Store, user_id: int, practice_set: str, length: int,
                  seed: int | None = None) -> int:
    """Create a practice session of up to ``length`` cases; returns its id."""
    if isinstance(length, bool) or not isinstance(length, int) or not \
            1 <= length <= MAX_SESSION_LENGTH:
        raise UserError(f"the session length must be a whole number from 1 to "
                        f"{MAX_SESSION_LENGTH}, got {length!r}")
    chosen = parse_practice_set(practice_set)
    with store.transaction() as cur:
        if not cur.execute("SELECT 1 FROM users WHERE user_id = ?", [user_id]).fetchone():
            raise UserError(f"no user with id {user_id}")
        case_ids = _practice_cases(cur, user_id, chosen, length, seed)
        model_id = model_choice(cur).model_id
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
class _Session:
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
        return None if row is None else AIOutput(row[0], row[1], row[2])


def _load(cur: duckdb.DuckDBPyConnection, session_id: int, user_id: int) -> _Session:
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
        "SELECT case_id, step, model_id, ai_prob, ai_threshold, note FROM quiz_steps"
        " WHERE session_id = ?", [session_id]).fetchall()}
    return _Session(session_id, json.loads(row[2]), row[3], reads, steps)


def _view(cur: duckdb.DuckDBPyConnection, session: _Session) -> QuizView:
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
        return _view(cur, _load(cur, session_id, user_id))


_STEP_NAMES = {"present": "the answer", "ai": "the AI", "truth": "the truth",
               "summary": "the summary"}


def _expect(session: _Session, case_id: int, step: str) -> None:
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
        session = _load(cur, session_id, user_id)
        _expect(session, case_id, "present")
        insert_read(cur, session_id, user_id, case_id, "unaided", answer, None)
        model_id = session.model_id or model_choice(cur).model_id
        ai = model_choice(cur).reason if model_id is None else ai_output(cur, model_id, case_id)
        if isinstance(ai, AIOutput):
            cur.execute("INSERT INTO quiz_steps (session_id, case_id, step, model_id, ai_prob,"
                        " ai_threshold) VALUES (?, ?, 'ai', ?, ?, ?)",
                        [session_id, case_id, ai.model_id, ai.probability, ai.threshold])
        else:
            cur.execute("INSERT INTO quiz_steps (session_id, case_id, step, model_id, note)"
                        " VALUES (?, ?, 'no_ai', ?, ?)", [session_id, case_id, model_id, ai])
    return state(store, session_id, user_id)


def submit_aided(store: Store, session_id: int, user_id: int, case_id: int, birads: object,
                 probability: object, seconds: object = None) -> QuizView:
    """Store the read after the AI (kept or revised), then open the truth."""
    answer = validate_answer(birads, probability, None, seconds)
    with store.transaction() as cur:
        session = _load(cur, session_id, user_id)
        _expect(session, case_id, "ai")
        insert_read(cur, session_id, user_id, case_id, "aided", answer, session.ai(case_id))
    return state(store, session_id, user_id)


def advance(store: Store, session_id: int, user_id: int, case_id: int) -> QuizView:
    """Leave the truth of the current case for the next case (or the summary)."""
    with store.transaction() as cur:
        session = _load(cur, session_id, user_id)
        _expect(session, case_id, "truth")
        cur.execute("INSERT INTO quiz_steps (session_id, case_id, step) VALUES (?, ?, 'next')",
                    [session_id, case_id])
    return state(store, session_id, user_id)


def end_session(store: Store, session_id: int, user_id: int) -> QuizView:
    """End the session at the current case (its stored reads stay; the cases after it are
    dropped); the summary covers what was read."""
    with store.transaction() as cur:
        session = _load(cur, session_id, user_id)
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
    lines.append(f"The AI gave {ai.probability:.0%} (its cut-off is {ai.threshold:.0%}) and "
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


# ---- the session summary -------------------------------------------------------------------

@dataclass(frozen=True)
class PhaseSummary:
    """One set of reads (unaided or aided) against the truth; BI-RADS 4A and above called
    malignant. ``birads_auc`` needs two malignant and two benign cases (else None)."""

    n: int
    correct: int
    accuracy: Estimate
    sensitivity: Estimate
    specificity: Estimate
    birads_auc: AucResult | None
    median_seconds: float | None


def phase_summary(truth: list[int], birads: list[str],
                  seconds: list[float | None]) -> PhaseSummary:
    """Correct calls, accuracy, sensitivity and specificity (Wilson CIs), the ordinal BI-RADS
    AUC (DeLong CI) and the median time of a set of reads; ``truth`` 1 for malignant."""
    called = [int(calls_malignant(b)) for b in birads]
    metrics = threshold_metrics(truth, called)
    positives = sum(truth)
    auc = (auc_ci(truth, birads_scores(birads))
           if positives >= 2 and len(truth) - positives >= 2 else None)
    timed = [s for s in seconds if s is not None]
    return PhaseSummary(len(truth), sum(c == t for c, t in zip(called, truth)),
                        metrics["accuracy"], metrics["sensitivity"], metrics["specificity"], auc,
                        statistics.median(timed) if timed else None)


@dataclass(frozen=True)
class SessionSummary:
    """A session's reads so far. ``aided`` covers the cases where the AI was shown;
    ``helpful``/``harmful``: calls the AI step turned right/wrong; ``no_ai``: cases with no AI
    shown (no aided read stored), with the reasons."""

    cases: int
    unaided: PhaseSummary
    aided: PhaseSummary | None
    helpful: int
    harmful: int
    no_ai: int
    no_ai_reasons: tuple[str, ...]
    median_seconds_per_case: float | None


def session_summary(store: Store, session_id: int, user_id: int) -> SessionSummary | None:
    """The summary of the reads stored in a session (None before the first read)."""
    with store.read() as cur:
        session = _load(cur, session_id, user_id)
        labels = dict(cur.execute(
            "SELECT case_id, label FROM cases WHERE case_id IN (SELECT unnest(?))",
            [session.case_ids]).fetchall())
    read = [c for c in session.case_ids if (c, "unaided") in session.reads]
    if not read:
        return None
    aided = [c for c in read if (c, "aided") in session.reads]

    def phase(cases: list[int], mode: str) -> PhaseSummary:
        answers = [session.reads[(c, mode)] for c in cases]
        return phase_summary([int(labels[c] == "malignant") for c in cases],
                             [a.birads for a in answers], [a.seconds for a in answers])

    helpful = harmful = 0
    if aided:
        ledger = change_ledger(
            [int(labels[c] == "malignant") for c in aided],
            [int(session.reads[(c, "unaided")].malignant) for c in aided],
            [int(session.reads[(c, "aided")].malignant) for c in aided])
        helpful, harmful = ledger["helpful"], ledger["harmful"]
    no_ai = [session.steps[(c, "no_ai")][3] for c in read if (c, "no_ai") in session.steps]
    per_case = [sum(answer.seconds for answer in (session.reads.get((c, mode))
                                                  for mode in ("unaided", "aided"))
                    if answer and answer.seconds is not None)
                for c in read if session.reads[(c, "unaided")].seconds is not None]
    return SessionSummary(len(read), phase(read, "unaided"), phase(aided, "aided") if aided
                          else None, helpful, harmful, len(no_ai), tuple(dict.fromkeys(no_ai)),
                          statistics.median(per_case) if per_case else None)
