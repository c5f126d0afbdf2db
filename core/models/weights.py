"""ImageNet weights: torchvision's own files, in the torch hub cache or a folder the user names.

Training only reads files already on disk (``--init auto`` uses whatever is there). They get
there by :func:`download_weights` (``python -m core weights download``, or the admin page's
job), which fetches torchvision's URL with torch's own downloader: a progress bar, the SHA-256
checked against the prefix in the file name, the file moved into place only when complete. Or
by hand: the file names are torchvision's (the last part of each weights URL), so a cache
filled on another machine works as is.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
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


def weights_url(arch: str, url_base: str | None = None) -> str:
    """Where to fetch ``arch``'s file: torchvision's URL, or the same name under ``url_base``
    (a mirror of download.pytorch.org/models)."""
    if url_base is None:
        return spec(arch).weights.url
    return f"{url_base.rstrip('/')}/{weights_file_name(arch)}"


def weights_folder(weights_dir: str | Path | None = None) -> Path:
    """The named folder, else the torch hub cache's ``checkpoints`` (where torchvision looks)."""
    if weights_dir is not None:
        return Path(weights_dir)
    return Path(torch.hub.get_dir()) / "checkpoints"


def candidate_paths(arch: str, weights_dir: str | Path | None = None) -> list[Path]:
    """Where the weights may be: the named folder if given, else the torch hub cache."""
    return [weights_folder(weights_dir) / weights_file_name(arch)]


@dataclass(frozen=True)
class WeightsFile:
    arch: str
    path: Path
    present: bool
    megabytes: float | None
    intact: bool | None = None    # its SHA-256 starts with the hash in its name (if checked)


def _hash_prefix(name: str) -> str:
    return torch.hub.HASH_REGEX.search(name).group(1)


def matches_its_name(path: Path) -> bool:
    """Whether the file's SHA-256 starts with the hash in its name (torchvision's check)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest().startswith(
            _hash_prefix(path.name))


def list_weights(archs: list[str], weights_dir: str | Path | None = None,
                 check: bool = False) -> list[WeightsFile]:
    """Each architecture's ImageNet file, whether it is present and, with ``check``, intact."""
    files = []
    for arch in archs:
        path = candidate_paths(arch, weights_dir)[0]
        present = path.is_file()
        files.append(WeightsFile(arch, path, present,
                                 path.stat().st_size / 1e6 if present else None,
                                 matches_its_name(path) if present and check else None))
    return files


def download_weights(arch: str, weights_dir: str | Path | None = None,
                     url_base: str | None = None, progress: bool = True) -> Path:
    """Fetch ``arch``'s ImageNet file into ``weights_dir`` (default: the torch hub cache) with
    torch's downloader, unless an intact copy is there already (a damaged one is replaced);
    returns its path. The file's SHA-256 must start with the hash in its name (torchvision's
    ``check_hash``): a damaged or altered download is refused and nothing is kept. Offline: a
    one-line error naming the file to copy by hand."""
    name = weights_file_name(arch)
    folder = weights_folder(weights_dir)
    path = folder / name
    if path.is_file() and matches_its_name(path):
        return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create {folder}: {error.strerror or error}") from None
    url = weights_url(arch, url_base)
    hash_prefix = _hash_prefix(name)
    try:
        torch.hub.download_url_to_file(url, str(path), hash_prefix=hash_prefix,
                                       progress=progress)
    except RuntimeError as error:  # torch's "invalid hash value"
        raise UserError(f"{url}: {error}: damaged or not torchvision's file; refused, "
                        "nothing was kept") from None
    except OSError as error:  # no network (URLError), HTTP error, disk full...
        reason = getattr(error, "reason", None) or error.strerror or error
        origin = "" if url == spec(arch).weights.url else f" (from {spec(arch).weights.url})"
        raise UserError(f"cannot download {url} ({reason}): copy {name}{origin} by hand into "
                        f"{folder}") from None
    return path


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
            f"no ImageNet weights for {arch}: expected {where}. Run python -m core weights "
            f"download --arch {arch} (or copy torchvision's file {weights_file_name(arch)} "
            "there), or use --init auto|scratch")
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
