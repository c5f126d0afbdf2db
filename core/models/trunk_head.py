"""Each architecture cut at its Grad-CAM target layer: a trunk (input -> the target layer's
output) and a head (that output -> logits), with ``head(trunk(x)) == model(x)``.

Heatmaps run the trunk without gradients and only the head with them, so a heatmap costs about
one forward pass instead of a full backward pass through the network. The functions only read
the model (no hooks, no mode changes), so threads may share one model.

For ViT the trunk returns the patch tokens of the last block's first norm as a grid
(B, C, g, g) and passes the class token and the block's input (for the residual) as context.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.models.registry import spec, tokens_to_grid

Context = Any


def _resnet_trunk(m: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Context]:
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    return m.layer4(m.layer3(m.layer2(m.layer1(x)))), None


def _resnet_head(m: nn.Module, a: torch.Tensor, _: Context) -> torch.Tensor:
    return m.fc(torch.flatten(m.avgpool(a), 1))


def _googlenet_trunk(m: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Context]:
    x = m._transform_input(x)
    for name in ("conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a",
                 "inception3b", "maxpool3", "inception4a", "inception4b", "inception4c",
                 "inception4d", "inception4e", "maxpool4", "inception5a", "inception5b"):
        x = getattr(m, name)(x)
    return x, None


def _googlenet_head(m: nn.Module, a: torch.Tensor, _: Context) -> torch.Tensor:
    return m.fc(m.dropout(torch.flatten(m.avgpool(a), 1)))


def _features_trunk(last: int):
    """AlexNet/VGG: ``features`` up to and including the last convolution."""
    def trunk(m: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Context]:
        if hasattr(m, "fit_input"):
            x = m.fit_input(x)
        return m.features[: last + 1](x), None
    return trunk


def _features_head(last: int):
    """The ReLU after the last convolution is applied out of place (the model's own is in
    place, which would overwrite the activations a heatmap weighs)."""
    def head(m: nn.Module, a: torch.Tensor, _: Context) -> torch.Tensor:
        x = m.features[last + 2:](F.relu(a))
        return m.classifier(torch.flatten(m.avgpool(x), 1))
    return head


def _densenet_trunk(m: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Context]:
    return m.features[:-1](x), None


def _densenet_head(m: nn.Module, a: torch.Tensor, _: Context) -> torch.Tensor:
    out = F.adaptive_avg_pool2d(F.relu(m.features.norm5(a)), (1, 1))
    return m.classifier(torch.flatten(out, 1))


def _vit_trunk(m: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Context]:
    x = m._process_input(x)
    x = torch.cat([m.class_token.expand(x.shape[0], -1, -1), x], dim=1)
    encoder = m.encoder
    x = encoder.dropout(x + encoder.pos_embedding)
    x = encoder.layers[:-1](x)
    normed = encoder.layers[-1].ln_1(x)
    return tokens_to_grid(normed), (normed[:, :1], x)


def _vit_head(m: nn.Module, a: torch.Tensor, context: Context) -> torch.Tensor:
    class_row, block_input = context
    block = m.encoder.layers[-1]
    tokens = torch.cat([class_row, a.flatten(2).transpose(1, 2)], dim=1)
    attended, _ = block.self_attention(tokens, tokens, tokens, need_weights=False)
    x = block.dropout(attended) + block_input
    x = x + block.mlp(block.ln_2(x))
    return m.heads(m.encoder.ln(x)[:, 0])


_SPLITS = {
    "resnet50": (_resnet_trunk, _resnet_head),
    "googlenet": (_googlenet_trunk, _googlenet_head),
    "alexnet": (_features_trunk(10), _features_head(10)),
    "vgg16": (_features_trunk(28), _features_head(28)),
    "densenet121": (_densenet_trunk, _densenet_head),
    "vit_b_16": (_vit_trunk, _vit_head),
}


def trunk(model: nn.Module, arch: str, x: torch.Tensor) -> tuple[torch.Tensor, Context]:
    """Input batch -> (the target layer's output as a feature map (B, C, h, w), context)."""
    spec(arch)
    return _SPLITS[arch][0](model, x)


def head(model: nn.Module, arch: str, activations: torch.Tensor, context: Context
         ) -> torch.Tensor:
    """The target layer's output (and the trunk's context) -> logits."""
    spec(arch)
    return _SPLITS[arch][1](model, activations, context)
