"""Augmentations for ultrasound, on whole batches of tensors (CPU or GPU alike).

Horizontal flip (left and right are interchangeable; up and down are not: depth has meaning, so
never a vertical flip), a small affine (rotation, scale, shift), brightness, contrast and gamma
(gain and time-gain settings differ between machines), and speckle-like multiplicative noise.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    flip: float = 0.5              # probability of a horizontal flip
    degrees: float = 10.0          # rotation range, +-
    scale: float = 0.10            # zoom range, +-
    shift: float = 0.06            # translation range, +- fraction of the side
    brightness: float = 0.10       # added, +-
    contrast: float = 0.15         # multiplied around the image mean, 1 +-
    gamma: float = 1.25            # exponent between 1/gamma and gamma
    speckle: float = 0.12          # largest std of the multiplicative noise

    def as_dict(self) -> dict:
        return asdict(self)


def _uniform(n: int, low: float, high: float, generator: torch.Generator,
             device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device) * (high - low) + low


def augment(images: torch.Tensor, settings: Augmentation, generator: torch.Generator
            ) -> torch.Tensor:
    """Augment grey images (B, 1, H, W) in [0, 1]; returns a new tensor in [0, 1]."""
    n, device = images.shape[0], images.device
    flip = torch.rand(n, generator=generator, device=device) < settings.flip
    x = torch.where(flip.view(n, 1, 1, 1), images.flip(-1), images)

    angle = _uniform(n, -settings.degrees, settings.degrees, generator, device) * math.pi / 180
    zoom = _uniform(n, 1 - settings.scale, 1 + settings.scale, generator, device)
    shift = _uniform(2 * n, -settings.shift, settings.shift, generator, device).view(n, 2) * 2
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = _uniform(n, 1 - settings.contrast, 1 + settings.contrast, generator, device)
    brightness = _uniform(n, -settings.brightness, settings.brightness, generator, device)
    x = (x - mean) * contrast.view(n, 1, 1, 1) + mean + brightness.view(n, 1, 1, 1)
    log_gamma = _uniform(n, -math.log(settings.gamma), math.log(settings.gamma), generator, device)
    x = x.clamp(0, 1) ** torch.exp(log_gamma).view(n, 1, 1, 1)

    sigma = _uniform(n, 0, settings.speckle, generator, device).view(n, 1, 1, 1)
    noise = torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype)
    grain = F.avg_pool2d(noise, 3, stride=1, padding=1, count_include_pad=False) * 3
    return (x * (1 + sigma * grain)).clamp(0, 1)
