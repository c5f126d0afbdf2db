"""A trained model from the store, ready for inference and heatmaps.

The loaded model is in eval mode with its parameters frozen (no gradients are ever kept in
it), so many sessions can share one cached copy: the heatmap code only reads it.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import torch
from torch import nn

from core.errors import UserError
from core.heatmaps import default_heatmap
from core.models.checkpoints import file_sha256, load_checkpoint
from core.models.registry import build_model
from core.store import Store

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    model_id: str
    arch: str
    model: nn.Module
    image_size: int
    threshold: float
    device: torch.device
    dataset: str
    framing: str = "full"         # what part of an image it reads: core.models.framing
    class_names: tuple[str, ...] = ("benign", "malignant")
    config: dict = field(default_factory=dict)

    @property
    def heatmap_layer(self) -> str | None:
        """The target layer of its maps, as training chose it (None: the fallback)."""
        return default_heatmap(self.config)[0]

    @property
    def heatmap_method(self) -> str:
        """The CAM method of its maps when none is asked for, as training chose it."""
        return default_heatmap(self.config)[1]


def fine_last_stage(config: dict) -> bool:
    """Whether a model with this stored config was built with its last stage at full
    resolution (``core.models.registry``); models trained before the option were not."""
    return bool(config.get("profile", {}).get("fine_last_stage", False))


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode, no parameter takes gradients: safe to share between threads."""
    model.eval()
    model.requires_grad_(False)
    return model


def load_model(store: Store, model_id: str, device: str | torch.device = "cpu",
               checkpoint_sha256: str | None = None) -> LoadedModel:
    """Load ``model_id``'s checkpoint (checked against the SHA-256 the store recorded). With
    ``checkpoint_sha256`` naming one of its cross-fitted fold models (``crossfit_folds``), load
    that fold's checkpoint instead, under the model's id, threshold and framing."""
    with store.read() as cur:
        row = cur.execute("SELECT arch, image_size, threshold, checkpoint_path, "
                          "checkpoint_sha256, config, dataset, framing FROM models WHERE model_id = ?",
                          [model_id]).fetchone()
        fold = None if checkpoint_sha256 is None or row is None or row[4] == checkpoint_sha256 \
            else cur.execute("SELECT checkpoint_path, checkpoint_sha256 FROM crossfit_folds"
                             " WHERE model_id = ? AND checkpoint_sha256 = ?",
                             [model_id, checkpoint_sha256]).fetchone()
    if row is None:
        raise UserError(f"no model {model_id!r} in the store")
    arch, image_size, threshold, relative, sha, config, dataset, framing = row
    if fold is not None:
        relative, sha = fold
    if not relative:
        raise UserError(f"model {model_id!r} has no checkpoint")
    path = store.resolve(relative)  # messages name ``relative``; only the log has the path

    def refuse(message: str) -> UserError:
        log.warning("model %s: checkpoint %s refused: %s", model_id, path, message)
        return UserError(message)

    if not path.is_file():
        raise refuse(f"the checkpoint of {model_id!r} is missing: {relative}")
    if sha and file_sha256(path) != sha:
        raise refuse(f"the checkpoint {relative} has changed since {model_id!r} was trained "
                     "(SHA-256 differs); retrain the model")
    checkpoint = load_checkpoint(path, name=relative)
    if checkpoint["arch"] != arch or int(checkpoint["image_size"]) != int(image_size):
        raise refuse(f"the checkpoint {relative} does not belong to {model_id!r}")
    config = json.loads(config) if isinstance(config, str) else (config or {})
    with torch.device("meta"):  # no time spent initialising weights about to be replaced
        model = build_model(arch, len(checkpoint["class_names"]), int(image_size),
                            fine_last_stage(config))
    try:
        model.load_state_dict(checkpoint["state_dict"], assign=True)
    except RuntimeError as error:
        raise refuse(f"the checkpoint {relative} does not fit {arch}: {error}") from None
    torch_device = torch.device(device)
    return LoadedModel(model_id=model_id, arch=arch, model=freeze(model).to(torch_device),
                       image_size=int(image_size), threshold=float(threshold),
                       device=torch_device, dataset=dataset, framing=framing or "full",
                       class_names=tuple(checkpoint["class_names"]),
                       config=config)
