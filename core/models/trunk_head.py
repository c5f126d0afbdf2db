"""Each architecture cut at a Grad-CAM target layer: a trunk (input -> the target layer's
output) and a head (that output -> logits), with ``head(trunk(x)) == model(x)``.

Heatmaps run the trunk without gradients and only the head with them, so a heatmap costs about
one forward pass instead of a full backward pass through the network. The functions only read
the model (no hooks, no mode changes), so threads may share one model.

Every layer of ``registry.candidate_layers`` can be the cut (``layer``; None: the
architecture's fallback target, ``ArchSpec.target``). For ViT the trunk returns the patch
tokens of the last block's first norm as a grid (B, C, g, g) and passes the class token and
the block's input (for the residual) as context.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import UserError
from core.models.registry import spec, tokens_to_grid

Context = Any
Trunk = Callable[[nn.Module, torch.Tensor], tuple[torch.Tensor, Context]]
Head = Callable[[nn.Module, torch.Tensor, Context], torch.Tensor]

_RESNET_STAGES = ("layer1", "layer2", "layer3", "layer4")
_GOOGLENET_BLOCKS = ("conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a",
                     "inception3b", "maxpool3", "inception4a", "inception4b", "inception4c",
                     "inception4d", "inception4e", "maxpool4", "inception5a", "inception5b")


def _blocks(blocks: tuple[str, ...], layer: str,
            stem: Callable[[nn.Module, torch.Tensor], torch.Tensor],
            top: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> tuple[Trunk, Head]:
    """A model run as ``stem``, named ``blocks`` in order, then ``top``, cut after ``layer``."""
    cut = blocks.index(layer) + 1

    def trunk(m: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Context]:
        x = stem(m, x)
        for name in blocks[:cut]:
            x = getattr(m, name)(x)
        return x, None

    def head(m: nn.Module, a: torch.Tensor, _: Context) -> torch.Tensor:
        for name in blocks[cut:]:
            a = getattr(m, name)(a)
        return top(m, a)
    return trunk, head


def _resnet(layer: str) -> tuple[Trunk, Head]:
    """Cut after a stage (``layer4.2``, the last block, is the end of stage 4)."""
    return _blocks(_RESNET_STAGES, layer.split(".")[0],
                   lambda m, x: m.maxpool(m.relu(m.bn1(m.conv1(x)))),
                   lambda m, a: m.fc(torch.flatten(m.avgpool(a), 1)))


def _googlenet(layer: str) -> tuple[Trunk, Head]:
    return _blocks(_GOOGLENET_BLOCKS, layer, lambda m, x: m._transform_input(x),
                   lambda m, a: m.fc(m.dropout(torch.flatten(m.avgpool(a), 1))))


def _features(layer: str) -> tuple[Trunk, Head]:
    """AlexNet/VGG: cut after the convolution ``features.N``. The ReLU after it is applied out
    of place (the model's own is in place, which would overwrite the activations a heatmap
    weighs)."""
    last = int(layer.split(".")[1])

    def trunk(m: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Context]:
        if hasattr(m, "fit_input"):
            x = m.fit_input(x)
        return m.features[: last + 1](x), None

    def head(m: nn.Module, a: torch.Tensor, _: Context) -> torch.Tensor:
        x = m.features[last + 2:](F.relu(a))
        return m.classifier(torch.flatten(m.avgpool(x), 1))
    return trunk, head


def _densenet(layer: str) -> tuple[Trunk, Head]:
    """Cut after the dense block ``features.denseblockN``; the head runs the rest of
    ``features`` (transitions, later blocks, the final norm)."""
    name = layer.split(".")[1]

    def cut(m: nn.Module) -> int:
        return list(m.features._modules).index(name) + 1

    def trunk(m: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Context]:
        return m.features[:cut(m)](x), None

    def head(m: nn.Module, a: torch.Tensor, _: Context) -> torch.Tensor:
        out = F.adaptive_avg_pool2d(F.relu(m.features[cut(m):](a)), (1, 1))
        return m.classifier(torch.flatten(out, 1))
    return trunk, head


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


_SPLITTERS: dict[str, Callable[[str], tuple[Trunk, Head]]] = {
    "resnet50": _resnet, "googlenet": _googlenet, "alexnet": _features, "vgg16": _features,
    "densenet121": _densenet, "vit_b_16": lambda _: (_vit_trunk, _vit_head),
}


@cache
def split_at(arch: str, layer: str | None = None) -> tuple[Trunk, Head]:
    """The (trunk, head) functions of ``arch`` cut at ``layer`` (None: ``spec(arch).target``);
    UserError for a layer that is not one of the architecture's candidates."""
    arch_spec = spec(arch)
    layer = layer or arch_spec.target
    if layer not in arch_spec.candidates:
        raise UserError(f"{layer!r} is not a heatmap target layer of {arch}; choose from "
                        f"{', '.join(arch_spec.candidates)}")
    return _SPLITTERS[arch](layer)


def trunk(model: nn.Module, arch: str, x: torch.Tensor, layer: str | None = None
          ) -> tuple[torch.Tensor, Context]:
    """Input batch -> (the target layer's output as a feature map (B, C, h, w), context)."""
    return split_at(arch, layer)[0](model, x)


def head(model: nn.Module, arch: str, activations: torch.Tensor, context: Context,
         layer: str | None = None) -> torch.Tensor:
    """The target layer's output (and the trunk's context) -> logits."""
    return split_at(arch, layer)[1](model, activations, context)


def grid_size(arch: str, layer: str | None, image_size: int, fine_last_stage: bool = False
              ) -> tuple[int, int]:
    """The (h, w) cells of a map at ``layer`` for ``image_size`` inputs, worked out on the meta
    device (no weights, no arithmetic)."""
    from core.models.registry import build_model

    with torch.device("meta"):
        model = build_model(arch, image_size=image_size, fine_last_stage=fine_last_stage).eval()
        activations, _ = trunk(model, arch, torch.empty(1, 3, image_size, image_size), layer)
    return int(activations.shape[-2]), int(activations.shape[-1])


def heatmap_layers(arch: str, image_size: int, min_cells: int = 7,
                   fine_last_stage: bool = False) -> list[str]:
    """The candidate layers whose grid is at least ``min_cells`` x ``min_cells`` at
    ``image_size`` and finer than every later candidate's (a deeper layer with as many cells
    is cheaper to map and closer to the call); where none has ``min_cells`` (small test
    inputs), the candidate with the finest grid."""
    grids = {layer: min(grid_size(arch, layer, image_size, fine_last_stage))
             for layer in spec(arch).candidates}
    layers = list(grids)
    fine = [layer for i, layer in enumerate(layers) if grids[layer] >= min_cells
            and all(grids[layer] > grids[later] for later in layers[i + 1:])]
    return fine or [max(reversed(layers), key=grids.__getitem__)]
