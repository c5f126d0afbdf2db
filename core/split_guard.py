"""What a new train/test split would change, and which models it has left behind.

A model's evaluation (its test AUC, the comparison page, the AI shown in a study) holds only
for the test split it was trained against: its ``predictions`` with ``source = 'test'`` are that
split's test cases. After a re-split those cases are no longer the dataset's test split (and
some of the new test cases may have been in its training set), so the model is *stale*: it is
shown as "evaluated on an earlier split" until retrained. Staleness is derived from the store
(the model's test cases against the split now), never recorded, so a re-split with the same
seed, which gives the same split, leaves every model current.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.store import Store

EARLIER_SPLIT = "evaluated on an earlier split"


@dataclass(frozen=True)
class SplitDependents:
    """What depends on a dataset's split: its models and the reader studies on its cases."""

    models: tuple[str, ...]
    studies: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.models or self.studies)


def split_dependents(store: Store, dataset: str) -> SplitDependents:
    """The dataset's trained models and the reader studies that use any of its cases."""
    with store.read() as cur:
        models = [m for (m,) in cur.execute(
            "SELECT model_id FROM models WHERE dataset = ? ORDER BY created_at, model_id",
            [dataset]).fetchall()]
        studies = [name for (name,) in cur.execute(
            "SELECT r.name FROM reader_studies r WHERE EXISTS (SELECT 1 FROM cases c"
            " WHERE c.dataset = ? AND list_contains(CAST(r.case_ids AS INTEGER[]), c.case_id))"
            " ORDER BY r.created_at, r.study_id", [dataset]).fetchall()]
    return SplitDependents(tuple(models), tuple(studies))


def stale_models(store: Store, dataset: str | None = None) -> set[str]:
    """Models (of ``dataset``, or of every dataset) whose test cases are not their dataset's
    test split now: a case they were tested on left it, or a case now in it was not tested."""
    with store.read() as cur:
        rows = cur.execute("""
            WITH now_test AS (
                SELECT c.dataset, s.case_id FROM splits s JOIN cases c USING (case_id)
                WHERE s.split = 'test'),
            tested AS (
                SELECT m.model_id, m.dataset, p.case_id FROM models m
                JOIN predictions p USING (model_id) WHERE p.source = 'test')
            SELECT m.model_id FROM models m
            WHERE (CAST(? AS VARCHAR) IS NULL OR m.dataset = ?)
              AND (EXISTS (SELECT 1 FROM tested t WHERE t.model_id = m.model_id
                           AND t.case_id NOT IN (SELECT case_id FROM now_test n
                                                 WHERE n.dataset = m.dataset))
                OR EXISTS (SELECT 1 FROM now_test n WHERE n.dataset = m.dataset
                           AND n.case_id NOT IN (SELECT case_id FROM tested t
                                                 WHERE t.model_id = m.model_id)))
        """, [dataset, dataset]).fetchall()
    return {model_id for (model_id,) in rows}
