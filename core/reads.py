"""Reads, their one owner: the answer a reader gives, the model output shown beside it, storing
a read, and the cases an unfinished reader study keeps out of practice.

Invariants: ``reads`` is append-only and this module holds its one ``INSERT`` (a second read of
a case in the same session and mode is refused); ``reads.probability`` is the reader's 0-100 %,
``reads.ai_prob`` and ``predictions.prob_malignant`` are 0-1; a model's output is judged at its
stored ``models.threshold`` (:data:`DEFAULT_THRESHOLD` where it has none), the same figure
wherever the output is shown or explained (quiz, study, heatmap).

Only out-of-sample outputs reach a person: a prediction is shown, explained by a heatmap or
counted in a figure only when its ``source`` is one of :data:`SHOWN_SOURCES`, i.e. the model
that made it never trained on the case. An ``in_sample`` output (the final quick model on its
own training cases, until cross-fitted outputs replace it) is never shown; the reason a
person reads instead is :data:`NO_HONEST_OUTPUT`. A read stores what was shown: model id,
probability, threshold and the SHA-256 of the checkpoint that made the probability.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import duckdb

from core.errors import UserError
from core.lexicon import BIRADS_CATEGORIES, calls_malignant, validate_descriptors

DEFAULT_THRESHOLD = 0.5
MAX_DECIMALS = 2  # decimals of a percentage, at most, that tell an output from its cut-off
# Prediction sources from a model that never trained on the case (see the migration
# 012_honest_outputs.sql); 'in_sample' is the one source never shown.
SHOWN_SOURCES = ("test", "validation", "out_of_fold", "held_out")
NO_HONEST_OUTPUT = "the AI has no output it could honestly show for this case: it trained on it"


@dataclass(frozen=True)
class Answer:
    """A stored or submitted read: BI-RADS, probability of malignancy in %, seconds spent."""

    birads: str
    probability: float
    descriptors: dict[str, str] | None = None
    seconds: float | None = None

    @property
    def malignant(self) -> bool:
        return calls_malignant(self.birads)


@dataclass(frozen=True)
class AIOutput:
    """A model's stored output for a case as shown to a reader; ``probability`` in 0-1."""

    model_id: str
    probability: float
    threshold: float
    checkpoint_sha256: str | None = None   # the checkpoint that made ``probability``

    @property
    def malignant(self) -> bool:
        return self.probability >= self.threshold

    @property
    def figures(self) -> tuple[str, str]:
        """The probability and the cut-off as a person reads them: whole percent, with one
        more decimal (up to :data:`MAX_DECIMALS`) while the two round alike, so the numbers
        agree with the call (malignant at or above the cut-off; never "56% (cut-off 56%),
        benign"). Where even that cannot tell them apart, the probability says "just below"
        or "just above" the cut-off."""
        for decimals in range(MAX_DECIMALS + 1):
            probability = f"{self.probability:.{decimals}%}"
            cut_off = f"{self.threshold:.{decimals}%}"
            if probability != cut_off or self.probability == self.threshold:
                return probability, cut_off
        return f"just {'above' if self.malignant else 'below'} {cut_off}", cut_off


def validate_answer(birads: object, probability: object,
                    descriptors: Mapping[str, str] | None = None,
                    seconds: object = None) -> Answer:
    """The answer as stored, or UserError naming what is wrong with the form."""
    if birads is None or not str(birads).strip():
        raise UserError("choose a BI-RADS category")
    category = str(birads).strip().upper()
    if category not in BIRADS_CATEGORIES:
        raise UserError(f"BI-RADS {birads!r} is not a category you can give: choose one of "
                        f"{', '.join(BIRADS_CATEGORIES)}")
    try:
        percent = float(probability)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"the probability of malignancy must be a number, got {probability!r}"
                        ) from None
    if not math.isfinite(percent) or not 0 <= percent <= 100:
        raise UserError(f"the probability of malignancy must lie between 0 and 100 %, "
                        f"got {probability!r}")
    chosen = {key: value for key, value in (descriptors or {}).items() if value}
    try:
        validate_descriptors(chosen)
    except ValueError as error:
        raise UserError(str(error)) from None
    spent = None
    if seconds is not None:
        try:
            spent = float(seconds)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"seconds spent must be a number, got {seconds!r}") from None
        if not math.isfinite(spent) or spent < 0:
            raise UserError(f"seconds spent must be a non-negative number, got {seconds!r}")
    return Answer(category, percent, chosen or None, spent)


def insert_read(cur: duckdb.DuckDBPyConnection, session_id: int, user_id: int, case_id: int,
                mode: str, answer: Answer, ai: AIOutput | None,
                created_at: datetime | None = None) -> None:
    """Store one read (inside the caller's write transaction, after its checks); ``ai`` is
    the model output shown with it. UserError if this read is already stored."""
    columns = ["session_id", "user_id", "case_id", "mode", "birads", "probability",
               "descriptors", "seconds", "model_id", "ai_prob", "ai_threshold",
               "checkpoint_sha256"]
    values = [session_id, user_id, case_id, mode, answer.birads, answer.probability,
              json.dumps(answer.descriptors) if answer.descriptors else None, answer.seconds,
              *((ai.model_id, ai.probability, ai.threshold, ai.checkpoint_sha256) if ai
                else (None,) * 4)]
    if created_at is not None:  # else the column's default, the store's clock
        columns.append("created_at")
        values.append(created_at)
    try:
        cur.execute(f"INSERT INTO reads ({', '.join(columns)})"
                    f" VALUES ({', '.join('?' * len(values))})", values)
    except duckdb.ConstraintException:
        raise UserError(f"your {mode} read of this case is already stored and cannot be "
                        "changed") from None


def model_threshold(cur: duckdb.DuckDBPyConnection, model_id: str) -> float | None:
    """The model's stored cut-off (:data:`DEFAULT_THRESHOLD` where it has none); None when
    there is no such model."""
    row = cur.execute("SELECT threshold FROM models WHERE model_id = ?", [model_id]).fetchone()
    if row is None:
        return None
    return DEFAULT_THRESHOLD if row[0] is None else float(row[0])


def shown_sql(alias: str = "p") -> str:
    """The SQL condition that keeps only predictions a person may see (``alias.source``)."""
    return f"{alias}.source IN ({', '.join(repr(source) for source in SHOWN_SOURCES)})"


def ai_outputs(cur: duckdb.DuckDBPyConnection, model_id: str, case_ids: list[int]
               ) -> dict[int, AIOutput]:
    """The model's output that may be shown for each of ``case_ids`` (none for a case it has
    only an in-sample prediction of, or no prediction; none when there is no such model), with
    the checkpoint that made it: the fold model's for an out-of-fold output."""
    threshold = model_threshold(cur, model_id)
    if threshold is None:
        return {}
    rows = cur.execute(
        "SELECT p.case_id, p.prob_malignant,"
        " CASE WHEN p.source = 'out_of_fold' THEN f.checkpoint_sha256"
        " ELSE m.checkpoint_sha256 END"
        " FROM predictions p JOIN models m USING (model_id)"
        " LEFT JOIN crossfit_folds f ON f.model_id = p.model_id AND f.fold = p.fold"
        f" WHERE p.model_id = ? AND {shown_sql()} AND p.case_id IN (SELECT unnest(?))",
        [model_id, [int(c) for c in case_ids]]).fetchall()
    return {case_id: AIOutput(model_id, float(prob), threshold, sha)
            for case_id, prob, sha in rows}


def ai_output(cur: duckdb.DuckDBPyConnection, model_id: str, case_id: int) -> AIOutput | str:
    """The model's output for the case that may be shown, or the reason there is none in
    plain words."""
    if model_threshold(cur, model_id) is None:
        return f"the model {model_id} is not trained yet"
    found = ai_outputs(cur, model_id, [case_id]).get(int(case_id))
    if found:
        return found
    if cur.execute("SELECT 1 FROM predictions WHERE model_id = ? AND case_id = ?",
                   [model_id, int(case_id)]).fetchone():
        return NO_HONEST_OUTPUT
    return f"the model {model_id} has no prediction for this case"


def honest_cases(cur: duckdb.DuckDBPyConnection, model_id: str) -> set[int]:
    """The cases the model has an output of that may be shown."""
    return {case_id for (case_id,) in cur.execute(
        f"SELECT case_id FROM predictions p WHERE model_id = ? AND {shown_sql()}",
        [model_id]).fetchall()}


def locked_cases(cur: duckdb.DuckDBPyConnection, user_id: int) -> set[int]:
    """The cases of the reader studies this user reads in and has not finished (no aided read
    of every case yet). Practising them, or seeing their truth or the model's output
    elsewhere (quiz, model comparison), would contaminate the study's reads."""
    rows = cur.execute("""
        SELECT rs.case_ids FROM reader_studies rs
        JOIN study_readers sr ON sr.study_id = rs.study_id AND sr.user_id = ?
        WHERE (SELECT count(DISTINCT r.case_id) FROM reads r
               JOIN quiz_sessions qs ON qs.session_id = r.session_id
               WHERE qs.study_id = rs.study_id AND qs.user_id = sr.user_id
                 AND r.mode = 'aided') < json_array_length(rs.case_ids)
    """, [user_id]).fetchall()
    return {int(case_id) for (case_ids,) in rows for case_id in json.loads(case_ids)}
