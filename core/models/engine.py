"""The training loop as plain functions, in the manner of torchvision's reference
``train.py``: one epoch, evaluation, and fitting (keeping the best validated epoch).

Images stay uint8 on the training device; each batch is scaled, augmented and normalised there
(for lesion framing, its images are first cropped from fresh marked boxes: ``draw``).
The batches' indices go to the device once per pass (pinned, non-blocking), not once per step,
so a GPU is never stalled by a blocking host-to-device copy. Mixed precision (bf16) is used only
for training: probabilities come from fp32 logits (bf16 keeps 8 bits of mantissa, so its
probabilities are coarse and tie). Progress goes to a callback after every step; a set
``cancel`` event stops at the next step.
"""
from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from core.errors import UserError
from core.models.augment import augment
from core.models.profiles import Profile
from core.models.registry import grey_to_input
from core.stats.roc import auc_mw

StepCallback = Callable[[int, int], None]  # (step within the epoch, steps in the epoch)
BatchImages = Callable[[np.ndarray | torch.Tensor], torch.Tensor]  # indices -> uint8 (B,1,S,S)
BN_REFRESH_IMAGES = 128  # training images that re-estimate batch-norm statistics


class TrainingCancelled(UserError):
    """Training was cancelled; nothing of the unfinished model was written."""


def to_model(grey: torch.Tensor, profile: Profile) -> torch.Tensor:
    """Grey batch in [0, 1] -> the input the models take (normalised, three channels)."""
    x = grey_to_input(grey)
    return x.contiguous(memory_format=torch.channels_last) if profile.channels_last else x


def _autocast(device: torch.device, profile: Profile):
    if profile.amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def batches(indices: np.ndarray, batch_size: int, generator: torch.Generator | None
            ) -> list[np.ndarray]:
    """Shuffled (when a generator is given) batches; a last batch of one joins the one before
    (batch norm cannot train on a single image)."""
    if generator is not None:
        indices = indices[torch.randperm(len(indices), generator=generator).numpy()]
    chunks = [indices[i:i + batch_size] for i in range(0, len(indices), batch_size)]
    if len(chunks) > 1 and len(chunks[-1]) == 1:
        chunks[-2] = np.concatenate([chunks[-2], chunks.pop()])
    return chunks


def on_device(chunks: list[np.ndarray], device: torch.device) -> list[torch.Tensor]:
    """The batches' indices on ``device`` in one copy: from pinned memory, non-blocking, on
    CUDA (torch keeps the pinned buffer until the copy is done)."""
    if not chunks:
        return []
    flat = torch.from_numpy(np.concatenate(chunks))
    if device.type == "cuda":
        flat = flat.pin_memory().to(device, non_blocking=True)
    return list(torch.split(flat.to(device), [len(chunk) for chunk in chunks]))


@contextmanager
def backend_flags(profile: Profile) -> Iterator[None]:
    """cuDNN's autotuner (``cudnn.benchmark``: the fastest kernels for fixed sizes, but chosen
    by timing, so two runs may differ) unless ``profile.deterministic``, which also asks for
    deterministic algorithms (a warning where an operation has none). The previous settings
    come back afterwards: the app's other threads share them."""
    before = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
              torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled())
    torch.backends.cudnn.benchmark = not profile.deterministic
    torch.backends.cudnn.deterministic = profile.deterministic
    if profile.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's condition
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[:2]
        torch.use_deterministic_algorithms(before[2], warn_only=before[3])


def class_weights(labels: torch.Tensor) -> torch.Tensor:
    """Inverse-frequency weights (n / (2 n_c)) so both labels count alike in the loss."""
    counts = torch.bincount(labels, minlength=2).float()
    if (counts == 0).any():
        raise UserError("the training cases must include both benign and malignant ones")
    return counts.sum() / (2 * counts)


def train_one_epoch(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                    indices: np.ndarray, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, weights: torch.Tensor,
                    profile: Profile, shuffle: torch.Generator, noise: torch.Generator,
                    on_step: StepCallback | None = None,
                    cancel: threading.Event | None = None,
                    draw: BatchImages | None = None) -> float:
    """One pass over ``indices`` (shuffled with ``shuffle``, a CPU generator; augmented with
    ``noise``, on the images' device); returns the mean training loss. ``draw`` gives a
    batch's images where they are drawn anew at each step (lesion framing: a fresh marked box,
    :mod:`core.models.data`); without it the batch reads ``images``."""
    model.train()
    device = images.device
    chunks = on_device(batches(indices, profile.batch_size, shuffle), device)
    total = torch.zeros((), device=device)
    for step, index in enumerate(chunks, start=1):
        if cancel is not None and cancel.is_set():
            raise TrainingCancelled("training cancelled")
        grey = images[index] if draw is None else draw(index)
        x = to_model(augment(grey.float() / 255, profile.augmentation, noise), profile)
        with _autocast(device, profile):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), labels[index], weight=weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), profile.grad_clip)
        optimizer.step()
        scheduler.step()
        total += loss.detach() * len(index)
        if on_step is not None:
            on_step(step, len(chunks))
    return float(total) / len(indices)


@torch.inference_mode()
def evaluate(model: nn.Module, images: torch.Tensor, indices: np.ndarray, profile: Profile,
             cancel: threading.Event | None = None) -> np.ndarray:
    """The probability of malignancy for each of ``indices`` (model left in eval mode), from
    fp32 logits in batches of ``profile.eval_batch_size``; with ``profile.mirror`` the mean of
    the image's and its left-right mirror's."""
    model.eval()
    device = images.device
    probs = []
    for index in on_device(batches(indices, profile.eval_batch_size, None), device):
        if cancel is not None and cancel.is_set():
            raise TrainingCancelled("training cancelled")
        x = to_model(images[index].float() / 255, profile)
        views = (x, x.flip(-1)) if profile.mirror else (x,)
        prob = sum(torch.softmax(model(view).float(), dim=1)[:, 1] for view in views)
        probs.append(prob / len(views))
    return torch.cat(probs).cpu().numpy().astype(np.float64) if probs else np.zeros(0)


def refresh_batch_norm(model: nn.Module, images: torch.Tensor, indices: np.ndarray,
                       profile: Profile, cancel: threading.Event | None = None) -> None:
    """Recompute batch-norm statistics for the current weights from (up to 128, evenly spread)
    training images, un-augmented, as ``torch.optim.swa_utils.update_bn`` does. With few steps
    per epoch the running averages lag far behind the weights, and evaluation would judge a
    model that does not exist."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the pass
    model.train()
    device = images.device
    if len(indices) > BN_REFRESH_IMAGES:
        indices = indices[np.linspace(0, len(indices) - 1, BN_REFRESH_IMAGES).round().astype(int)]
    try:
        with torch.no_grad():
            for index in on_device(batches(indices, profile.batch_size, None), device):
                if cancel is not None and cancel.is_set():
                    raise TrainingCancelled("training cancelled")
                model(to_model(images[index].float() / 255, profile))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum


def weighted_log_loss(y: np.ndarray, prob: np.ndarray, weights: np.ndarray) -> float:
    p = np.clip(np.where(y == 1, prob, 1 - prob), 1e-7, 1)
    w = weights[y]
    return float(-(w * np.log(p)).sum() / w.sum())


def _schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int
              ) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warm-up, then cosine decay to zero, per step."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class FitResult:
    best_epoch: int
    history: list[dict] = field(default_factory=list)   # per epoch: loss, val_auc, val_loss


def fit(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, train_idx: np.ndarray,
        val_idx: np.ndarray | None, profile: Profile, lr: float, seed: int,
        on_step: Callable[[int, int, int], None] | None = None,
        cancel: threading.Event | None = None,
        on_epoch: Callable[[int], None] | None = None,
        draw: BatchImages | None = None) -> FitResult:
    """Train ``model`` on ``train_idx`` for the whole schedule. With fold-0 validation,
    validate on ``val_idx`` after each epoch and end with the weights of the best epoch (highest
    AUC, then lowest loss). Training never stops early: a model from scratch may sit near chance
    for half its epochs before it learns, and a lucky early epoch on a small fold would end it
    there (see :mod:`core.models.profiles`).
    With ``profile.ema`` the judged (and kept) weights are an exponential moving average over
    epochs: on a few hundred cases one epoch's weights swing, and picking the best of them on a
    small validation fold picks noise. ``on_step(epoch, step, steps)`` reports progress;
    ``on_epoch(epoch)`` runs before each epoch. ``draw`` gives training batches' images where
    they are drawn anew (see :func:`train_one_epoch`); validation and batch-norm statistics
    always read the fixed ``images``."""
    device = images.device
    noise = torch.Generator(device=device).manual_seed(seed)
    shuffle = torch.Generator().manual_seed(seed)
    weights = class_weights(labels[torch.from_numpy(train_idx).to(device)].cpu()).to(device)
    # fused: one kernel per step; the default (foreach) takes seconds per step on a CPU for
    # VGG16's 138M parameters.
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=profile.weight_decay,
                                  fused=True)
    steps = len(batches(train_idx, profile.batch_size, None))
    scheduler = _schedule(optimizer, profile.warmup_epochs * steps, profile.epochs * steps)
    y_val = labels[torch.from_numpy(val_idx).to(device)].cpu().numpy() if val_idx is not None \
        else None
    averaged = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(profile.ema))
                if profile.ema else None)
    if profile.compile:  # in place: the state dict keeps its names; the average stays eager
        model.compile()
    result = FitResult(best_epoch=profile.epochs)
    best: tuple[float, float] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    for epoch in range(1, profile.epochs + 1):
        if on_epoch is not None:
            on_epoch(epoch)
        step_report = (lambda s, n, e=epoch: on_step(e, s, n)) if on_step else None
        loss = train_one_epoch(model, images, labels, train_idx, optimizer, scheduler, weights,
                               profile, shuffle, noise, step_report, cancel, draw)
        record = {"epoch": epoch, "loss": loss}
        judged = model
        if averaged is not None:
            averaged.update_parameters(model)
            judged = averaged.module
        last = epoch == profile.epochs
        if profile.precise_bn and (last or (profile.fold0_validation and val_idx is not None)):
            refresh_batch_norm(judged, images, train_idx, profile, cancel)
        if profile.fold0_validation and val_idx is not None:
            prob = evaluate(judged, images, val_idx, profile, cancel=cancel)
            record["val_auc"] = auc_mw(y_val, prob)
            record["val_loss"] = weighted_log_loss(y_val, prob, weights.cpu().numpy())
            score = (record["val_auc"], -record["val_loss"])
            if best is None or score > best:
                best, result.best_epoch = score, epoch
                best_state = {k: v.detach().clone() for k, v in judged.state_dict().items()}
        result.history.append(record)
    if best_state is None and averaged is not None:
        best_state = averaged.module.state_dict()
    if best_state is not None:
        model.load_state_dict(best_state)
    return result
