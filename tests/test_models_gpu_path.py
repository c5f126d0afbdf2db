"""The settings a GPU run depends on, checked on the CPU: index copies once per pass,
probabilities from fp32 logits even where training runs in bf16, cuDNN's autotuner off under
``--deterministic`` (and the previous settings restored), the flags recorded in the model."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from core.cli import main
from core.models import engine
from core.models.profiles import profile_for
from models_helpers import add_tiny_dataset, torch_threads  # noqa: F401


def test_batches_reach_the_device_as_the_same_indices():
    chunks = engine.batches(np.arange(70), 32, torch.Generator().manual_seed(0))
    moved = engine.on_device(chunks, torch.device("cpu"))
    assert [m.tolist() for m in moved] == [c.tolist() for c in chunks]
    assert engine.on_device([], torch.device("cpu")) == []


class DtypeRecorder(nn.Module):
    """A tiny classifier that records the dtype of its logits."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
        self.seen: list[torch.dtype] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(x)
        self.seen.append(logits.dtype)
        return logits


def test_training_runs_in_bf16_but_probabilities_come_from_fp32_logits(monkeypatch):
    # CUDA's bf16 autocast, imitated on the CPU: what runs under it gives bf16 logits.
    monkeypatch.setattr(engine, "_autocast",
                        lambda device, profile: torch.autocast("cpu", dtype=torch.bfloat16))
    profile = replace(profile_for("paper", "resnet50", epochs=1, image_size=32),
                      channels_last=False, amp=True)
    model = DtypeRecorder()
    images = torch.randint(0, 256, (12, 1, 8, 8), dtype=torch.uint8)
    labels = torch.tensor([0, 1] * 6)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    engine.train_one_epoch(model, images, labels, np.arange(12), optimizer, scheduler,
                           torch.ones(2), profile, torch.Generator().manual_seed(0),
                           torch.Generator().manual_seed(0))
    assert set(model.seen) == {torch.bfloat16}
    model.seen.clear()
    prob = engine.evaluate(model, images, np.arange(12), profile)
    assert set(model.seen) == {torch.float32}
    assert prob.shape == (12,) and ((prob > 0) & (prob < 1)).all()


@pytest.mark.parametrize("deterministic", [False, True])
def test_backend_flags_follow_the_profile_and_are_restored(deterministic):
    profile = profile_for("paper", "resnet50", deterministic=deterministic)
    before = (torch.backends.cudnn.benchmark, torch.are_deterministic_algorithms_enabled())
    with engine.backend_flags(profile):
        assert torch.backends.cudnn.benchmark is not deterministic
        assert torch.backends.cudnn.deterministic is deterministic
        assert torch.are_deterministic_algorithms_enabled() is deterministic
    assert (torch.backends.cudnn.benchmark, torch.are_deterministic_algorithms_enabled()) \
        == before


def test_deterministic_training_is_recorded_with_the_model(store, capsys):
    add_tiny_dataset(store)
    assert main(["--db", str(store.path), "train", "--dataset", "tiny", "--models", "googlenet",
                 "--profile", "paper", "--epochs", "1", "--image-size", "32", "--device", "cpu",
                 "--deterministic", "--json"]) == 0
    capsys.readouterr()
    with store.read() as cur:
        config = json.loads(cur.execute("SELECT config FROM models").fetchone()[0])
    assert config["profile"]["deterministic"] is True
    assert config["profile"]["compile"] is False
    assert not torch.are_deterministic_algorithms_enabled()
