"""Stand-ins for the phantom generator and for training, for tests of the demo and the app
shell: noise images instead of phantoms, a training function that only reports progress."""
from __future__ import annotations

import sys
import types

import numpy as np

from core.cases.library import NewCase, save_cases

ARCHS = ("vgg16", "googlenet", "alexnet", "resnet50", "vit", "densenet121")


def noise_phantoms(store, n=420, seed=0, dataset="phantom"):
    """n noise images, half malignant, each its own patient."""
    rng = np.random.default_rng(seed)
    cases = [NewCase(f"phantom/{i:04d}.png", "malignant" if i % 2 else "benign",
                     rng.integers(0, 256, (32, 32), dtype=np.uint8), patient_id=f"p{i}")
             for i in range(n)]
    return save_cases(store, dataset, "phantom", cases, source="generator", params={"n": n})


def install_fake_phantoms(monkeypatch) -> None:
    module = types.ModuleType("core.cases.phantom")
    module.import_phantoms = noise_phantoms
    monkeypatch.setitem(sys.modules, "core.cases.phantom", module)


def install_fake_training(monkeypatch) -> list[dict]:
    """Fake ``core.models.registry`` and ``core.models.train``; returns the list of calls."""
    calls = []

    def train_models(store, dataset, archs, profile="quick", device="auto", seed=0,
                     progress=None, cancel=None):
        calls.append({"dataset": dataset, "archs": list(archs), "profile": profile})
        for number, arch in enumerate(archs, 1):
            progress({"arch": arch, "epoch": 1, "epochs": 1, "fraction": number / len(archs),
                      "message": f"{arch} epoch 1/1"})
        return [f"{arch}-quick-{dataset}-s0" for arch in archs]

    registry = types.ModuleType("core.models.registry")
    registry.ARCHS = ARCHS
    train = types.ModuleType("core.models.train")
    train.train_models = train_models
    monkeypatch.setitem(sys.modules, "core.models.registry", registry)
    monkeypatch.setitem(sys.modules, "core.models.train", train)
    return calls
