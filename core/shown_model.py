"""The model shown beside a case: the supervisor's choice (setting ``quiz_model``), else the
model of the quiz's dataset with the best cross-validated AUC. The practice quiz shows it, and
a new reader study shows it in its aided phase unless the supervisor picks another.

The quiz's dataset is the dataset with the most practice nodules (benign or malignant cases
not excluded by the split; ties: the first name): the one whose cases a trainee mostly
practises on. Choosing among its models only by ``cv_auc`` (validation or out-of-fold, never
test) keeps the test split out of the choice, and a model of another dataset, which has no
output for these cases, is never the default."""
from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb

from core.auth import STAFF_ROLES, User
from core.errors import UserError
from core.store import Store

QUIZ_MODEL_KEY = "quiz_model"


@dataclass(frozen=True)
class ModelChoice:
    """The model the quiz shows (None when there is none) and why, in plain words."""

    model_id: str | None
    reason: str


def model_choice(cur: duckdb.DuckDBPyConnection) -> ModelChoice:
    """The model shown now (see the module's docstring)."""
    row = cur.execute("SELECT value FROM settings WHERE key = ?", [QUIZ_MODEL_KEY]).fetchone()
    if row is not None:
        chosen = json.loads(row[0])
        if cur.execute("SELECT 1 FROM models WHERE model_id = ?", [chosen]).fetchone():
            return ModelChoice(chosen, "chosen by the supervisor")
        return ModelChoice(None, f"the model chosen by the supervisor ({chosen}) is not "
                                 "trained yet")
    dataset = quiz_dataset(cur)
    row = cur.execute("SELECT model_id FROM models WHERE cv_auc IS NOT NULL AND dataset = ?"
                      " ORDER BY cv_auc DESC, created_at DESC LIMIT 1", [dataset]).fetchone()
    if row is not None:
        return ModelChoice(row[0], f"the best cross-validated AUC on {dataset}")
    if cur.execute("SELECT count(*) FROM models WHERE cv_auc IS NOT NULL").fetchone()[0]:
        return ModelChoice(None, f"no model of {dataset}, the dataset practised on, is "
                                 "trained yet")
    return ModelChoice(None, "no model is trained yet")


def quiz_dataset(cur: duckdb.DuckDBPyConnection) -> str | None:
    """The dataset with the most practice nodules (see the module's docstring)."""
    row = cur.execute(
        "SELECT c.dataset FROM cases c LEFT JOIN splits s USING (case_id)"
        " WHERE c.label IN ('benign', 'malignant') AND coalesce(s.split, '') <> 'excluded'"
        " GROUP BY c.dataset ORDER BY count(*) DESC, c.dataset LIMIT 1").fetchone()
    return None if row is None else row[0]


def quiz_model(store: Store) -> ModelChoice:
    """The model the quiz shows now."""
    with store.read() as cur:
        return model_choice(cur)


def saved_quiz_model(store: Store) -> str | None:
    """The model the supervisor picked (None: the default, the best cv AUC)."""
    with store.read() as cur:
        row = cur.execute("SELECT value FROM settings WHERE key = ?", [QUIZ_MODEL_KEY]).fetchone()
    return None if row is None else json.loads(row[0])


def trained_models(store: Store) -> list[tuple[str, str, float | None]]:
    """(model_id, arch, cv_auc) of every trained model, the best cv AUC first."""
    with store.read() as cur:
        return cur.execute("SELECT model_id, arch, cv_auc FROM models"
                           " ORDER BY cv_auc DESC NULLS LAST, model_id").fetchall()


def set_quiz_model(store: Store, user: User, model_id: str | None) -> None:
    """The supervisor picks the model the quiz shows (None: back to the best cv AUC)."""
    if user.role not in STAFF_ROLES:
        raise UserError("only a supervisor can choose the model the quiz shows")
    with store.transaction() as cur:
        if model_id is None:
            cur.execute("DELETE FROM settings WHERE key = ?", [QUIZ_MODEL_KEY])
            return
        if not cur.execute("SELECT 1 FROM models WHERE model_id = ?", [model_id]).fetchone():
            raise UserError(f"no trained model {model_id!r}")
        cur.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key)"
                    " DO UPDATE SET value = excluded.value", [QUIZ_MODEL_KEY, json.dumps(model_id)])
