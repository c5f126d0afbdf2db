"""Train architectures on a dataset and record everything in the store.

Per architecture: train (outside any transaction, so long jobs never hold the write lock),
predict every benign or malignant case, write the checkpoint atomically, then write the model
row and all its predictions in ONE transaction (replacing a previous model with the same id).

Honesty rules. The test split is touched once, by the final model. The threshold (Youden) and
``cv_auc`` come from cases the predicting model never trained on: fold 0 of the training split
(quick profile: that fold also chooses the epoch whose weights the final model keeps) or the
out-of-fold predictions of one model per fold (paper profile: the final model is then refit on
all training cases with the same fixed schedule).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torchvision

import core
from core import PROJECT_ROOT
from core.errors import UserError
from core.models.checkpoints import FORMAT, FORMAT_VERSION, save_checkpoint
from core.models.data import CaseTensors, cases_without_mask, check_split, load_cases
from core.models.engine import TrainingCancelled, backend_flags, batches, evaluate, fit
from core.models.fold_models import (FoldStates, remove, replace_fold_rows,
                                     write_fold_checkpoints)
from core.models.framing import choose_framing, region_record
from core.models.profiles import Profile, learning_rate, profile_for
from core.models.registry import CLASS_NAMES, build_model, parse_archs
from core.models.weights import find_weights, load_imagenet
from core.stats.metrics import youden_threshold
from core.stats.roc import auc_mw
from core.store import Store

Progress = Callable[[dict], None]


def model_id_for(arch: str, profile: str, dataset: str, seed: int) -> str:
    return f"{arch}-{profile}-{dataset}-s{seed}"


def code_version() -> str:
    """``core.__version__``, plus the git commit where the code is a git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT,
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{core.__version__}+g{commit}" if commit else core.__version__


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here (use auto or cpu)")
    if device not in ("cpu", "cuda"):
        raise UserError(f"--device must be auto, cpu or cuda (got {device!r})")
    return torch.device(device)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'s' if threads > 1 else ''})"


@dataclass
class TrainedModel:
    model_id: str
    arch: str
    dataset: str
    init: str
    profile: Profile
    seed: int
    state_dict: dict[str, torch.Tensor]
    rows: list[tuple[int, float, str, int | None]]    # case_id, prob, source, fold
    threshold: float
    cv_auc: float | None
    test_auc: float | None
    epochs: int
    seconds: float
    device: str
    config: dict = field(default_factory=dict)
    fold_states: FoldStates = field(default_factory=dict)  # paper: the fold models, kept


class _Reporter:
    """Turns training steps into progress dicts with one overall fraction."""

    def __init__(self, callback: Progress | None, archs: list[str]) -> None:
        self.callback, self.archs = callback, archs
        self.index, self.planned, self.done = 0, 1, 0

    def start(self, index: int, planned_steps: int) -> None:
        self.index, self.planned, self.done = index, max(1, planned_steps), 0
        self.emit("starting")

    def fraction(self) -> float:
        return (self.index + min(1.0, self.done / self.planned)) / len(self.archs)

    def emit(self, message: str, **extra) -> None:
        if self.callback is None:
            return
        arch = self.archs[self.index]
        report = {"arch": arch, "arch_index": self.index, "archs": len(self.archs),
                  "epoch": 0, "epochs": 0, "step": 0, "steps": 0, "phase": "",
                  "fraction": self.fraction(),
                  "message": f"{arch} ({self.index + 1}/{len(self.archs)}): {message}"}
        report.update(extra)
        self.callback(report)

    def step_callback(self, phase: str, epochs: int) -> Callable[[int, int, int], None]:
        def on_step(epoch: int, step: int, steps: int) -> None:
            self.done += 1
            self.emit(f"{phase}epoch {epoch}/{epochs}, step {step}/{steps}", phase=phase.strip(),
                      epoch=epoch, epochs=epochs, step=step, steps=steps)
        return on_step


def _auc(y: np.ndarray, prob: np.ndarray) -> float | None:
    return auc_mw(y, prob) if 0 < y.sum() < len(y) else None


def _threshold(y: np.ndarray, prob: np.ndarray) -> float:
    return min(1.0, youden_threshold(y, prob))


class _Trainer:
    """Trains one architecture on preloaded cases."""

    def __init__(self, data: CaseTensors, arch: str, profile: Profile, device: torch.device,
                 seed: int, weights_path, reporter: _Reporter,
                 cancel: threading.Event | None) -> None:
        self.data, self.arch, self.profile, self.device = data, arch, profile, device
        self.seed, self.weights_path = seed, weights_path
        self.reporter, self.cancel = reporter, cancel
        self.lr = learning_rate(arch, weights_path is not None)
        self.labels = data.labels.cpu().numpy()
        self.train = data.split == "train"
        self.fold_states: FoldStates = {}

    def new_model(self, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        model = build_model(self.arch, len(CLASS_NAMES), self.profile.image_size,
                            self.profile.fine_last_stage)
        if self.weights_path is not None:
            load_imagenet(model, self.arch, self.weights_path)
        memory = torch.channels_last if self.profile.channels_last else torch.preserve_format
        return model.to(self.device, memory_format=memory)

    def fit(self, model, train_idx, val_idx, seed: int, phase: str):
        on_step = self.reporter.step_callback(phase, self.profile.epochs)
        return fit(model, self.data.images, self.data.labels, train_idx, val_idx, self.profile,
                   self.lr, seed, on_step, self.cancel, self.choose_threads,
                   self.data.training_images(seed))

    def choose_threads(self, _epoch: int) -> None:
        """On a CPU, the cores free now, chosen again each epoch: a page rendering or another
        job at the moment training starts must not hold a whole run to one thread."""
        if self.device.type == "cpu":
            torch.set_num_threads(cpu_threads())

    def planned_steps(self, train_sets: list[np.ndarray]) -> int:
        return sum(len(batches(idx, self.profile.batch_size, None)) for idx in train_sets) \
            * self.profile.epochs

    def predict(self, model, indices: np.ndarray) -> np.ndarray:
        return evaluate(model, self.data.images, indices, self.profile, cancel=self.cancel)

    def quick(self) -> tuple[torch.nn.Module, np.ndarray, np.ndarray, dict]:
        """Validation on fold 0, whose best epoch is the final model. Returns the model,
        every case's probability, the fold of each validation case (-1 elsewhere), details."""
        val_fold = self.data.folds[0]
        val = self.train & (self.data.fold == val_fold)
        val_idx, fit_idx = np.flatnonzero(val), np.flatnonzero(self.train & ~val)
        if len(set(self.labels[val_idx])) < 2:
            raise UserError(f"fold {val_fold} of {self.data.dataset!r} needs benign and malignant "
                            "cases to choose the best epoch and a threshold; re-split with more "
                            "cases")
        self.reporter.planned = self.planned_steps([fit_idx])
        model = self.new_model(self.seed)
        result = self.fit(model, fit_idx, val_idx, self.seed, "")
        prob = self.predict(model, np.arange(len(self.labels)))
        validation = np.where(val, val_fold, -1)
        details = {"validation_fold": val_fold, "epochs_run": self.profile.epochs,
                   "best_epoch": result.best_epoch, "history": result.history,
                   "threshold_rule": f"Youden on fold {val_fold} (validation)",
                   "final_model": f"best epoch on fold {val_fold}, no refit"}
        return model, prob, validation, details

    def paper(self) -> tuple[torch.nn.Module, np.ndarray, np.ndarray, dict]:
        """One model per fold (fixed schedule) predicts its held-out fold; the final model is
        refit on all training cases and predicts the rest."""
        folds = self.data.folds
        fold_sets = [np.flatnonzero(self.train & (self.data.fold != f)) for f in folds]
        all_train = np.flatnonzero(self.train)
        self.reporter.planned = self.planned_steps(fold_sets + [all_train])
        out_of_fold = np.full(len(self.labels), np.nan)
        histories = {}
        for number, (fold, fit_idx) in enumerate(zip(folds, fold_sets), start=1):
            model = self.new_model(self.seed + number)
            phase = f"fold {number}/{len(folds)}, "
            histories[fold] = self.fit(model, fit_idx, None, self.seed + number, phase).history
            held_out = np.flatnonzero(self.train & (self.data.fold == fold))
            out_of_fold[held_out] = self.predict(model, held_out)
            self.fold_states[fold] = {k: v.detach().cpu().contiguous()
                                      for k, v in model.state_dict().items()}
            del model
        model = self.new_model(self.seed)
        final = self.fit(model, all_train, None, self.seed, "final model, ")
        prob = self.predict(model, np.arange(len(self.labels)))
        validation = np.where(self.train, self.data.fold, -1)
        prob = np.where(validation >= 0, out_of_fold, prob)
        details = {"folds": folds, "epochs_run": self.profile.epochs,
                   "best_epoch": self.profile.epochs, "history": final.history,
                   "fold_histories": {str(k): v for k, v in histories.items()},
                   "threshold_rule": "Youden on out-of-fold predictions over all folds",
                   "final_model": "refit on all training cases (fixed schedule)"}
        return model, prob, validation, details


def _rows(data: CaseTensors, prob: np.ndarray, validation: np.ndarray, held_out: str
          ) -> list[tuple[int, float, str, int | None]]:
    """(case_id, prob, source, fold) of every case. The source says how the predicting model
    relates to the case: ``held_out`` (``validation`` for the quick profile's fold 0,
    ``out_of_fold`` for the paper profile's fold models) where ``validation`` names a fold,
    ``test`` for the test split, ``in_sample`` for other training cases (the final model
    trained on them: never shown, see :mod:`core.reads`), ``held_out`` outside the split."""
    rows = []
    for i, case_id in enumerate(data.case_ids):
        if validation[i] >= 0:
            source, fold = held_out, int(validation[i])
        elif data.split[i] == "test":
            source, fold = "test", None
        elif data.split[i] == "train":
            source, fold = "in_sample", int(data.fold[i]) if data.fold[i] >= 0 else None
        else:
            source, fold = "held_out", None
        rows.append((int(case_id), float(prob[i]), source, fold))
    return rows


def _choose_heatmap(trainer: _Trainer, model: torch.nn.Module, prob: np.ndarray,
                    validation: np.ndarray, threshold: float) -> dict:
    """The model's default heatmap (``core.heatmaps.choice``), chosen on the first validation
    fold by a model that never trained on it: the quick profile's final model (the fold chose
    its epoch), the paper profile's fold model for that fold (its final model trained on
    every training case). Calls are each case's held-out probability at ``threshold``; the
    cases' framed lesion masks (lesion framing) gate the choice to maps that point at the
    lesion."""
    from core.heatmaps.choice import choose_heatmap
    from core.models.loading import freeze

    fold = trainer.data.folds[0]
    if fold in trainer.fold_states:
        model = build_model(trainer.arch, len(CLASS_NAMES), trainer.profile.image_size,
                            trainer.profile.fine_last_stage)
        model.load_state_dict(trainer.fold_states[fold])
    held_out = np.flatnonzero(validation == fold)
    freeze(model.to(trainer.device))
    masks = trainer.data.masks
    return choose_heatmap(model, trainer.arch, trainer.data.images[held_out],
                          list(prob[held_out] >= threshold), seed=trainer.seed,
                          masks=None if masks is None else masks[held_out],
                          fine_last_stage=trainer.profile.fine_last_stage)


def train_arch(data: CaseTensors, arch: str, profile: Profile, device: torch.device, seed: int,
               init: str, weights_dir, reporter: _Reporter,
               cancel: threading.Event | None = None) -> TrainedModel:
    """Train one architecture on preloaded cases (on ``device``) and predict every case."""
    started = time.perf_counter()
    weights_path = find_weights(arch, init, weights_dir)
    trainer = _Trainer(data, arch, profile, device, seed, weights_path, reporter, cancel)
    model, prob, validation, details = (trainer.quick() if profile.fold0_validation
                                        else trainer.paper())
    labels = trainer.labels
    held_out = validation >= 0
    test = data.split == "test"
    threshold = _threshold(labels[held_out], prob[held_out])
    rows = _rows(data, prob, validation,
                 "validation" if profile.fold0_validation else "out_of_fold")
    reporter.emit("choosing the default heatmap")
    heatmap = _choose_heatmap(trainer, model, prob, validation, threshold)
    counts = {source: int(n) for source, n in zip(*np.unique(
        [row[2] for row in rows], return_counts=True))}
    config = {
        "profile": profile.as_dict(), "region": region_record(profile.framing),
        "learning_rate": trainer.lr, "optimizer": "AdamW",
        "schedule": f"linear warm-up {profile.warmup_epochs} epoch(s), cosine decay, per step",
        "loss": "cross-entropy, inverse-frequency class weights from the training cases",
        "weights_file": weights_path.name if weights_path else None,
        "cases": counts, "torch": torch.__version__, "torchvision": torchvision.__version__,
        "threads": torch.get_num_threads(), "heatmap": heatmap, **details,
    }
    return TrainedModel(
        model_id=model_id_for(arch, profile.name, data.dataset, seed), arch=arch,
        dataset=data.dataset, init="imagenet" if weights_path else "scratch", profile=profile,
        seed=seed, state_dict={k: v.detach().cpu().contiguous()
                               for k, v in model.state_dict().items()},
        rows=rows, threshold=threshold,
        cv_auc=_auc(labels[held_out], prob[held_out]),
        test_auc=_auc(labels[test], prob[test]) if test.any() else None,
        epochs=int(details["best_epoch"]), seconds=time.perf_counter() - started,
        device=describe_device(device), config=config, fold_states=trainer.fold_states)


def _checkpoint(trained: TrainedModel) -> dict:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "model_id": trained.model_id,
            "arch": trained.arch, "image_size": trained.profile.image_size,
            "class_names": list(CLASS_NAMES), "state_dict": trained.state_dict,
            "threshold": trained.threshold, "config": json.loads(json.dumps(trained.config)),
            "metrics": {"cv_auc": trained.cv_auc, "test_auc": trained.test_auc}}


def save_trained(store: Store, trained: TrainedModel) -> None:
    """Write the checkpoint and any fold models' (atomically, under new names), then the model
    row, all its predictions, its fold rows (the paper profile's fold models; none for quick,
    so cross-fitted folds of the old version go) and a new ``model_versions`` row in one
    transaction; the replaced files go only after the commit."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = store.resolve(f"models/{trained.model_id}/{stamp}.pt")
    sha = save_checkpoint(path, _checkpoint(trained))
    relative = store.relative(path)
    written = []
    try:
        written = write_fold_checkpoints(store, trained.model_id, trained.arch, trained.profile,
                                         trained.fold_states, stamp)
        with store.transaction() as cur:
            old = cur.execute("SELECT checkpoint_path FROM models WHERE model_id = ?",
                              [trained.model_id]).fetchone()
            old_folds = replace_fold_rows(cur, store, trained.model_id, written, trained.epochs)
            for table in ("heatmaps", "predictions", "models"):
                cur.execute(f"DELETE FROM {table} WHERE model_id = ?", [trained.model_id])
            cur.execute(
                "INSERT INTO models (model_id, arch, dataset, init, profile, image_size, framing, "
                "epochs, seed, seconds, device, threshold, cv_auc, test_auc, code_version, "
                "checkpoint_path, checkpoint_sha256, config) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [trained.model_id, trained.arch, trained.dataset, trained.init,
                 trained.profile.name, trained.profile.image_size, trained.profile.framing,
                 trained.epochs, trained.seed,
                 trained.seconds, trained.device, trained.threshold, trained.cv_auc,
                 trained.test_auc, code_version(), relative, sha, json.dumps(trained.config)])
            cur.executemany("INSERT INTO predictions (model_id, case_id, prob_malignant, source, "
                            "fold) VALUES (?, ?, ?, ?, ?)",
                            [[trained.model_id, *row] for row in trained.rows])
            cur.execute(
                "INSERT INTO model_versions (model_id, version, checkpoint_sha256, threshold,"
                " cv_auc, test_auc, config) SELECT ?, coalesce(max(version), 0) + 1, ?, ?, ?, ?, ?"
                " FROM model_versions WHERE model_id = ?",
                [trained.model_id, sha, trained.threshold, trained.cv_auc, trained.test_auc,
                 json.dumps(trained.config), trained.model_id])
    except BaseException:
        path.unlink(missing_ok=True)
        remove(written)
        raise
    for stale in ([old[0]] if old and old[0] else []) + old_folds:
        if stale != relative:
            store.resolve(stale).unlink(missing_ok=True)
    shutil.rmtree(store.resolve(f"heatmaps/{trained.model_id}"), ignore_errors=True)


def busy_elsewhere(samples: int = 5) -> int:
    """Cores that other work keeps busy now: the runnable tasks of ``/proc/loadavg`` (counted
    at this instant, where the load average lags a minute behind: right after one training run
    ends it would still report its cores busy), less this thread; the median of a few samples
    50 ms apart. 0 where the count is not available."""
    counts = []
    for number in range(samples):
        try:
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0
        counts.append(max(0, running - 1))
        if number + 1 < samples:
            time.sleep(0.05)
    return sorted(counts)[len(counts) // 2]


def cpu_threads() -> int:
    """Threads for CPU work: the cores not busy with other work, at least one. On a shared
    machine two threads that wait on each other's core run many times slower than one thread,
    so this matters more than it seems."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - busy_elsewhere())


def train_models(store: Store, dataset: str, archs: list[str], profile: str = "quick",
                 device: str = "auto", seed: int = 0, init: str = "auto",
                 weights_dir: str | os.PathLike | None = None, progress: Progress | None = None,
                 cancel: threading.Event | None = None, epochs: int | None = None,
                 image_size: int | None = None, framing: str = "auto",
                 deterministic: bool = False, compile: bool = False) -> list[str]:
    """Train ``archs`` in order on ``dataset``; returns the model ids written.

    ``framing`` (see :mod:`core.models.framing`): ``auto`` reads the lesion's region when every
    case has a lesion mask, else the whole image. ``deterministic`` and ``compile``: see
    :mod:`core.models.profiles`.

    ``progress`` gets dicts with arch, epoch, epochs, step, steps, fraction (0-1 overall) and
    message. Setting ``cancel`` stops at the next step: models already finished stay, the
    unfinished one leaves no file and no row, and :class:`TrainingCancelled` is raised.
    """
    archs = parse_archs(",".join(archs))
    torch_device = resolve_device(device)
    framing = choose_framing(framing, cases_without_mask(store, dataset))
    profiles = {arch: profile_for(profile, arch, epochs, image_size,
                                  cuda=torch_device.type == "cuda", framing=framing,
                                  deterministic=deterministic, compile=compile)
                for arch in archs}
    find_weights(archs[0], init, weights_dir)  # checks init and weights_dir before any work
    loaded: dict[int, CaseTensors] = {}   # per input size (AlexNet's may differ), loaded once

    def cases_at(size: int) -> CaseTensors:
        if size not in loaded:
            data = load_cases(store, dataset, size, framing)
            check_split(data)
            loaded[size] = data.to(torch_device)
        return loaded[size]

    cases_at(profiles[archs[0]].image_size)
    reporter = _Reporter(progress, archs)
    written: list[str] = []
    for index, arch in enumerate(archs):
        reporter.start(index, 1)
        try:
            data = cases_at(profiles[arch].image_size)
            with backend_flags(profiles[arch]):
                trained = train_arch(data, arch, profiles[arch], torch_device, seed, init,
                                     weights_dir, reporter, cancel)
        except TrainingCancelled:
            kept = f"; kept {', '.join(written)}" if written else ""
            raise TrainingCancelled(f"training cancelled during {arch}{kept}") from None
        reporter.emit("saving")
        save_trained(store, trained)
        written.append(trained.model_id)
        reporter.done = reporter.planned
        auc = "n/a" if trained.test_auc is None else f"{trained.test_auc:.3f}"
        reporter.emit(f"done in {trained.seconds:.0f} s, test AUC {auc}")
    return written
