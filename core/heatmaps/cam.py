"""Class activation maps over the trunk/head split, with pytorch-grad-cam's methods.

Gradient methods see only the head: the trunk runs once without gradients, its output (the
target layer's activations) is the head's input, and grad-cam hooks a per-call identity layer
at that input. So a heatmap costs about one forward pass, and nothing is ever registered on the
shared model: threads may use one model at once. ScoreCAM masks the input image, so it runs the
whole model (trunk and head) for each mask, again hooking only a per-call identity layer.

The map explains the class the model predicts at its threshold, through the logit margin
(malignant minus benign, or the reverse), which is what moves a two-class softmax.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from pytorch_grad_cam import (EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM,
                              ScoreCAM)
from torch import nn

from core.errors import UserError
from core.models.registry import grey_to_input
from core.models.trunk_head import head, trunk

METHODS = {
    "gradcam": GradCAM,
    "gradcampp": GradCAMPlusPlus,
    "hirescam": HiResCAM,
    "layercam": LayerCAM,
    "eigencam": EigenCAM,
    "scorecam": ScoreCAM,
}
WHOLE_MODEL_METHODS = ("scorecam",)


class _Shared(nn.Module):
    """Wraps the shared model for grad-cam without ever changing it: grad-cam's ``eval()``
    stops at the wrapper, and its hooks go on the wrapper's own ``entry`` layer."""

    def __init__(self, model: nn.Module, arch: str, layer: str | None) -> None:
        super().__init__()
        self.net, self.arch, self.layer, self.entry = model, arch, layer, nn.Identity()

    def train(self, mode: bool = True) -> "_Shared":
        self.training = mode
        return self


class _Head(_Shared):
    """The model from the target layer on; its input is the target layer's output."""

    def __init__(self, model: nn.Module, arch: str, layer: str | None, context) -> None:
        super().__init__(model, arch, layer)
        self.context = context

    def forward(self, activations: torch.Tensor) -> torch.Tensor:
        return head(self.net, self.arch, self.entry(activations), self.context, self.layer)


class _Whole(_Shared):
    """The whole model, with the target layer's output passing through ``entry``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activations, context = trunk(self.net, self.arch, x, self.layer)
        return head(self.net, self.arch, self.entry(activations), context, self.layer)


class ClassMargin:
    """grad-cam target: the logit margin toward a class. With ``malignant=None`` the class is
    the one these very logits predict at ``threshold`` (one call per image: gradient methods)."""

    def __init__(self, threshold: float, malignant: bool | None = None) -> None:
        self.threshold, self.malignant = threshold, malignant

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        margin = logits[..., 1] - logits[..., 0]
        if self.malignant is None:
            malignant = torch.softmax(logits.detach().float(), dim=-1)[..., 1] >= self.threshold
        else:
            malignant = torch.tensor(self.malignant, device=logits.device)
        return torch.where(malignant, margin, -margin)


def method_class(method: str) -> type:
    try:
        return METHODS[method]
    except KeyError:
        raise UserError(f"unknown heatmap method {method!r}; choose from "
                        f"{', '.join(METHODS)}") from None


def compute_cams(model: nn.Module, arch: str, images: torch.Tensor, method: str = "gradcam",
                 threshold: float = 0.5, batch_size: int = 32,
                 malignant: Sequence[bool | None] | None = None, layer: str | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Maps for grey uint8 images (B, 1, S, S) at the model's input size, at the target
    ``layer`` (one of ``ArchSpec.candidates``; None: the architecture's fallback).

    Each map explains ``malignant[i]`` (True: malignant, False: benign; pass the stored call,
    so the map explains what the quiz shows), or where that is None the class these logits
    predict at ``threshold``. Returns ``(maps, probs)``: maps (B, h, w) in [0, 1] on the target
    layer's grid (the input grid for ScoreCAM), and each image's probability of malignancy.
    ``model`` must be frozen (``core.models.loading.freeze``): gradients are taken only with
    respect to activations.
    """
    if malignant is not None and len(malignant) != len(images):
        raise ValueError(f"{len(malignant)} classes for {len(images)} images")
    cam_class = method_class(method)
    if any(p.requires_grad for p in model.parameters()):
        raise ValueError("freeze the model first (core.models.loading.freeze)")
    device = next(model.parameters()).device
    x = grey_to_input(images.to(device).float() / 255)
    with torch.enable_grad():
        if method in WHOLE_MODEL_METHODS:  # masked inputs must keep the original's class
            wrapper, inputs = _Whole(model, arch, layer), x
            with torch.no_grad():
                predicted = torch.softmax(wrapper(x).float(), dim=1)[:, 1] >= threshold
            targets = [ClassMargin(threshold, bool(p) if m is None else m)
                       for p, m in zip(predicted, malignant or [None] * len(x))]
        else:
            with torch.no_grad():
                activations, context = trunk(model, arch, x, layer)
            wrapper = _Head(model, arch, layer, context)
            inputs = activations.detach().requires_grad_(True)
            targets = [ClassMargin(threshold, m) for m in malignant or [None] * len(x)]
        cam = cam_class(model=wrapper, target_layers=[wrapper.entry])
        cam.batch_size = batch_size  # ScoreCAM's masked images per forward pass
        try:
            maps = cam(input_tensor=inputs, targets=targets)
            probs = torch.softmax(cam.outputs.detach().float(), dim=1)[:, 1].cpu().numpy()
        finally:
            cam.activations_and_grads.release()
    return np.clip(maps, 0, 1).astype(np.float32), probs.astype(np.float64)
