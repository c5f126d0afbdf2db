"""The six architectures: built with a two-class head, trainable at 32 px, and cut at every
candidate Grad-CAM target layer so that head(trunk(x)) is exactly the model's output."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import UserError
from core.models.augment import Augmentation, augment
from core.models.engine import class_weights, train_one_epoch
from core.models.profiles import profile_for
from core.models.registry import (ARCHS, build_model, parse_archs, spec, target_layer,
                                  tokens_to_grid)
from core.models.trunk_head import head, trunk
from models_helpers import torch_threads  # noqa: F401  (autouse fixture)


def test_resnet50_trains_first():
    assert ARCHS[0] == "resnet50"
    assert set(ARCHS) == {"vgg16", "googlenet", "alexnet", "resnet50", "vit_b_16", "densenet121"}


@pytest.mark.parametrize("arch", ARCHS)
def test_each_model_takes_a_training_step_at_32px(arch):
    torch.manual_seed(0)
    model = build_model(arch, num_classes=2, image_size=32)
    profile = profile_for("quick", arch, epochs=1, image_size=32)
    images = torch.randint(0, 256, (4, 1, 32, 32), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 0, 1])
    params = list(model.parameters())
    first, last = params[0].detach().clone(), params[-2].detach().clone()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    # two epochs: ViT's head starts at zero, so its first step moves only the head
    for _ in range(2):
        loss = train_one_epoch(model, images, labels, np.arange(4), optimizer, scheduler,
                               class_weights(labels), profile, torch.Generator().manual_seed(0),
                               torch.Generator().manual_seed(0))
        assert np.isfinite(loss)
    assert not torch.equal(first, params[0]) and not torch.equal(last, params[-2])
    model.eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 2)


@pytest.mark.parametrize("arch,layer", [(arch, layer) for arch in ARCHS
                                         for layer in (None, *spec(arch).candidates)])
def test_trunk_and_head_reproduce_the_model_and_the_target_layer(arch, layer):
    torch.manual_seed(1)
    model = build_model(arch, image_size=64).eval()
    x = torch.randn(2, 3, 64, 64)
    seen = []
    hook = target_layer(model, arch, layer).register_forward_hook(
        lambda module, args, output: seen.append(output.clone()))
    try:
        with torch.no_grad():
            expected = model(x)
            activations, context = trunk(model, arch, x, layer)
            logits = head(model, arch, activations, context, layer)
    finally:
        hook.remove()
    assert torch.allclose(logits, expected, atol=1e-5)
    reference = tokens_to_grid(seen[0]) if arch == "vit_b_16" else seen[0]
    assert torch.allclose(activations, reference, atol=1e-6)
    assert activations.ndim == 4
    assert any(True for _ in target_layer(model, arch, layer).parameters())


def test_a_layer_that_is_not_a_candidate_is_refused():
    model = build_model("resnet50", image_size=64).eval()
    with pytest.raises(UserError, match="not a heatmap target layer of resnet50"):
        trunk(model, "resnet50", torch.zeros(1, 3, 64, 64), "layer2")


def test_vit_takes_other_sizes_in_steps_of_16():
    model = build_model("vit_b_16", image_size=48).eval()
    with torch.no_grad():
        activations, _ = trunk(model, "vit_b_16", torch.zeros(1, 3, 48, 48))
    assert activations.shape == (1, 768, 3, 3)
    with pytest.raises(UserError, match="multiple of 16"):
        build_model("vit_b_16", image_size=40)


def test_parse_archs():
    assert parse_archs("all") == list(ARCHS)
    assert parse_archs("vgg16, resnet50,vgg16") == ["vgg16", "resnet50"]
    with pytest.raises(UserError, match="unknown architecture 'resnet18'"):
        parse_archs("resnet18")


def test_augmentation_keeps_range_shape_and_depth_direction():
    generator = torch.Generator().manual_seed(0)
    images = torch.zeros(64, 1, 32, 32)
    images[:, :, :8, :] = 1.0  # bright band at the top (near field)
    out = augment(images, Augmentation(), generator)
    assert out.shape == images.shape
    assert out.min() >= 0 and out.max() <= 1
    top, bottom = out[:, :, :10, :].mean(), out[:, :, -10:, :].mean()
    assert top > 5 * bottom  # no vertical flip: the near field stays on top
    assert not torch.equal(out[0], out[1])
