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

No set is named by what its cases are (a set "Reference BI-RADS 2" or "margin: spiculated"
told the answer before the read): besides all cases, the test split and one's missed cases, a
balanced set holds every case of every kind of one feature (the reference BI-RADS category or
a lexicon descriptor) and a session takes the kinds in turn, within each of the tiers above.
Cases a reader study locks (:func:`core.reads.locked_cases`) are left out; a set whose cases
are locked says by which study and until when (:func:`core.studies.protocol.study_locks`).
"""
from __future__ import annotations

import itertools
import json
import random
import re
from dataclasses import dataclass

import duckdb

from core.display_names import model_names
from core.errors import UserError
from core.lexicon import DESCRIPTORS, calls_malignant
from core.reads import honest_cases, locked_cases
from core.shown_model import model_choice
from core.store import Store
from core.studies.protocol import study_locks

REPEAT_AFTER_SESSIONS = (1, 3, 7)
_NODULES = ("SELECT c.case_id, c.birads_ref, c.descriptors, s.split FROM cases c"
            " LEFT JOIN splits s USING (case_id)"
            " WHERE c.label IN ('benign', 'malignant') AND coalesce(s.split, '') <> 'excluded'")


BALANCED_BY = ("birads", *DESCRIPTORS)  # the features a balanced set mixes evenly
SET_HELP = ("A set's name never tells what its cases are: a balanced set holds cases of every "
            "kind of its feature (reference BI-RADS category or lexicon descriptor) and draws "
            "them in turn, so rare kinds come as often as common ones.")


@dataclass(frozen=True)
class PracticeSet:
    """``all``, ``test``, ``missed`` or ``balanced:<feature>`` (``birads`` or a lexicon
    descriptor). No set is named by what its cases are (a set "BI-RADS 2" or "spiculated
    margin" would give the answer away): a balanced set holds every case with a reference
    value of its feature, of every kind, and a session draws the kinds in turn."""

    kind: str
    feature: str | None = None

    @property
    def code(self) -> str:
        return f"balanced:{self.feature}" if self.kind == "balanced" else self.kind

    @property
    def label(self) -> str:
        if self.kind == "balanced":
            feature = "BI-RADS category" if self.feature == "birads" else \
                self.feature.replace("_", " ")
            return f"Balanced by {feature}"
        return {"all": "All cases", "test": "The test split",
                "missed": "My missed cases"}[self.kind]

    def kind_of(self, birads_ref: str | None, descriptors: dict) -> str | None:
        """The case's kind of this set's feature (its reference value); None: none recorded."""
        return birads_ref if self.feature == "birads" else descriptors.get(self.feature)

    def matches(self, birads_ref: str | None, descriptors: dict, split: str | None) -> bool:
        if self.kind == "test":
            return split == "test"
        if self.kind == "balanced":
            return self.kind_of(birads_ref, descriptors) is not None
        return True


def parse_practice_set(code: str) -> PracticeSet:
    """The practice set a code names; UserError for anything unknown."""
    code = str(code).strip()
    if code in ("all", "test", "missed"):
        return PracticeSet(code)
    if (match := re.fullmatch(r"balanced:(\w+)", code)) and match.group(1) in BALANCED_BY:
        return PracticeSet("balanced", feature=match.group(1))
    raise UserError(f"unknown practice set {code!r}: use all, test, missed or "
                    f"balanced:<{'|'.join(BALANCED_BY)}>")


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
    model_name: str | None = None  # as a person reads it (core.display_names)

    @property
    def text(self) -> str | None:
        """The sentence a page shows where some cases are left out (None: none are)."""
        if self.model_id is None or self.honest == self.nodules:
            return None
        return (f"The AI ({self.model_name or self.model_id}) has an output it could honestly show for "
                f"{self.honest} of the {self.nodules} cases (it trained on the others, or has "
                "not read them): sessions draw only from these until its cross-fitted outputs "
                "exist.")


def honest_share(store: Store) -> HonestShare:
    """See :class:`HonestShare`."""
    with store.read() as cur:
        model_id = model_choice(cur).model_id
        nodules = len(_nodules(cur))
        honest = nodules if model_id is None else len(_nodules(cur, model_id))
    name = model_names(store).get(model_id) if model_id else None
    return HonestShare(model_id, honest, nodules, name)


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


def _members(chosen: PracticeSet, nodules: list[tuple[int, str | None, dict, str | None]],
             history: _History) -> dict[int, str | None]:
    """The set's cases (locked or not), each with its kind of the set's feature."""
    return {case_id: chosen.kind_of(birads_ref, descriptors) if chosen.feature else None
            for case_id, birads_ref, descriptors, split in sorted(nodules, key=lambda n: n[0])
            if chosen.matches(birads_ref, descriptors, split)
            and (chosen.kind != "missed" or case_id in history.due_in)}


def _in_turn(cases: list[int], kinds: dict[int, str | None]) -> list[int]:
    """The cases reordered one of each kind in turn, each kind's cases in their given order."""
    by_kind: dict[str | None, list[int]] = {}
    for case_id in cases:
        by_kind.setdefault(kinds[case_id], []).append(case_id)
    return [case_id for turn in itertools.zip_longest(*by_kind.values())
            for case_id in turn if case_id is not None]


def _lock_text(cur: duckdb.DuckDBPyConnection, user_id: int, locked: set[int]) -> str:
    """Which reader studies keep ``locked`` out of practice, and until when."""
    return "; ".join(lock.text for lock in study_locks(cur, user_id) if lock.case_ids & locked)


def pick_cases(cur: duckdb.DuckDBPyConnection, user_id: int, chosen: PracticeSet,
               length: int, seed: int | None, model_id: str | None = None) -> list[int]:
    """The cases of a new session in ``chosen``, in the order they will be shown; with
    ``model_id``, only cases it has an honest output for."""
    rng = random.Random(seed)
    history = _history(cur, user_id)
    locked = locked_cases(cur, user_id)
    members = _members(chosen, _nodules(cur, model_id), history)
    pool = [case_id for case_id in members if case_id not in locked]
    rng.shuffle(pool)
    if chosen.kind == "missed":
        pool = sorted(pool, key=history.due_in.__getitem__)
    else:
        due = [c for c in pool if history.due_in.get(c, 1) <= 0]
        unseen = [c for c in pool if c not in history.last_read]
        rest = sorted((c for c in pool if c in history.last_read and c not in due),
                      key=lambda c: (c in history.due_in, history.last_read[c]))
        if chosen.kind == "balanced":
            due, unseen, rest = (_in_turn(part, members) for part in (due, unseen, rest))
        pool = due + unseen + rest
    if not pool and members:  # every case of the set is locked by a study
        raise UserError(f"the practice set {chosen.label!r} is "
                        f"{_lock_text(cur, user_id, set(members))}")
    if not pool and chosen.kind == "missed":
        raise UserError("you have no missed cases to review")
    if not pool:
        honest = "" if model_id is None else (f" that the AI ({model_id}) has an output it "
                                              "could honestly show for")
        raise UserError(f"no cases in the practice set {chosen.label!r}{honest}")
    picked = pool[:length]
    rng.shuffle(picked)
    return picked


@dataclass(frozen=True)
class SetOption:
    """A practice set as the start form offers it."""

    code: str
    label: str
    count: int          # cases a session can draw now
    locked: int = 0     # cases a reader study keeps out for now
    lock: str = ""      # which study, and until when

    @property
    def text(self) -> str:
        cases = f"{self.count} case{'' if self.count == 1 else 's'}"
        if not self.locked:
            return f"{self.label} ({cases})"
        if not self.count:
            return f"{self.label}: {self.lock}"
        return f"{self.label} ({cases}; {self.locked} more {self.lock})"


def practice_set_options(store: Store, user_id: int) -> list[SetOption]:
    """Every practice set that holds cases (those a reader study locks for now included:
    the option says which study, and until when). A balanced set is offered where its
    feature has at least two kinds among the cases."""
    with store.read() as cur:
        nodules = _nodules(cur, model_choice(cur).model_id)
        history = _history(cur, user_id)
        locked = locked_cases(cur, user_id)
        sets = [PracticeSet("all"), PracticeSet("test"), PracticeSet("missed"),
                *(PracticeSet("balanced", feature=feature) for feature in BALANCED_BY)]
        options = []
        for chosen in sets:
            members = _members(chosen, nodules, history)
            if chosen.kind == "balanced" and len(set(members.values())) < 2:
                continue
            held = locked & members.keys()
            if members:
                options.append(SetOption(chosen.code, chosen.label, len(members) - len(held),
                                         len(held),
                                         _lock_text(cur, user_id, held) if held else ""))
    return options
