"""A dataset's benign and malignant cases as one uint8 tensor at the training size (framed as
the models read them), with labels, split and fold; loaded once and shared by every model
trained in one run.

For a lesion-framed dataset it also holds, per case, the part of the image any marked box can
reach (:class:`MarkedRegions`), so training draws a fresh operator's box for every case in every
epoch without reading an image again; the fixed images are each case's own box, as prediction,
validation and heatmaps read it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import UserError
from core.images import load_grey
from core.models.engine import BatchImages
from core.models.framing import (REACH, SIDE_RATIO, Box, Bounds, frame_box, lesion_bounds,
                                 marked_box, model_input, reach_box)
from core.store import Store

LABEL_INDEX = {"benign": 0, "malignant": 1}
# The reach is cached at this many times the input size: the smallest marked box still spans
# the input size in cached pixels, so training resamples down, as prediction does.
REACH_SCALE = REACH * SIDE_RATIO[1] / SIDE_RATIO[0]


@dataclass
class MarkedRegions:
    """Per case (in :class:`CaseTensors` order): its lesion's bounds and the square every box
    an operator might mark lies in (``reaches``, image pixels), and that square's pixels at
    ``context``'s size (uint8 (N, 1, C, C); black beyond the image)."""

    bounds: list[Bounds]
    reaches: list[Box]
    context: torch.Tensor

    def draw(self, indices: np.ndarray | torch.Tensor, rng: np.random.Generator, size: int
             ) -> torch.Tensor:
        """A fresh marked box for each of ``indices`` (an array, or a tensor on any device),
        read at ``size`` (uint8 (B, 1, S, S), on the context's device): resized with
        antialiasing, as PIL frames a prediction."""
        cached = self.context.shape[-1]
        crops = []
        for i in torch.as_tensor(indices).tolist():
            box, reach = marked_box(self.bounds[i], rng), self.reaches[i]
            scale = cached / reach.height
            top = round((box.top - reach.top) * scale)
            left = round((box.left - reach.left) * scale)
            side = min(max(1, round(box.height * scale)), cached)  # rounding: stay inside
            top, left = min(max(top, 0), cached - side), min(max(left, 0), cached - side)
            pixels = self.context[i:i + 1, :, top:top + side, left:left + side].float()
            crops.append(F.interpolate(pixels, size=(size, size), mode="bilinear",
                                       antialias=True, align_corners=False))
        return torch.cat(crops).round_().clamp_(0, 255).to(torch.uint8)

    def to(self, device: torch.device) -> "MarkedRegions":
        return replace(self, context=self.context.to(device))


@dataclass
class CaseTensors:
    """Cases in ``case_id`` order. ``split`` is train/test/excluded or None (no split row);
    ``fold`` is the cross-validation fold of a training case, else -1. ``images`` are framed as
    every path but training reads them; ``regions`` (lesion framing) lets training draw anew."""

    dataset: str
    image_size: int
    case_ids: np.ndarray          # (N,) int64
    labels: torch.Tensor          # (N,) int64, 1 = malignant
    images: torch.Tensor          # (N, 1, S, S) uint8
    split: np.ndarray             # (N,) object
    fold: np.ndarray              # (N,) int64
    regions: MarkedRegions | None = None
    masks: torch.Tensor | None = None   # lesion framing: (N, S, S) bool, each lesion framed
    # as its image is (never read by a model: it checks where heatmaps point)

    @property
    def folds(self) -> list[int]:
        return sorted(int(f) for f in set(self.fold[self.split == "train"]) if f >= 0)

    def to(self, device: torch.device) -> "CaseTensors":
        return replace(self, labels=self.labels.to(device), images=self.images.to(device),
                       regions=self.regions.to(device) if self.regions else None,
                       masks=self.masks.to(device) if self.masks is not None else None)

    def training_images(self, seed: int) -> BatchImages | None:
        """For lesion framing, what a training batch reads: a fresh marked box per case at
        every call (seeded by ``seed``, so a run repeats); None where training reads
        ``images`` as they are."""
        if self.regions is None:
            return None
        rng = np.random.default_rng(seed)
        return lambda indices: self.regions.draw(indices, rng, self.image_size)


def cases_without_mask(store: Store, dataset: str) -> int:
    """How many benign or malignant cases of ``dataset`` have no lesion mask."""
    with store.read() as cur:
        return cur.execute("SELECT count(*) FROM cases WHERE dataset = ? AND mask_path IS NULL "
                           "AND label IN ('benign', 'malignant')", [dataset]).fetchone()[0]


def _case(store: Store, image_path: str, mask_path: str | None, framing: str
          ) -> tuple[np.ndarray, np.ndarray | None]:
    image = load_grey(store, image_path)
    mask = load_grey(store, mask_path) > 127 if mask_path and framing == "lesion" else None
    return image, mask


def framed_image(store: Store, case_id: int, image_path: str, mask_path: str | None,
                 framing: str, image_size: int) -> np.ndarray:
    """A stored case as a model with ``framing`` and ``image_size`` reads it (uint8)."""
    image, mask = _case(store, image_path, mask_path, framing)
    return model_input(image, frame_box(framing, image.shape, mask, case_id), image_size)


def load_cases(store: Store, dataset: str, image_size: int, framing: str = "full"
               ) -> CaseTensors:
    """Every benign or malignant case of ``dataset`` with its split, framed at ``image_size``
    (and, for lesion framing, the reach of its marked boxes)."""
    with store.read() as cur:
        rows = cur.execute(
            "SELECT c.case_id, c.image_path, c.mask_path, c.label, s.split, s.fold FROM cases c "
            "LEFT JOIN splits s ON s.case_id = c.case_id "
            "WHERE c.dataset = ? AND c.label IN ('benign', 'malignant') ORDER BY c.case_id",
            [dataset]).fetchall()
    if not rows:
        raise UserError(f"dataset {dataset!r} has no benign or malignant cases; import it first")
    cached = math.ceil(REACH_SCALE * image_size)
    images, bounds, reaches, contexts, masks = [], [], [], [], []
    for case_id, image_path, mask_path, *_ in rows:
        image, mask = _case(store, image_path, mask_path, framing)
        box = frame_box(framing, image.shape, mask, case_id)
        images.append(model_input(image, box, image_size))
        if framing == "lesion":
            masks.append(model_input(mask.astype(np.uint8) * 255, box, image_size) > 127)
            bounds.append(lesion_bounds(mask))
            reaches.append(reach_box(bounds[-1]))
            contexts.append(model_input(image, reaches[-1], cached))
    regions = MarkedRegions(bounds, reaches, torch.from_numpy(np.stack(contexts)).unsqueeze(1)) \
        if framing == "lesion" else None
    return CaseTensors(
        dataset=dataset, image_size=image_size,
        case_ids=np.array([row[0] for row in rows], dtype=np.int64),
        labels=torch.tensor([LABEL_INDEX[row[3]] for row in rows], dtype=torch.int64),
        images=torch.from_numpy(np.stack(images)).unsqueeze(1),
        split=np.array([row[4] for row in rows], dtype=object),
        fold=np.array([-1 if row[5] is None else row[5] for row in rows], dtype=np.int64),
        regions=regions,
        masks=torch.from_numpy(np.stack(masks)) if framing == "lesion" else None)


def check_split(data: CaseTensors) -> None:
    """Training needs a split with cross-validation folds and both labels in training."""
    hint = f"run: python -m core split --dataset {data.dataset}"
    train = data.split == "train"
    if not train.any():
        raise UserError(f"dataset {data.dataset!r} has no training cases; {hint}")
    if len(data.folds) < 2:
        raise UserError(f"the split of {data.dataset!r} has no cross-validation folds; {hint} "
                        "--folds 5")
    labels = data.labels.cpu().numpy()
    if len(set(labels[train])) < 2:
        raise UserError(f"the training cases of {data.dataset!r} are all of one label")
