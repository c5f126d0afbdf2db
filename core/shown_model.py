"""The model shown beside a case: the supervisor's choice (setting ``quiz_model``), else the
model with the best cross-validated AUC. The practice quiz shows it, and a new reader study
shows it in its aided phase unless the supervisor picks another."""
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
    row = cur.execute("SELECT model_id FROM models WHERE cv_auc IS NOT NULL"
                      " ORDER BY cv_auc DESC, created_at DESC LIMIT 1").fetchone()
    if row is not None:
        return ModelChoice(row[0], "the best cross-validated AUC")
    return ModelChoice(None, "no model is trained yet")


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
