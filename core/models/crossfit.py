"""Cross-fitted outputs for a trained model's own training cases.

A quick model predicts its training cases in-sample (it trained on them), and such outputs are
never shown (:mod:`core.reads`). Cross-fitting gives those cases honest outputs: the training
split's folds are grouped into K (split fold ``f`` goes to cross-fit fold ``position(f) % K``,
so a patient or near-duplicate group stays in one fold), and per fold one model of the same
architecture, profile, framing, image size, initialisation and seed family trains on the other
folds and predicts its held-out fold. Early stopping stays honest without a further inner
split: each fold model trains on a fixed schedule of the main model's chosen epoch count
(``models.epochs``, chosen on the main model's validation fold), as the paper profile's refit
does; no fold model looks at its held-out fold before predicting it.

Its predictions replace the main model's ``in_sample`` rows for those cases as
``out_of_fold`` (``predictions.fold`` = the cross-fit fold), the main model's threshold and
``cv_auc`` stay as they were, and each fold checkpoint is written atomically and recorded in
``crossfit_folds`` with its SHA-256, so a heatmap of a training case is computed with the fold
model that never saw it (:mod:`core.heatmaps.case_heatmap`). Rows already honest
(``validation``, ``test``) are left alone. A rerun replaces the previous folds; retraining the
main model drops them (:func:`core.models.train.save_trained`).
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np

from core.errors import UserError
from core.models.data import check_split, load_cases
from core.models.engine import backend_flags
from core.models.fold_models import FoldStates, remove, replace_fold_rows, write_fold_checkpoints
from core.models.profiles import Profile, profile_for
from core.models.train import Progress, _Reporter, _Trainer, resolve_device
from core.models.weights import find_weights
from core.store import Store

DEFAULT_FOLDS = 5


def crossfit_folds(split_folds: list[int], folds: int) -> dict[int, int]:
    """Split fold -> cross-fit fold (see the module's docstring); UserError when ``folds``
    is not between 2 and the number of split folds."""
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise UserError(f"--crossfit needs at least 2 folds (got {folds!r})")
    if folds > len(split_folds):
        raise UserError(f"--crossfit {folds}: the split has only {len(split_folds)} "
                        "cross-validation folds; use fewer or re-split with --folds "
                        f"{folds}")
    return {fold: position % folds for position, fold in enumerate(sorted(split_folds))}


def _model_row(store: Store, model_id: str) -> dict:
    with store.read() as cur:
        row = cur.execute("SELECT arch, dataset, init, profile, image_size, framing, epochs, "
                          "seed, config FROM models WHERE model_id = ?", [model_id]).fetchone()
    if row is None:
        raise UserError(f"no model {model_id!r} in the store")
    keys = ("arch", "dataset", "init", "profile", "image_size", "framing", "epochs", "seed",
            "config")
    found = dict(zip(keys, row))
    found["config"] = json.loads(found["config"]) if found["config"] else {}
    return found


def crossfit_model(store: Store, model_id: str, folds: int = DEFAULT_FOLDS,
                   device: str = "auto", weights_dir: str | os.PathLike | None = None,
                   progress: Progress | None = None,
                   cancel: threading.Event | None = None) -> dict:
    """Train ``model_id``'s K fold models and store their out-of-fold predictions and
    checkpoints (see the module's docstring); returns a summary. Nothing is stored when it is
    cancelled or fails."""
    model = _model_row(store, model_id)
    torch_device = resolve_device(device)
    stored_profile = model["config"].get("profile", {})
    profile = replace(
        profile_for(model["profile"], model["arch"], epochs=max(1, int(model["epochs"] or 1)),
                    image_size=int(model["image_size"]), cuda=torch_device.type == "cuda",
                    framing=model["framing"] or "full",
                    deterministic=bool(stored_profile.get("deterministic", False)),
                    compile=bool(stored_profile.get("compile", False))),
        fold0_validation=False)
    data = load_cases(store, model["dataset"], profile.image_size, profile.framing)
    check_split(data)
    data = data.to(torch_device)
    mapping = crossfit_folds(data.folds, folds)
    train = data.split == "train"
    crossfit_fold = np.array([mapping.get(int(f), -1) for f in data.fold])
    weights_path = find_weights(model["arch"], model["init"], weights_dir)
    reporter = _Reporter(progress, [model["arch"]])
    trainer = _Trainer(data, model["arch"], profile, torch_device, int(model["seed"] or 0),
                       weights_path, reporter, cancel)
    fit_sets = [np.flatnonzero(train & (crossfit_fold != k)) for k in range(folds)]
    reporter.start(0, trainer.planned_steps(fit_sets))
    prob = np.full(len(data.case_ids), np.nan)
    states: FoldStates = {}
    with backend_flags(profile):
        for k, fit_idx in enumerate(fit_sets):
            fold_model = trainer.new_model(trainer.seed + 100 + k)
            trainer.fit(fold_model, fit_idx, None, trainer.seed + 100 + k,
                        f"cross-fit fold {k + 1}/{folds}, ")
            held_out = np.flatnonzero(train & (crossfit_fold == k))
            prob[held_out] = trainer.predict(fold_model, held_out)
            states[k] = {name: value.detach().cpu().contiguous()
                         for name, value in fold_model.state_dict().items()}
            del fold_model
    reporter.emit("saving")
    rows = [(int(case_id), float(prob[i]), int(crossfit_fold[i]))
            for i, case_id in enumerate(data.case_ids) if train[i]]
    saved = save_crossfit(store, model_id, model, profile, states, rows)
    reporter.done = reporter.planned
    reporter.emit(f"cross-fitted {saved} training cases over {folds} folds")
    return {"model_id": model_id, "folds": folds, "epochs": profile.epochs,
            "out_of_fold": saved}


def save_crossfit(store: Store, model_id: str, model: dict, profile: Profile,
                  states: FoldStates, rows: list[tuple[int, float, int]]) -> int:
    """Write the fold checkpoints, then in one transaction replace the model's fold rows and
    turn its ``in_sample`` predictions of ``rows``' cases into ``out_of_fold`` ones, dropping
    any heatmap of those cases (made by a model that trained on them); returns how many
    predictions were replaced. The previous folds' files go after the commit."""
    stamp = "crossfit-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    written = write_fold_checkpoints(store, model_id, model["arch"], profile, states, stamp)
    try:
        with store.transaction() as cur:
            if not cur.execute("SELECT 1 FROM models WHERE model_id = ?", [model_id]).fetchone():
                raise UserError(f"the model {model_id} was removed while it was cross-fitted")
            old = replace_fold_rows(cur, store, model_id, written, profile.epochs)
            replaced = cur.execute(
                "UPDATE predictions SET prob_malignant = r.prob, source = 'out_of_fold',"
                " fold = r.fold FROM (SELECT unnest(?) AS case_id, unnest(?) AS prob,"
                " unnest(?) AS fold) r WHERE predictions.model_id = ?"
                " AND predictions.case_id = r.case_id"
                " AND predictions.source IN ('in_sample', 'out_of_fold') RETURNING 1",
                [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                 model_id]).fetchall()
            cur.execute("DELETE FROM heatmaps WHERE model_id = ? AND case_id IN"
                        " (SELECT unnest(?))", [model_id, [r[0] for r in rows]])
    except BaseException:
        remove(written)
        raise
    for stale in old:
        store.resolve(stale).unlink(missing_ok=True)
    return len(replaced)
