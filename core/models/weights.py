"""ImageNet weights from files already on disk: the torch hub cache or a folder the user names.

Nothing is ever downloaded. The file names are torchvision's own (the last part of each
weights URL), so a cache filled by torchvision on another machine works as is.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn
from torchvision.models.vision_transformer import interpolate_embeddings

from core.errors import UserError
from core.models.registry import spec

INITS = ("auto", "imagenet", "scratch")
_OLD_DENSENET_KEY = re.compile(  # torchvision's pattern for DenseNet's old key names
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\."
    r"((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def weights_file_name(arch: str) -> str:
    """torchvision's file name for ``arch``'s ImageNet weights, e.g. ``resnet50-0676ba61.pth``."""
    return spec(arch).weights.url.rsplit("/", 1)[-1]


def candidate_paths(arch: str, weights_dir: str | Path | None = None) -> list[Path]:
    """Where the weights may be: the named folder if given, else the torch hub cache."""
    name = weights_file_name(arch)
    if weights_dir is not None:
        return [Path(weights_dir) / name]
    return [Path(torch.hub.get_dir()) / "checkpoints" / name]


def find_weights(arch: str, init: str, weights_dir: str | Path | None = None) -> Path | None:
    """The ImageNet file to start from, or None to train from scratch.

    ``auto`` uses the file when present; ``imagenet`` insists on it; ``scratch`` never uses it.
    """
    if init not in INITS:
        raise UserError(f"--init must be one of {', '.join(INITS)} (got {init!r})")
    if init == "scratch":
        return None
    if weights_dir is not None and not Path(weights_dir).is_dir():
        raise UserError(f"--weights-dir {weights_dir} is not a folder")
    for path in candidate_paths(arch, weights_dir):
        if path.is_file():
            return path
    if init == "imagenet":
        where = " or ".join(str(p) for p in candidate_paths(arch, weights_dir))
        raise UserError(
            f"no ImageNet weights for {arch}: expected {where}. Copy torchvision's file "
            f"{weights_file_name(arch)} there (nothing is downloaded), or use --init auto|scratch")
    return None


def _imagenet_state(arch: str, path: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # damaged file, or one carrying pickled code
        raise UserError(f"cannot load ImageNet weights {path}: {error}") from None
    if not isinstance(state, dict):
        raise UserError(f"{path} does not hold a state dict")
    if arch == "densenet121":  # torchvision's renaming of the old DenseNet keys
        state = {(_OLD_DENSENET_KEY.sub(r"\1\2", key)): value for key, value in state.items()}
    if arch == "googlenet":  # the auxiliary classifiers are switched off here
        state = {k: v for k, v in state.items() if not k.startswith(("aux1.", "aux2."))}
    if arch == "vit_b_16":
        state = interpolate_embeddings(model.image_size, model.patch_size, state)
    head = spec(arch).head_prefix
    return {k: v for k, v in state.items() if not k.startswith(head)}


def load_imagenet(model: nn.Module, arch: str, path: Path) -> None:
    """Copy ImageNet weights from ``path`` into ``model``, all but the two-class head."""
    state = _imagenet_state(arch, path, model)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # a tensor of the wrong shape
        raise UserError(f"{path} does not match {arch}: {error}") from None
    head = spec(arch).head_prefix
    missing = [key for key in result.missing_keys if not key.startswith(head)]
    if missing or result.unexpected_keys:
        raise UserError(f"{path} does not match {arch}: missing {missing[:3]}, "
                        f"unexpected {result.unexpected_keys[:3]}")
