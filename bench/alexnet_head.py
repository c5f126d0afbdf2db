"""Why an AlexNet heatmap costs about 1.5 forward passes on a CPU, and what an exact shortcut buys.

    .venv/bin/python bench/alexnet_head.py [--size 224] [--repeats 21] [--chunk 512]

AlexNet's classifier holds 55M of its 61M weights; at batch 1 a pass over them is bound by
memory reads, and a gradient to the last convolution has to read them again. Prints, best of
``--repeats``: the plain forward, and a whole Grad-CAM map (in plain torch, without grad-cam's
bookkeeping) with the head's forward + backward done two ways:

- autograd (what ``core.heatmaps`` runs);
- the best exact shortcut found: fc2's backward fused into its forward in cache-sized row
  chunks (one basis vector: the logit margin), fc1's backward as a sparse product over the
  rows its ReLU leaves active;

then each map's cost in forward passes and how far the shortcut's input gradient is from
autograd's.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from core.models.loading import freeze  # noqa: E402
from core.models.registry import build_model, grey_to_input  # noqa: E402
from core.models.train import cpu_threads  # noqa: E402
from core.models.trunk_head import head, trunk  # noqa: E402


def best_ms(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def shortcut_head(model: torch.nn.Module, chunk: int):
    """The classifier on pooled features (batch 1) with the exact shortcut backward, valid for
    a logit-margin target (gradient (-s, +s) on the two logits)."""
    fc1, fc2, fc3 = model.classifier[1], model.classifier[4], model.classifier[6]

    class Classifier(torch.autograd.Function):
        @staticmethod
        def forward(ctx, features):
            h1 = torch.relu(torch.addmv(fc1.bias, fc1.weight, features[0]))
            margin = fc3.weight[1] - fc3.weight[0]
            basis, h2 = torch.zeros(fc2.weight.shape[1]), torch.empty(fc2.weight.shape[0])
            for start in range(0, fc2.weight.shape[0], chunk):
                rows = fc2.weight[start:start + chunk]  # read once, reused from cache
                part = torch.addmv(fc2.bias[start:start + chunk], rows, h1,
                                   out=h2[start:start + chunk])
                basis.addmv_(rows.t(), (part > 0) * margin[start:start + chunk])
            ctx.save_for_backward(h1 > 0, basis)
            return F.linear(torch.relu(h2), fc3.weight, fc3.bias).unsqueeze(0)

        @staticmethod
        def backward(ctx, grad_logits):
            active, basis = ctx.saved_tensors
            scale = (grad_logits[0, 1] - grad_logits[0, 0]) / 2
            gradient = (scale * basis * active).unsqueeze(0)
            return torch.sparse.mm(gradient.to_sparse(), fc1.weight)

    def run(activations: torch.Tensor) -> torch.Tensor:
        pooled = model.avgpool(model.features[12:](F.relu(activations)))
        return Classifier.apply(torch.flatten(pooled, 1))
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--chunk", type=int, default=512, help="fc2 rows per cached chunk")
    args = parser.parse_args()
    torch.set_num_threads(cpu_threads())
    torch.manual_seed(0)
    model = freeze(build_model("alexnet", image_size=args.size))
    image = grey_to_input(torch.randint(0, 256, (1, 1, args.size, args.size)).float() / 255)
    with torch.no_grad():
        activations, _ = trunk(model, "alexnet", image)
    fast = shortcut_head(model, args.chunk)

    def gradient(run, entry: torch.Tensor) -> torch.Tensor:
        entry = entry.detach().requires_grad_(True)
        logits = run(entry)
        (logits[:, 1] - logits[:, 0]).sum().backward()
        return entry.grad

    def grad_cam(run) -> torch.Tensor:
        """A whole Grad-CAM map in plain torch: trunk without gradients, head forward and
        backward, channel weights, weighted sum, ReLU, scaled to [0, 1]."""
        with torch.no_grad():
            entry, _ = trunk(model, "alexnet", image)
        weights = gradient(run, entry).mean((2, 3), keepdim=True)
        cam = torch.relu((weights * entry).sum(1))
        return cam / cam.max().clamp_min(1e-12)

    def forward() -> None:
        with torch.inference_mode():
            model(image)

    def autograd(entry: torch.Tensor) -> torch.Tensor:
        return head(model, "alexnet", entry, None)

    plain = gradient(autograd, activations)
    error = float((gradient(fast, activations) - plain).abs().max() / plain.abs().max())
    forward_ms = best_ms(forward, args.repeats)
    print(f"AlexNet at {args.size} px, {torch.get_num_threads()} thread(s): "
          f"forward {forward_ms:.1f} ms")
    for name, run in (("autograd head", autograd), ("shortcut head", fast)):
        map_ms = best_ms(lambda: grad_cam(run), args.repeats)
        print(f"{name}: Grad-CAM map {map_ms:5.1f} ms, {map_ms / forward_ms:.2f} forward passes "
              f"(target <= 1.3)")
    print(f"shortcut input gradient vs autograd: max relative difference {error:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
