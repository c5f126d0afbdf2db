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

Gate: a map taught from must point at the lesion. Where the validation cases' lesion masks are
given (lesion framing: the mask framed as the model reads it, never shown to the model), each
candidate's maps of up to ``GATE_CASES`` of them are scored for their energy inside the lesion
beside the centred Gaussian blob's (:mod:`core.heatmaps.localisation`, in the framed input),
and only the candidates that beat the blob (higher mean, Wilcoxon p < 0.05) may be chosen; where
none does, the candidate with the most energy inside the lesion is chosen (ROAD scores of the
candidates are often within a few thousandths of each other, their localisation tens of percent
apart: the map shown should at least look where the lesion is), and the record says so. The
ROAD sample is drawn from the gate's cases, so the maps are computed once.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from core.heatmaps.cam import compute_cams
from core.heatmaps.faithfulness import road_scores
from core.heatmaps.localisation import Lesion, as_stored, baseline_maps, map_scores, paired_test
from core.models.framing import Box, paste_map
from core.models.trunk_head import heatmap_layers

CHOICE_METHODS = ("gradcam", "gradcampp", "hirescam", "layercam")
SAMPLE_CASES = 12
GATE_CASES = 48
GATE_RULE = ("the most faithful (ROAD) of the candidates whose energy inside the lesion beats "
             "the centred blob's on the validation cases (Wilcoxon p < 0.05)")
NO_GATE_RULE = "the most faithful (ROAD); no lesion masks to check localisation on"
NONE_PASSED_RULE = ("no candidate's energy inside the lesion beat the centred blob's on the "
                    "validation cases: the one with the most energy inside it")
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


def localisation_gate(candidate_maps: dict[tuple[str, str], np.ndarray], masks: np.ndarray
                      ) -> dict[tuple[str, str], dict]:
    """Per candidate, its maps' mean energy inside the lesion against the centred blob's over
    the same cases (``masks``: (N, S, S) bool, the lesions in the framed input; maps on any
    grid, pasted onto S x S as stored maps are), the Wilcoxon p and whether it beats the blob.
    Cases whose framed mask is empty are left out."""
    size = int(masks.shape[-1])
    region, shape = Box(0, 0, size, size), (size, size)
    kept = [i for i, mask in enumerate(masks) if mask.any()]
    lesions = [Lesion(masks[i]) for i in kept]
    centre = baseline_maps(region, shape)["centre"]
    centre_energy = np.array([map_scores(centre, lesion)["energy_inside"] for lesion in lesions])
    gate = {}
    for pair, maps in candidate_maps.items():
        energy = np.array([map_scores(as_stored(paste_map(maps[i], region, shape)),
                                      lesion)["energy_inside"]
                           for i, lesion in zip(kept, lesions)])
        test = paired_test(energy, centre_energy, binary=False)
        gate[pair] = {"energy_inside": float(energy.mean()) if kept else None,
                      "centre_energy_inside": float(centre_energy.mean()) if kept else None,
                      "p": test["p"], "beats_centre": bool(test["better"])}
    return gate


def choose_heatmap(model: nn.Module, arch: str, images: torch.Tensor, calls: Sequence[bool],
                   seed: int = 0, methods: Sequence[str] = CHOICE_METHODS,
                   masks: torch.Tensor | np.ndarray | None = None,
                   fine_last_stage: bool = False) -> dict:
    """The record of ``model``'s default heatmap, chosen on ``images`` (grey uint8
    (N, 1, S, S) at its input size: validation cases) where ``calls`` are its calls on them
    (malignant at its threshold) and ``masks`` (N, S, S) their lesions framed alike (None:
    no localisation gate); ``fine_last_stage``: how ``model`` was built
    (:func:`core.models.registry.build_model`). ``model`` must be frozen
    (``core.models.loading.freeze``).

    Returns ``{"layer", "method", "score", "metric", "metric_title", "rule", "cases",
    "gate_cases", "seed", "percentiles", "seconds", "candidates": [{"layer", "method",
    "score", "energy_inside", "centre_energy_inside", "p", "beats_centre"}, ...]}``.
    """
    if len(calls) != len(images):
        raise ValueError(f"{len(calls)} calls for {len(images)} images")
    if masks is not None and len(masks) != len(images):
        raise ValueError(f"{len(masks)} masks for {len(images)} images")
    started = time.perf_counter()
    picked = sample_cases(len(images), seed, SAMPLE_CASES if masks is None else GATE_CASES)
    x = images[torch.as_tensor(picked, device=images.device)]
    picked_calls = [bool(calls[i]) for i in picked]
    candidate_maps = {(layer, method): compute_cams(model, arch, x, method,
                                                    malignant=picked_calls, layer=layer)[0]
                      for layer in heatmap_layers(arch, int(images.shape[-1]),
                                                  fine_last_stage=fine_last_stage)
                      for method in methods}
    gate = {} if masks is None else localisation_gate(
        candidate_maps, np.asarray(torch.as_tensor(masks).cpu(), dtype=bool)[picked])
    passed = [pair for pair, result in gate.items() if result["beats_centre"]]
    rule = NO_GATE_RULE if masks is None else GATE_RULE if passed else NONE_PASSED_RULE
    road_cases = sample_cases(len(picked), seed)
    road_maps = {pair: maps[road_cases] for pair, maps in candidate_maps.items()}
    road_x = x[torch.as_tensor(road_cases, device=x.device)]
    road_calls = [picked_calls[i] for i in road_cases]
    _, means = best_pair(road_maps, model, road_x, road_calls)
    if passed or not gate:
        layer, method = max(passed or list(candidate_maps), key=means.__getitem__)
    else:
        layer, method = max(gate, key=lambda pair: gate[pair]["energy_inside"] or 0.0)
    return {"layer": layer, "method": method, "score": means[(layer, method)],
            "metric": METRIC, "metric_title": METRIC_TITLE, "rule": rule,
            "cases": len(road_cases), "gate_cases": len(picked) if masks is not None else 0,
            "seed": seed, "percentiles": list(CHOICE_PERCENTILES),
            "seconds": round(time.perf_counter() - started, 1),
            "candidates": [{"layer": l, "method": m, "score": s, **gate.get((l, m), {})}
                           for (l, m), s in means.items()]}
