"""Which cases a practice session holds: practice sets and spaced repetition.

Cases: nodules only (label benign or malignant, split not 'excluded'), less those of a reader
study the user has not finished (:func:`core.reads.locked_cases`). A read "calls malignant"
when its BI-RADS is 4A or above (the study's convention).

Spaced repetition (counted in practice sessions started, not days): a case whose unaided read
was wrong is due again in the user's next session; each later correct unaided read moves it
on, due again 3 and then 7 sessions after that read; the third correct read in a row retires
it, and any wrong read starts over.

With a model shown (:mod:`core.shown_model`), a session draws only cases that model has an
honest output for (never one it trained on, :func:`core.reads.honest_cases`): the training
split joins once the model's cross-fitted outputs exist (``python -m core train ...
--crossfit``; the demo trains them in the background). :func:`honest_share` says how many. A session's cases are chosen first among those due (within
the chosen practice set), then among cases never read, then the longest unread, and shown in a
random order; the set "missed" holds every queued case, those due first.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

import duckdb

from core.errors import UserError
from core.lexicon import BIRADS_CATEGORIES, DESCRIPTORS, calls_malignant, validate_descriptors
from core.reads import honest_cases, locked_cases
from core.shown_model import model_choice
from core.store import Store

REPEAT_AFTER_SESSIONS = (1, 3, 7)
REFERENCE_BIRADS = ("1", *BIRADS_CATEGORIES, "6")  # a case's reference may also be 1 or 6
_NODULES = ("SELECT c.case_id, c.birads_ref, c.descriptors, s.split FROM cases c"
            " LEFT JOIN splits s USING (case_id)"
            " WHERE c.label IN ('benign', 'malignant') AND coalesce(s.split, '') <> 'excluded'")


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


def _nodules(cur: duckdb.DuckDBPyConnection, model_id: str | None = None
             ) -> list[tuple[int, str | None, dict, str | None]]:
    """The practice nodules; with ``model_id``, only those it has an honest output for."""
    honest = None if model_id is None else honest_cases(cur, model_id)
    return [(case_id, birads_ref, json.loads(desc) if desc else {}, split)
            for case_id, birads_ref, desc, split in cur.execute(_NODULES).fetchall()
            if honest is None or case_id in honest]


@dataclass(frozen=True)
class HonestShare:
    """How many practice nodules the quiz's model can show an honest output for."""

    model_id: str | None
    honest: int
    nodules: int

    @property
    def text(self) -> str | None:
        """The sentence a page shows where some cases are left out (None: none are)."""
        if self.model_id is None or self.honest == self.nodules:
            return None
        return (f"The AI ({self.model_id}) has an output it could honestly show for "
                f"{self.honest} of the {self.nodules} cases (it trained on the others, or has "
                "not read them): sessions draw only from these until its cross-fitted outputs "
                "exist.")


def honest_share(store: Store) -> HonestShare:
    """See :class:`HonestShare`."""
    with store.read() as cur:
        model_id = model_choice(cur).model_id
        nodules = len(_nodules(cur))
        honest = nodules if model_id is None else len(_nodules(cur, model_id))
    return HonestShare(model_id, honest, nodules)


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
        return pick_cases(cur, user_id, parse_practice_set(practice_set), length, seed,
                          model_choice(cur).model_id)


def pick_cases(cur: duckdb.DuckDBPyConnection, user_id: int, chosen: PracticeSet,
               length: int, seed: int | None, model_id: str | None = None) -> list[int]:
    """The cases of a new session in ``chosen``, in the order they will be shown; with
    ``model_id``, only cases it has an honest output for."""
    rng = random.Random(seed)
    history = _history(cur, user_id)
    locked = locked_cases(cur, user_id)
    pool = [case_id for case_id, birads_ref, descriptors, split in _nodules(cur, model_id)
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
        honest = "" if model_id is None else (f" that the AI ({model_id}) has an output it "
                                              "could honestly show for")
        raise UserError(f"no cases in the practice set {chosen.label!r}{honest}")
    picked = pool[:length]
    rng.shuffle(picked)
    return picked


def practice_set_options(store: Store, user_id: int) -> list[tuple[str, str, int]]:
    """(code, label, number of cases) of every practice set that holds cases."""
    with store.read() as cur:
        nodules = _nodules(cur, model_choice(cur).model_id)
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
