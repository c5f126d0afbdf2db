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
from core.models.trunk_head import grid_size, head, heatmap_layers, trunk
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


FINE_ARCHS = ("resnet50", "densenet121")


@pytest.mark.parametrize("arch", FINE_ARCHS)
def test_the_fine_last_stage_doubles_the_last_grid_and_keeps_the_parameters(arch):
    last = spec(arch).candidates[-1]
    assert grid_size(arch, last, 112) in ((4, 4), (3, 3))
    assert grid_size(arch, last, 112, fine_last_stage=True) == (7, 7)
    # the stage before keeps its grid, and is no longer offered: the last stage is as fine
    assert grid_size(arch, spec(arch).candidates[0], 112, fine_last_stage=True) == (7, 7)
    assert heatmap_layers(arch, 112, fine_last_stage=True) == [last]
    coarse = build_model(arch, image_size=112).state_dict()
    fine = build_model(arch, image_size=112, fine_last_stage=True).state_dict()
    assert {k: v.shape for k, v in coarse.items()} == {k: v.shape for k, v in fine.items()}
    assert profile_for("quick", arch).fine_last_stage
    assert not profile_for("paper", arch).fine_last_stage  # 224 px: 7 x 7 already


@pytest.mark.parametrize("arch", FINE_ARCHS)
@pytest.mark.parametrize("layer", [None, "first", "last"])
def test_trunk_and_head_reproduce_the_fine_variant(arch, layer):
    layer = {"first": spec(arch).candidates[0], "last": spec(arch).candidates[-1]}.get(layer)
    torch.manual_seed(2)
    model = build_model(arch, image_size=64, fine_last_stage=True).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        activations, context = trunk(model, arch, x, layer)
        assert torch.allclose(head(model, arch, activations, context, layer), model(x),
                              atol=1e-5)
        coarse = build_model(arch, image_size=64).eval()
        coarse.load_state_dict(model.state_dict())
        assert not torch.allclose(coarse(x), model(x), atol=1e-3)  # the variant is a change


def test_only_resnet50_and_densenet121_have_a_fine_variant():
    assert all(not profile_for("quick", arch).fine_last_stage
               for arch in ARCHS if arch not in FINE_ARCHS)
    with pytest.raises(UserError, match="googlenet has no fine-last-stage variant"):
        build_model("googlenet", image_size=64, fine_last_stage=True)


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
