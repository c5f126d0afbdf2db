"""The six torchvision architectures with a two-class head, and where Grad-CAM looks in each.

Grey images are fed as three identical channels, normalised with ImageNet's statistics. Every
architecture takes any image size from 32 px up: the adaptive pools handle small inputs, and
AlexNet (whose fixed max-pools need 63 px) enlarges smaller inputs itself. ViT needs a size that
is a multiple of its 16 px patch.

``fine_last_stage`` (ResNet50, DenseNet121) keeps the last stage at the resolution of the one
before it, so that its maps have twice the cells per side (7 x 7 at 112 px instead of 4 x 4 and
3 x 3) and a map at the last stage costs about one forward pass (a map at the stage before it
also runs the last stage backwards): ResNet50 by torchvision's ``replace_stride_with_dilation``
for its last stage, DenseNet121 (which has no such option) by the same change made by hand,
its last transition's pooling removed and its last block's 3 x 3 convolutions dilated by 2.
The parameters are the same (ImageNet weights load alike); the model's profile records it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models as tvm

from core.errors import UserError

# The study's order of presentation (ResNet50, its best, first); the demo trains GoogLeNet first
# (core.demo.FIRST_ARCH: the quick profile's strongest model per CPU second).
ARCHS = ("resnet50", "googlenet", "alexnet", "densenet121", "vgg16", "vit_b_16")
CLASS_NAMES = ("benign", "malignant")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ALEXNET_MIN_SIZE = 63  # below this, AlexNet's last max-pool would get an empty input


class AnySizeAlexNet(tvm.AlexNet):
    """torchvision's AlexNet (same parameters) that enlarges inputs below 63 px."""

    def fit_input(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) >= ALEXNET_MIN_SIZE:
            return x
        size = (max(x.shape[-2], ALEXNET_MIN_SIZE), max(x.shape[-1], ALEXNET_MIN_SIZE))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.fit_input(x))


@dataclass(frozen=True)
class ArchSpec:
    name: str
    title: str                                   # as the study names it
    build: Callable[[int, int], nn.Module]      # (num_classes, image_size) -> model
    weights: tvm.WeightsEnum                     # ImageNet weights (their file name; no download)
    head_prefix: str                             # state-dict prefix of the classification layer
    target: str                                  # fallback Grad-CAM target layer (a module)
    candidates: tuple[str, ...]                  # layers a default map may use, finest first
    fine_build: Callable[[int, int], nn.Module] | None = None   # the fine-last-stage variant


def _fine_densenet121(num_classes: int, image_size: int) -> nn.Module:
    """DenseNet121 whose last dense block runs at the previous block's resolution: its
    transition's pooling removed and its 3 x 3 convolutions dilated by 2 (so each still sees
    the span it saw at the coarser grid), as ``replace_stride_with_dilation`` does for ResNet."""
    model = tvm.densenet121(num_classes=num_classes)
    model.features.transition3.pool = nn.Identity()
    for layer in model.features.denseblock4.values():
        layer.conv2.dilation, layer.conv2.padding = (2, 2), (2, 2)
    return model


def _vit(num_classes: int, image_size: int) -> nn.Module:
    if image_size % 16:
        raise UserError(f"ViT needs an image size that is a multiple of 16 (got {image_size})")
    return tvm.vit_b_16(image_size=image_size, num_classes=num_classes)


SPECS: dict[str, ArchSpec] = {spec.name: spec for spec in (
    ArchSpec("resnet50", "ResNet50", lambda n, s: tvm.resnet50(num_classes=n),
             tvm.ResNet50_Weights.IMAGENET1K_V1, "fc.", "layer4.2", ("layer3", "layer4.2"),
             lambda n, s: tvm.resnet50(num_classes=n,
                                       replace_stride_with_dilation=[False, False, True])),
    ArchSpec("googlenet", "GoogLeNet",
             lambda n, s: tvm.GoogLeNet(num_classes=n, aux_logits=False, transform_input=False,
                                        init_weights=True),
             tvm.GoogLeNet_Weights.IMAGENET1K_V1, "fc.", "inception5b",
             ("inception4e", "inception5b")),
    ArchSpec("alexnet", "AlexNet", lambda n, s: AnySizeAlexNet(num_classes=n),
             tvm.AlexNet_Weights.IMAGENET1K_V1, "classifier.6.", "features.10",
             ("features.3", "features.10")),
    ArchSpec("densenet121", "DenseNet121", lambda n, s: tvm.densenet121(num_classes=n),
             tvm.DenseNet121_Weights.IMAGENET1K_V1, "classifier.", "features.denseblock4",
             ("features.denseblock3", "features.denseblock4"), _fine_densenet121),
    ArchSpec("vgg16", "VGG16", lambda n, s: tvm.vgg16(num_classes=n),
             tvm.VGG16_Weights.IMAGENET1K_V1, "classifier.6.", "features.28",
             ("features.21", "features.28")),
    ArchSpec("vit_b_16", "ViT-B/16", _vit, tvm.ViT_B_16_Weights.IMAGENET1K_V1, "heads.head.",
             "encoder.layers.encoder_layer_11.ln_1", ("encoder.layers.encoder_layer_11.ln_1",)),
)}


def spec(arch: str) -> ArchSpec:
    try:
        return SPECS[arch]
    except KeyError:
        raise UserError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHS)}") from None


def parse_archs(text: str) -> list[str]:
    """``all`` or a comma-separated list, checked, duplicates dropped, order kept."""
    if text.strip() == "all":
        return list(ARCHS)
    archs = [name.strip() for name in text.split(",") if name.strip()]
    if not archs:
        raise UserError("name at least one architecture, or 'all'")
    for arch in archs:
        spec(arch)
    return list(dict.fromkeys(archs))


def build_model(arch: str, num_classes: int = 2, image_size: int = 224,
                fine_last_stage: bool = False) -> nn.Module:
    """A freshly initialised ``arch`` with a ``num_classes`` head, for ``image_size`` inputs;
    ``fine_last_stage``: its variant whose last stage keeps the resolution (module docstring)."""
    if image_size < 32:
        raise UserError(f"image size must be at least 32 px (got {image_size})")
    arch_spec = spec(arch)
    if not fine_last_stage:
        return arch_spec.build(num_classes, image_size)
    if arch_spec.fine_build is None:
        raise UserError(f"{arch} has no fine-last-stage variant (only "
                        f"{', '.join(a for a, s in SPECS.items() if s.fine_build)})")
    return arch_spec.fine_build(num_classes, image_size)


def target_layer(model: nn.Module, arch: str, layer: str | None = None) -> nn.Module:
    """The layer whose output Grad-CAM weighs: ``layer``, else the fallback target, the last
    convolutional block (CNNs) or the first norm of the last encoder block (ViT: its output is
    what the class token attends to)."""
    return model.get_submodule(layer or spec(arch).target)


def tokens_to_grid(tokens: torch.Tensor) -> torch.Tensor:
    """ViT tokens (B, 1 + g*g, C) -> feature map (B, C, g, g); the class token is dropped."""
    patches = tokens[:, 1:, :]
    side = int(round(patches.shape[1] ** 0.5))
    if side * side != patches.shape[1]:
        raise ValueError(f"{patches.shape[1]} patch tokens do not form a square grid")
    return patches.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], side, side)


def grey_to_input(images: torch.Tensor) -> torch.Tensor:
    """Grey images (B, 1, H, W) scaled to [0, 1] -> normalised three-channel input."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images.expand(-1, 3, -1, -1) - mean) / std
