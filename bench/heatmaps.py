"""Heatmap cost against a plain forward pass, at each model's training size and at each layer
its default map may use, on the CPU.

    .venv/bin/python bench/heatmaps.py [--profile quick] [--size N] [--repeats 5] [--batch 16]
                                       [--method gradcam] [--archs all] [--grad-cam-default]

Prints per model and layer (``core.models.trunk_head.heatmap_layers``: the candidates with at
least 7 x 7 cells at the profile's image size, on the profile's variant of the architecture,
"(fine)" where its last stage keeps its resolution; training chooses one of them): the grid,
forward ms (one image, inference mode), map ms (one image, the trunk/head map of core.heatmaps),
their ratio (target: at most 1.3 for the five CNNs), then per map in a batch of ``--batch`` (as
precompute runs a split) against one at a time, first for the map alone, then for all the work
precompute does per map (``core.heatmaps.compute.score_maps`` on ``--batch`` lesion-framed
phantoms: framing, the map, its and the centre blob's faithfulness, pasting back, localisation
scores; the store's reads and writes, a few per batch, are left out) (target: at least 2x
faster). For AlexNet and VGG16, their memory-traffic bound: at batch 1 their classifier's
weights (218 MB and 478 MB of float32) are read once by a forward pass and twice by a map
(forward, then Wᵀg back to the convolutions), so a map costs at least a forward plus one more
read of those bytes; printed in bytes, as the ratio it implies, and how close the map comes to
it. On two threads the convolutions run fast enough that VGG16's bound is above 1.3 too. Each
time is the best of interleaved repeats (on a shared machine other work only ever adds time).
``--grad-cam-default`` also times pytorch-grad-cam used the usual way (hooks on the whole
model, gradients through all of it).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core.cases.phantom import generate_phantoms  # noqa: E402
from core.heatmaps.cam import METHODS, ClassMargin, compute_cams  # noqa: E402
from core.heatmaps.compute import score_maps  # noqa: E402
from core.models.loading import LoadedModel, freeze  # noqa: E402
from core.models.profiles import PROFILES, profile_for  # noqa: E402
from core.models.registry import (build_model, grey_to_input, parse_archs, spec,  # noqa: E402
                                  target_layer)
from core.models.registry import tokens_to_grid  # noqa: E402
from core.models.train import cpu_threads  # noqa: E402
from core.models.trunk_head import grid_size, heatmap_layers, trunk  # noqa: E402


def _ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _best(fn, repeats: int) -> float:
    fn()
    return min(_ms(fn) for _ in range(repeats))


def _default_grad_cam(model, arch, layer, image):
    reshape = tokens_to_grid if arch == "vit_b_16" else None
    cam = METHODS["gradcam"](model=model, target_layers=[target_layer(model, arch, layer)],
                             reshape_transform=reshape)
    x = grey_to_input(image.float() / 255)
    try:
        cam(input_tensor=x, targets=[ClassMargin(0.5)])
    finally:
        cam.activations_and_grads.release()


Cases = dict[int, tuple]  # case id -> (image, lesion mask), as precompute reads them


def precompute_work(model, arch: str, layer: str, size: int, method: str, cases: Cases
                    ) -> tuple[float, float]:
    """Milliseconds per map of precompute's work (:func:`score_maps`) on ``cases`` in one
    batch and one case at a time."""
    loaded = LoadedModel(f"{arch}-bench", arch, model, size, 0.5, torch.device("cpu"),
                         "phantom", "lesion", config={"heatmap": {"layer": layer,
                                                                  "method": method}})

    def run(batch: int) -> None:
        ids = list(cases)
        for start in range(0, len(ids), batch):
            chunk = {c: cases[c] for c in ids[start:start + batch]}
            score_maps(loaded, chunk, method, batch, [None] * len(chunk))

    return _best(lambda: run(len(cases)), 2) / len(cases), _best(lambda: run(1), 1) / len(cases)


def bench(arch: str, layer: str, size: int, fine: bool, args: argparse.Namespace,
          cases: Cases) -> dict:
    torch.manual_seed(0)
    model = freeze(build_model(arch, image_size=size, fine_last_stage=fine))
    one = torch.randint(0, 256, (1, 1, size, size), dtype=torch.uint8)
    batch = torch.randint(0, 256, (args.batch, 1, size, size), dtype=torch.uint8)

    def forward():
        with torch.inference_mode():
            model(grey_to_input(one.float() / 255))

    def heatmap():
        compute_cams(model, arch, one, args.method, layer=layer)

    def one_at_a_time():
        for image in batch:
            compute_cams(model, arch, image[None], args.method, layer=layer)

    forward(), heatmap()  # warm-up
    forward_ms, heatmap_ms = [], []
    for _ in range(args.repeats):
        forward_ms.append(_ms(forward))
        heatmap_ms.append(_ms(heatmap))
    batched_ms = _best(lambda: compute_cams(model, arch, batch, args.method, args.batch,
                                            layer=layer), 2)
    single_ms = _best(one_at_a_time, 1)
    result = {"forward_ms": min(forward_ms), "heatmap_ms": min(heatmap_ms),
              "batched_ms": batched_ms / args.batch, "single_ms": single_ms / args.batch}
    result["ratio"] = result["heatmap_ms"] / result["forward_ms"]
    result["speed_up"] = result["single_ms"] / result["batched_ms"]
    work_batched, work_single = precompute_work(model, arch, layer, size, args.method, cases)
    result["work_speed_up"] = work_single / work_batched
    result["work_ms"] = (work_batched, work_single)
    if arch in CLASSIFIER_BOUND:
        result["bound"] = classifier_bound(model, arch, one, args.repeats, result)
    if args.grad_cam_default:
        trainable = build_model(arch, image_size=size, fine_last_stage=fine).eval()
        trainable.load_state_dict(model.state_dict())
        default = _best(lambda: _default_grad_cam(trainable, arch, layer, one), args.repeats)
        result["default_ratio"] = default / result["forward_ms"]
    return result


CLASSIFIER_BOUND = ("alexnet", "vgg16")  # a fully connected classifier of hundreds of MB


def classifier_bound(model, arch: str, one: torch.Tensor, repeats: int, result: dict) -> dict:
    """AlexNet's or VGG16's classifier at batch 1: its bytes, the time one read of them takes
    (its own forward pass, bound by memory reads), and the map's least cost that implies."""
    weights = sum(p.numel() * p.element_size() for p in model.classifier.parameters())
    with torch.inference_mode():
        last = spec(arch).target  # the last convolution: features.10 / features.28
        features, _ = trunk(model, arch, grey_to_input(one.float() / 255), last)
        after = int(last.split(".")[1]) + 1
        pooled = torch.flatten(model.avgpool(model.features[after:](features)), 1)
    with torch.inference_mode():
        read_ms = _best(lambda: model.classifier(pooled), repeats)
    least_ms = result["forward_ms"] + read_ms
    return {"bytes": weights, "read_ms": read_ms, "gb_per_s": weights / read_ms / 1e6,
            "least_ms": least_ms, "least_ratio": least_ms / result["forward_ms"],
            "of_bound": result["heatmap_ms"] / least_ms}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=PROFILES,
                        help="read each model's image size from this training profile")
    parser.add_argument("--size", type=int, default=None, help="one size for every model")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16, help="maps per batch (precompute's)")
    parser.add_argument("--method", default="gradcam", choices=sorted(METHODS))
    parser.add_argument("--archs", default="all")
    parser.add_argument("--grad-cam-default", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(cpu_threads())
    print(f"{args.method}, {args.profile} profile sizes, on the CPU, {torch.get_num_threads()} "
          f"thread(s), load average {os.getloadavg()[0]:.1f}")
    header = (f"{'model':<12} {'px':>4} {'layer':<28} {'grid':>5} {'forward ms':>10} "
              f"{'map ms':>8} {'ratio':>6} {f'batch {args.batch} ms/map':>16} "
              f"{'single ms/map':>13} {'speed-up':>8} {'precompute ms/map b/1':>22} "
              f"{'speed-up':>8}")
    print(header + (f" {'grad-cam default ratio':>22}" if args.grad_cam_default else ""))
    cases = {i: (case.image, case.mask)
             for i, case in enumerate(generate_phantoms(args.batch, seed=0))}
    worst_cnn, least_speed_up, least_work_speed_up = None, float("inf"), float("inf")
    for arch in parse_archs(args.archs):
        profile = profile_for(args.profile, arch)
        size, fine = args.size or profile.image_size, profile.fine_last_stage
        for layer in heatmap_layers(arch, size, fine_last_stage=fine):
            r = bench(arch, layer, size, fine, args, cases)
            if arch not in ("alexnet", "vit_b_16"):  # VGG16 is judged by both
                worst_cnn = max(worst_cnn or 0.0, r["ratio"])
            least_speed_up = min(least_speed_up, r["speed_up"])
            least_work_speed_up = min(least_work_speed_up, r["work_speed_up"])
            h, w = grid_size(arch, layer, size, fine)
            layer = f"{layer} (fine)" if fine else layer
            line = (f"{arch:<12} {size:>4} {layer:<28} {f'{h}x{w}':>5} "
                    f"{r['forward_ms']:>10.1f} {r['heatmap_ms']:>8.1f} {r['ratio']:>6.2f} "
                    f"{r['batched_ms']:>16.1f} {r['single_ms']:>13.1f} {r['speed_up']:>7.2f}x "
                    f"{'%.1f / %.1f' % r['work_ms']:>22} {r['work_speed_up']:>7.2f}x")
            if "default_ratio" in r:
                line += f" {r['default_ratio']:>22.2f}"
            print(line, flush=True)
            if "bound" in r:
                b = r["bound"]
                print(f"  {spec(arch).title} at {layer}: classifier weights "
                      f"{b['bytes'] / 1e6:.1f} MB, read once by a forward pass and twice by a "
                      f"map ({2 * b['bytes'] / 1e6:.1f} MB); one read takes "
                      f"{b['read_ms']:.1f} ms ({b['gb_per_s']:.1f} GB/s), "
                      f"so a map costs at least {b['least_ms']:.1f} ms, a ratio of at least "
                      f"{b['least_ratio']:.2f}; this map is {b['of_bound']:.2f}x that bound",
                      flush=True)
    worst = "n/a" if worst_cnn is None else f"{worst_cnn:.2f}"
    print(f"worst ratio of ResNet50, GoogLeNet, DenseNet121 and VGG16 {worst} (target "
          f"<= 1.3; AlexNet and VGG16: also against their bounds above); "
          f"least batched speed-up {least_speed_up:.2f}x for the map alone, "
          f"{least_work_speed_up:.2f}x for precompute's work per map (target >= 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
