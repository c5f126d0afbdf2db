"""GPU check: the six models with the paper profile on the 420-case phantom set, in under five
minutes. Needs CUDA; says so and stops where there is none.

    .venv/bin/python bench/gpu.py [--epochs 8] [--budget 280]

Prints per model: training images per second, total seconds (all folds, the final model and
predicting every case), peak GPU memory, and batched heatmap throughput (Grad-CAM, 224 px,
batches of 64, on the GPU). A watchdog cancels training cleanly when the budget runs out, so the
script always ends in time; models not reached are listed as such.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402


def heatmap_rate(store, model_id: str, batch: int = 64, repeats: int = 3) -> float:
    """Grad-CAM maps per second for batches of test images already at the model's size."""
    from core.heatmaps.cam import compute_cams
    from core.models.data import load_cases
    from core.models.loading import load_model

    loaded = load_model(store, model_id, "cuda")
    data = load_cases(store, loaded.dataset, loaded.image_size)
    images = data.images[:batch].cuda()
    compute_cams(loaded.model, loaded.arch, images, "gradcam", loaded.threshold)  # warm-up
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        compute_cams(loaded.model, loaded.arch, images, "gradcam", loaded.threshold)
    torch.cuda.synchronize()
    return repeats * len(images) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8,
                        help="epochs per training (the paper profile's 30 would not fit 5 min)")
    parser.add_argument("--budget", type=float, default=280, help="seconds before cancelling")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench/gpu.py needs a CUDA GPU and torch.cuda.is_available() is False here: "
              "nothing was run. Run it on the GPU server.", file=sys.stderr)
        return 2

    from core.cases.phantom import import_phantoms
    from core.models.engine import TrainingCancelled
    from core.models.registry import ARCHS
    from core.models.train import train_models
    from core.splits import make_split
    from core.store import Store

    started = time.perf_counter()
    cancel = threading.Event()
    watchdog = threading.Timer(args.budget, cancel.set)
    watchdog.daemon = True
    watchdog.start()
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "results.duckdb") as store:
        import_phantoms(store, n=420, seed=0)
        make_split(store, "phantom", test_size=0.3, seed=0, folds=5)
        print(f"phantoms and split ready after {time.perf_counter() - started:.0f} s; "
              f"paper profile, {args.epochs} epochs, 5 folds + final model", flush=True)
        print(f"{'model':<12} {'train img/s':>11} {'seconds':>8} {'peak GiB':>8} "
              f"{'maps/s':>7} {'test AUC':>8}", flush=True)
        for arch in ARCHS:
            if cancel.is_set():
                print(f"{arch:<12} not reached: the {args.budget:.0f} s budget ran out")
                continue
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            try:
                [model_id] = train_models(store, "phantom", [arch], profile="paper",
                                          device="cuda", epochs=args.epochs, cancel=cancel)
            except TrainingCancelled:
                print(f"{arch:<12} cancelled: the {args.budget:.0f} s budget ran out")
                continue
            peak = torch.cuda.max_memory_allocated() / 2**30
            with store.read() as cur:
                seconds, test_auc, config = cur.execute(
                    "SELECT seconds, test_auc, config FROM models WHERE model_id = ?",
                    [model_id]).fetchone()
            config = json.loads(config)
            train_cases = config["cases"].get("validation", 0)
            # k fold models on (k-1)/k of the training cases and the final model on all of
            # them: k times the training cases per epoch.
            images = args.epochs * train_cases * len(config["folds"])
            rate = heatmap_rate(store, model_id)
            auc = "n/a" if test_auc is None else f"{test_auc:.3f}"
            print(f"{arch:<12} {images / seconds:>11.0f} {seconds:>8.1f} {peak:>8.2f} "
                  f"{rate:>7.0f} {auc:>8}", flush=True)
    watchdog.cancel()
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
