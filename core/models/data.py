"""A dataset's benign and malignant cases as one uint8 tensor at the training size (framed as
the models read them), with labels, split and fold; loaded once and shared by every model
trained in one run."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.errors import UserError
from core.images import load_grey
from core.models.framing import frame_box, model_input
from core.store import Store

LABEL_INDEX = {"benign": 0, "malignant": 1}


@dataclass
class CaseTensors:
    """Cases in ``case_id`` order. ``split`` is train/test/excluded or None (no split row);
    ``fold`` is the cross-validation fold of a training case, else -1."""

    dataset: str
    image_size: int
    case_ids: np.ndarray          # (N,) int64
    labels: torch.Tensor          # (N,) int64, 1 = malignant
    images: torch.Tensor          # (N, 1, S, S) uint8
    split: np.ndarray             # (N,) object
    fold: np.ndarray              # (N,) int64

    @property
    def folds(self) -> list[int]:
        return sorted(int(f) for f in set(self.fold[self.split == "train"]) if f >= 0)

    def to(self, device: torch.device) -> "CaseTensors":
        return CaseTensors(self.dataset, self.image_size, self.case_ids, self.labels.to(device),
                           self.images.to(device), self.split, self.fold)


def cases_without_mask(store: Store, dataset: str) -> int:
    """How many benign or malignant cases of ``dataset`` have no lesion mask."""
    with store.read() as cur:
        return cur.execute("SELECT count(*) FROM cases WHERE dataset = ? AND mask_path IS NULL "
                           "AND label IN ('benign', 'malignant')", [dataset]).fetchone()[0]


def framed_image(store: Store, case_id: int, image_path: str, mask_path: str | None,
                 framing: str, image_size: int) -> np.ndarray:
    """A stored case as a model with ``framing`` and ``image_size`` reads it (uint8)."""
    image = load_grey(store, image_path)
    mask = load_grey(store, mask_path) > 127 if mask_path and framing == "lesion" else None
    return model_input(image, frame_box(framing, image.shape, mask, case_id), image_size)


def load_cases(store: Store, dataset: str, image_size: int, framing: str = "full"
               ) -> CaseTensors:
    """Every benign or malignant case of ``dataset`` with its split, framed at ``image_size``."""
    with store.read() as cur:
        rows = cur.execute(
            "SELECT c.case_id, c.image_path, c.mask_path, c.label, s.split, s.fold FROM cases c "
            "LEFT JOIN splits s ON s.case_id = c.case_id "
            "WHERE c.dataset = ? AND c.label IN ('benign', 'malignant') ORDER BY c.case_id",
            [dataset]).fetchall()
    if not rows:
        raise UserError(f"dataset {dataset!r} has no benign or malignant cases; import it first")
    images = np.stack([framed_image(store, case_id, image_path, mask_path, framing, image_size)
                       for case_id, image_path, mask_path, *_ in rows])
    return CaseTensors(
        dataset=dataset, image_size=image_size,
        case_ids=np.array([row[0] for row in rows], dtype=np.int64),
        labels=torch.tensor([LABEL_INDEX[row[3]] for row in rows], dtype=torch.int64),
        images=torch.from_numpy(images).unsqueeze(1),
        split=np.array([row[4] for row in rows], dtype=object),
        fold=np.array([-1 if row[5] is None else row[5] for row in rows], dtype=np.int64))


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
