"""Each trained model's default heatmap: the (target layer, CAM method) whose maps are most
faithful to the model, chosen once after training on cases the model did not train on, and
recorded in its config (``config["heatmap"]``; read it with
:func:`core.heatmaps.default_heatmap`).

Candidates: the architecture's target layers whose grid is at least 7 x 7 at the model's
image size (:func:`core.models.trunk_head.heatmap_layers`), times the gradient methods that
explain the model's call (Grad-CAM, Grad-CAM++, HiResCAM, LayerCAM). EigenCAM is left out: it
is the activations' first principal component, the same whichever class is explained and of
arbitrary sign, so it cannot explain the call the quiz shows. Score-CAM is left out for cost:
one forward pass per channel of the target layer (1024 at ResNet50's stage 3), hundreds of
times a gradient map.

Score: pytorch-grad-cam's ROAD combined (:func:`core.heatmaps.faithfulness.road_scores`), the
mean over a seeded sample of ``SAMPLE_CASES`` validation cases, each map explaining the model's
call on the case. ROAD rather than the cheaper confidence change: multiplying the image by a
map that is high everywhere changes nothing, so confidence change rewards diffuse maps, the
opposite of a map fine enough to point at a margin; ROAD weighs removing the top against the
bottom of the map's ranking, so a flat map scores 0. Its cost is the budget: per map
2 x len(``CHOICE_PERCENTILES``) forward passes and as many sparse solves (about 40 ms each at
112 px), so 12 cases and two percentiles (30% and 70% of the pixels removed) keep the choice
near 30 s for the dearest candidates (VGG16 at 112 px: 2 layers x 4 methods, 384 forward passes
and 384 solves) on 2 idle CPU cores. Ties go to the finer layer, then to the method listed
first.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from core.heatmaps.cam import compute_cams
from core.heatmaps.faithfulness import road_scores
from core.models.trunk_head import heatmap_layers

CHOICE_METHODS = ("gradcam", "gradcampp", "hirescam", "layercam")
SAMPLE_CASES = 12
CHOICE_PERCENTILES = (30, 70)
METRIC, METRIC_TITLE = "road_combined", "ROAD"

Score = Callable[[nn.Module, torch.Tensor, np.ndarray, Sequence[bool]], np.ndarray]


def road(model: nn.Module, images: torch.Tensor, maps: np.ndarray, calls: Sequence[bool]
         ) -> np.ndarray:
    """ROAD combined at the choice's percentiles."""
    return road_scores(model, images, maps, calls, CHOICE_PERCENTILES)


def best_pair(candidate_maps: dict[tuple[str, str], np.ndarray], model: nn.Module,
              images: torch.Tensor, calls: Sequence[bool], score: Score = road
              ) -> tuple[tuple[str, str], dict[tuple[str, str], float]]:
    """The (layer, method) whose maps of ``images`` score highest on average (ties: the first
    in ``candidate_maps``' order), and every candidate's mean score."""
    means = {pair: float(np.mean(score(model, images, maps, calls)))
             for pair, maps in candidate_maps.items()}
    return max(means, key=means.__getitem__), means


def sample_cases(count: int, seed: int, size: int = SAMPLE_CASES) -> np.ndarray:
    """A seeded sample of ``size`` of ``count`` cases (all where there are fewer), in order."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(count, size=min(size, count), replace=False))


def choose_heatmap(model: nn.Module, arch: str, images: torch.Tensor, calls: Sequence[bool],
                   seed: int = 0, methods: Sequence[str] = CHOICE_METHODS) -> dict:
    """The record of ``model``'s default heatmap, chosen on ``images`` (grey uint8
    (N, 1, S, S) at its input size: validation cases) where ``calls`` are its calls on them
    (malignant at its threshold). ``model`` must be frozen (``core.models.loading.freeze``).

    Returns ``{"layer", "method", "score", "metric", "metric_title", "cases", "seed",
    "percentiles", "seconds", "candidates": [{"layer", "method", "score"}, ...]}``.
    """
    if len(calls) != len(images):
        raise ValueError(f"{len(calls)} calls for {len(images)} images")
    started = time.perf_counter()
    picked = sample_cases(len(images), seed)
    x = images[torch.as_tensor(picked, device=images.device)]
    chosen_calls = [bool(calls[i]) for i in picked]
    candidate_maps = {(layer, method): compute_cams(model, arch, x, method,
                                                    malignant=chosen_calls, layer=layer)[0]
                      for layer in heatmap_layers(arch, int(images.shape[-1]))
                      for method in methods}
    (layer, method), means = best_pair(candidate_maps, model, x, chosen_calls)
    return {"layer": layer, "method": method, "score": means[(layer, method)],
            "metric": METRIC, "metric_title": METRIC_TITLE, "cases": len(picked), "seed": seed,
            "percentiles": list(CHOICE_PERCENTILES),
            "seconds": round(time.perf_counter() - started, 1),
            "candidates": [{"layer": l, "method": m, "score": s}
                           for (l, m), s in means.items()]}
