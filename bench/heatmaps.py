"""Heatmap cost against a plain forward pass, for all six models at 224 px on the CPU.

    .venv/bin/python bench/heatmaps.py [--size 224] [--repeats 5] [--batch 8] [--method gradcam]
                                       [--archs all] [--grad-cam-default]

Prints per model: forward ms (one image, inference mode), heatmap ms (one image, the trunk/head
Grad-CAM of core.heatmaps), their ratio (target: at most 1.3), heatmaps per second in batches
and the same ratio for a batch. Each time is the best of interleaved repeats (on a shared
machine other work only ever adds time). ``--grad-cam-default`` also times pytorch-grad-cam used
the usual way (hooks on the whole model, gradients through all of it).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core.heatmaps.cam import METHODS, ClassMargin, compute_cams  # noqa: E402
from core.models.loading import freeze  # noqa: E402
from core.models.registry import build_model, grey_to_input, parse_archs, target_layer  # noqa: E402
from core.models.registry import tokens_to_grid  # noqa: E402
from core.models.train import cpu_threads  # noqa: E402


def _ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _default_grad_cam(model, arch, image):
    reshape = tokens_to_grid if arch == "vit_b_16" else None
    cam = METHODS["gradcam"](model=model, target_layers=[target_layer(model, arch)],
                             reshape_transform=reshape)
    x = grey_to_input(image.float() / 255)
    try:
        cam(input_tensor=x, targets=[ClassMargin(0.5)])
    finally:
        cam.activations_and_grads.release()


def bench(arch: str, args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    model = freeze(build_model(arch, image_size=args.size))
    one = torch.randint(0, 256, (1, 1, args.size, args.size), dtype=torch.uint8)
    batch = torch.randint(0, 256, (args.batch, 1, args.size, args.size), dtype=torch.uint8)

    def forward():
        with torch.inference_mode():
            model(grey_to_input(one.float() / 255))

    def forward_batch():
        with torch.inference_mode():
            model(grey_to_input(batch.float() / 255))

    def heatmap():
        compute_cams(model, arch, one, args.method)

    forward(), heatmap()  # warm-up
    forward_ms, heatmap_ms = [], []
    for _ in range(args.repeats):
        forward_ms.append(_ms(forward))
        heatmap_ms.append(_ms(heatmap))
    batch_forward_ms = min(_ms(forward_batch) for _ in range(2))
    batch_heatmap_ms = min(_ms(lambda: compute_cams(model, arch, batch, args.method))
                           for _ in range(2))
    result = {"arch": arch, "forward_ms": min(forward_ms), "heatmap_ms": min(heatmap_ms),
              "per_second": args.batch / batch_heatmap_ms * 1000,
              "batch_ratio": batch_heatmap_ms / batch_forward_ms}
    result["ratio"] = result["heatmap_ms"] / result["forward_ms"]
    if args.grad_cam_default:
        trainable = build_model(arch, image_size=args.size).eval()
        trainable.load_state_dict(model.state_dict())
        _default_grad_cam(trainable, arch, one)
        default = min(_ms(lambda: _default_grad_cam(trainable, arch, one))
                      for _ in range(args.repeats))
        result["default_ratio"] = default / result["forward_ms"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--method", default="gradcam", choices=sorted(METHODS))
    parser.add_argument("--archs", default="all")
    parser.add_argument("--grad-cam-default", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(cpu_threads())
    print(f"{args.method} at {args.size} px on the CPU, {torch.get_num_threads()} thread(s), "
          f"load average {os.getloadavg()[0]:.1f}")
    header = (f"{'model':<12} {'forward ms':>10} {'heatmap ms':>10} {'ratio':>6} {'maps/s':>7} "
              f"{'batch ratio':>11}")
    print(header + (f" {'grad-cam default ratio':>22}" if args.grad_cam_default else ""))
    worst = 0.0
    for arch in parse_archs(args.archs):
        r = bench(arch, args)
        worst = max(worst, r["ratio"])
        line = (f"{arch:<12} {r['forward_ms']:>10.1f} {r['heatmap_ms']:>10.1f} "
                f"{r['ratio']:>6.2f} {r['per_second']:>7.1f} {r['batch_ratio']:>11.2f}")
        if "default_ratio" in r:
            line += f" {r['default_ratio']:>22.2f}"
        print(line, flush=True)
    print(f"worst ratio {worst:.2f} (target <= 1.3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
