"""GPU check: the six models with the paper profile on the 420-case phantom set, in under five
minutes on one GPU; ``--tiny`` runs the same path end to end on a CPU in seconds (a test does),
so the first GPU run is not the script's first run.

    .venv/bin/python bench/gpu.py [--epochs 8] [--budget 250] [--compile] [--deterministic]
    .venv/bin/python bench/gpu.py --tiny

Prints per model: training images per second, seconds for the paper profile as run (all folds,
the final model, predicting every case) and that time scaled to the profile's 30 epochs, peak
memory (GPU: torch's peak allocation; CPU: the process's peak resident memory), batched Grad-CAM
maps per second on test images framed as the model reads them (``data.load_cases``, as
training frames them), and the test AUC. A watchdog cancels training cleanly when the budget
runs out, so the script always ends in time; models not reached are listed as such.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

TINY = {"cases": 24, "image_size": 32, "epochs": 1, "folds": 2, "models": "googlenet,alexnet",
        "heatmap_batch": 8}
FULL = {"cases": 420, "image_size": None, "epochs": 8, "folds": 5, "models": "all",
        "heatmap_batch": 128}
PAPER_EPOCHS = 30


def heatmap_rate(store, model_id: str, device: torch.device, batch: int, repeats: int = 3
                 ) -> float:
    """Grad-CAM maps per second for one batch of test images, framed as the model reads them."""
    from core.heatmaps.cam import compute_cams
    from core.models.data import load_cases
    from core.models.loading import load_model

    loaded = load_model(store, model_id, device)
    data = load_cases(store, loaded.dataset, loaded.image_size, loaded.framing)
    images = data.images[torch.from_numpy(data.split == "test")][:batch].to(device)
    compute_cams(loaded.model, loaded.arch, images, "gradcam", loaded.threshold)  # warm-up
    synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        compute_cams(loaded.model, loaded.arch, images, "gradcam", loaded.threshold)
    synchronize(device)
    return repeats * len(images) / (time.perf_counter() - started)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float:
    """Peak GPU allocation since the last reset; on a CPU, the process's peak resident memory
    (never reset: it only grows over the run)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true",
                        help=f"{TINY['cases']} cases, {TINY['image_size']} px, {TINY['epochs']} "
                             f"epoch, {TINY['folds']} folds, {TINY['models']}: the whole path in "
                             "seconds, on the CPU where there is no GPU")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per training (default 8: the profile's 30 would not fit "
                             "5 minutes; the table scales the time to 30)")
    parser.add_argument("--models", default=None, help="'all' or a comma-separated list")
    parser.add_argument("--budget", type=float, default=250,
                        help="seconds from the start after which training is cancelled (the "
                             "cancelled model's step and the table's last heatmaps come on "
                             "top: the default ends within 5 minutes)")
    parser.add_argument("--compile", action="store_true", help="train through torch.compile")
    parser.add_argument("--deterministic", action="store_true",
                        help="cuDNN autotuner off, deterministic algorithms")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = dict(TINY if args.tiny else FULL)
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    if args.models is not None:
        settings["models"] = args.models
    if not args.tiny and not torch.cuda.is_available():
        print("bench/gpu.py needs a CUDA GPU and torch.cuda.is_available() is False here: "
              "nothing was run. Run it on the GPU server, or try --tiny.", file=sys.stderr)
        return 2
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    from core.cases.phantom import import_phantoms
    from core.models.engine import TrainingCancelled
    from core.models.registry import parse_archs
    from core.models.train import describe_device, train_models
    from core.splits import make_split
    from core.store import Store

    started = time.perf_counter()
    cancel = threading.Event()
    watchdog = threading.Timer(args.budget, cancel.set)
    watchdog.daemon = True
    watchdog.start()
    print(f"{describe_device(device)}, torch {torch.__version__}", flush=True)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "results.duckdb") as store:
        import_phantoms(store, n=settings["cases"], seed=0)
        make_split(store, "phantom", test_size=0.3, seed=0, folds=settings["folds"])
        print(f"{settings['cases']} phantoms and split ready after "
              f"{time.perf_counter() - started:.0f} s; paper profile, {settings['epochs']} "
              f"epoch(s), {settings['folds']} folds + final model"
              + (", compiled" if args.compile else "")
              + (", deterministic" if args.deterministic else ""), flush=True)
        memory = "peak GiB" if device.type == "cuda" else "RSS GiB"
        print(f"{'model':<12} {'train img/s':>11} {'seconds':>8} {'30-ep s':>8} {memory:>8} "
              f"{'maps/s':>7} {'test AUC':>8}", flush=True)
        for arch in parse_archs(settings["models"]):
            if cancel.is_set():
                print(f"{arch:<12} not reached: the {args.budget:.0f} s budget ran out")
                continue
            reset_peak(device)
            try:
                [model_id] = train_models(store, "phantom", [arch], profile="paper",
                                          device=device.type, epochs=settings["epochs"],
                                          image_size=settings["image_size"], cancel=cancel,
                                          compile=args.compile,
                                          deterministic=args.deterministic)
            except TrainingCancelled:
                print(f"{arch:<12} cancelled: the {args.budget:.0f} s budget ran out")
                continue
            peak = peak_gib(device)
            with store.read() as cur:
                seconds, test_auc, config = cur.execute(
                    "SELECT seconds, test_auc, config FROM models WHERE model_id = ?",
                    [model_id]).fetchone()
            config = json.loads(config)
            train_cases = config["cases"].get("out_of_fold", 0)
            # k fold models on (k-1)/k of the training cases and the final model on all of
            # them: k times the training cases per epoch.
            images = settings["epochs"] * train_cases * len(config["folds"])
            rate = heatmap_rate(store, model_id, device, settings["heatmap_batch"])
            auc = "n/a" if test_auc is None else f"{test_auc:.3f}"
            paper = seconds * PAPER_EPOCHS / settings["epochs"]
            print(f"{arch:<12} {images / seconds:>11.0f} {seconds:>8.1f} {paper:>8.0f} "
                  f"{peak:>8.2f} {rate:>7.0f} {auc:>8}", flush=True)
    watchdog.cancel()
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
