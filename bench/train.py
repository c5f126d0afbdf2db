"""Quick-profile training time per model on the CPU (the budget: all six on the 420-case
phantom set within 30 minutes on 2 cores, ResNet50 first and done within 5).

    .venv/bin/python bench/train.py [--db PATH] [--dataset phantom] [--models all]
                                    [--profile quick] [--epochs N] [--image-size N]

Without ``--db`` it makes a temporary store with 420 phantoms (seed 0) and the standard split
(30 % test, 5 folds). Prints per model: wall seconds, CPU seconds (all threads; about what
the wall time would be on an idle core), epochs kept/run, threads, cv and test AUC, and the
load average after it (other work on a shared machine slows training).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.models.registry import parse_archs  # noqa: E402
from core.models.train import train_models  # noqa: E402
from core.store import Store  # noqa: E402


def phantom_store(folder: Path) -> Store:
    from core.cases.phantom import import_phantoms
    from core.splits import make_split

    store = Store(folder / "results.duckdb")
    started = time.perf_counter()
    import_phantoms(store, n=420, seed=0)
    make_split(store, "phantom", test_size=0.3, seed=0, folds=5)
    print(f"made 420 phantoms and their split in {time.perf_counter() - started:.0f} s")
    return store


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--dataset", default="phantom")
    parser.add_argument("--models", default="all")
    parser.add_argument("--profile", default="quick", choices=("quick", "paper"))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.db) if args.db else phantom_store(Path(tmp))
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'model':<12} {'seconds':>8} {'cpu s':>7} {'epochs':>9} {'device':<18} "
              f"{'cv AUC':>7} {'test AUC':>8} {'load':>5}", flush=True)
        total, total_cpu = time.perf_counter(), time.process_time()
        for arch in parse_archs(args.models):
            cpu = time.process_time()
            [model_id] = train_models(store, args.dataset, [arch], profile=args.profile,
                                      device="cpu", epochs=args.epochs,
                                      image_size=args.image_size)
            with store.read() as cur:
                seconds, device, cv_auc, test_auc, config = cur.execute(
                    "SELECT seconds, device, cv_auc, test_auc, config FROM models "
                    "WHERE model_id = ?", [model_id]).fetchone()
            config = json.loads(config)
            epochs = f"{config['best_epoch']}/{config['epochs_run']}"
            print(f"{arch:<12} {seconds:>8.0f} {time.process_time() - cpu:>7.0f} {epochs:>9} "
                  f"{device:<18} {_fmt(cv_auc):>7} {_fmt(test_auc):>8} "
                  f"{os.getloadavg()[0]:>5.1f}", flush=True)
        print(f"total {time.perf_counter() - total:.0f} s, "
              f"{time.process_time() - total_cpu:.0f} CPU s")
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
