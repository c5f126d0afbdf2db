"""Framing choice and training time: each model trained on the whole image (``full``) and on
the operator's marked box (``lesion``, core.models.framing), chosen on cross-validated AUC and
judged once on phantoms of a seed never used in development.

    .venv/bin/python bench/train.py [--db PATH] [--dataset phantom] [--models all]
                                    [--profile quick] [--epochs N] [--image-size N]
                                    [--framings full,lesion] [--cases 420]

Development: without ``--db`` a temporary store with 420 phantoms (seed 0) and the standard
split (30 % test, 5 folds); ``--db`` trains into that store's ``--dataset`` instead (replacing
its model of each id). The choice between framings uses only the cross-validated AUC: quick
profile, fold 0 of the training split (the fold that stops training); paper profile,
out-of-fold predictions over all folds. Final test: 420 fresh phantoms of seed 2026
(FINAL_SEED), never generated, looked at or chosen on in development, predicted once by each
trained model; its AUC (DeLong 95 % CI) and the paired DeLong difference between the framings
are the figures to report. ``dev test`` is the AUC on the development split's test part,
printed only to compare with figures from before this bench (earlier choices saw it); it
chooses nothing. Timing per model: wall seconds, CPU seconds (all threads; about what the wall
time would be on an idle core), epochs kept/run, threads, and the load average after it
(other work on a shared machine slows training).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.models.data import load_cases  # noqa: E402
from core.models.engine import evaluate  # noqa: E402
from core.models.framing import FRAMINGS, describe_region  # noqa: E402
from core.models.loading import load_model  # noqa: E402
from core.models.profiles import profile_for  # noqa: E402
from core.models.registry import parse_archs  # noqa: E402
from core.models.train import train_models  # noqa: E402
from core.stats.roc import auc_ci, paired_test  # noqa: E402
from core.store import Store  # noqa: E402

DEVELOPMENT_SEED = 0
FINAL_SEED = 2026  # phantoms never used in development: the final test only


def phantom_store(folder: Path, cases: int, seed: int, split: bool) -> Store:
    from core.cases.phantom import import_phantoms
    from core.splits import make_split

    folder.mkdir()
    store = Store(folder / "results.duckdb")
    started = time.perf_counter()
    import_phantoms(store, n=cases, seed=seed)
    if split:
        make_split(store, "phantom", test_size=0.3, seed=seed, folds=5)
    print(f"made {cases} phantoms (seed {seed}){' and their split' if split else ''} in "
          f"{time.perf_counter() - started:.0f} s")
    return store


def _ci(result) -> str:
    return f"{result.auc:.3f} ({result.ci_low:.2f}-{result.ci_high:.2f})"


def _stored(store: Store, model_id: str) -> tuple[dict, list[tuple[int, float, str]]]:
    with store.read() as cur:
        row = cur.execute("SELECT seconds, device, cv_auc, test_auc, config FROM models "
                          "WHERE model_id = ?", [model_id]).fetchone()
        preds = cur.execute("SELECT p.source, c.label, p.prob_malignant FROM predictions p "
                            "JOIN cases c USING (case_id) WHERE p.model_id = ?",
                            [model_id]).fetchall()
    seconds, device, cv_auc, test_auc, config = row
    return ({"seconds": seconds, "device": device, "cv_auc": cv_auc, "test_auc": test_auc,
             "config": json.loads(config)}, preds)


def _auc_of(preds, source: str):
    y = np.array([label == "malignant" for s, label, _ in preds if s == source], dtype=int)
    prob = np.array([p for s, _, p in preds if s == source])
    return auc_ci(y, prob) if 0 < y.sum() < len(y) else None


def final_probabilities(final: Store, dev: Store, model_id: str, args, arch: str,
                        framing: str) -> tuple[np.ndarray, np.ndarray]:
    """The final-test phantoms' labels and the model's probabilities, read as in any
    prediction (each case's own marked box for lesion framing)."""
    loaded = load_model(dev, model_id)
    profile = profile_for(args.profile, arch, args.epochs, args.image_size, framing=framing)
    data = load_cases(final, "phantom", loaded.image_size, framing)
    prob = evaluate(loaded.model, data.images, np.arange(len(data.labels)), profile)
    return data.labels.numpy(), prob


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--dataset", default="phantom")
    parser.add_argument("--models", default="all")
    parser.add_argument("--profile", default="quick", choices=("quick", "paper"))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--framings", default=",".join(reversed(FRAMINGS)))
    parser.add_argument("--cases", type=int, default=420, help="phantoms in each store")
    args = parser.parse_args()
    framings = [f.strip() for f in args.framings.split(",") if f.strip()]
    for framing in framings:
        print(f"{framing}: {describe_region(framing)}")
    with tempfile.TemporaryDirectory() as tmp:
        dev = Store(args.db) if args.db else phantom_store(
            Path(tmp) / "dev", args.cases, DEVELOPMENT_SEED, split=True)
        final = phantom_store(Path(tmp) / "final", args.cases, FINAL_SEED, split=False)
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'model':<12} {'framing':<7} {'seconds':>7} {'cpu s':>6} {'epochs':>6} "
              f"{'device':<16} {'CV AUC (95% CI)':>19} {'final AUC (95% CI)':>19} "
              f"{'dev test':>8} {'load':>5}", flush=True)
        total, total_cpu = time.perf_counter(), time.process_time()
        for arch in parse_archs(args.models):
            results = {}
            for framing in framings:
                cpu = time.process_time()
                [model_id] = train_models(dev, args.dataset, [arch], profile=args.profile,
                                          device="cpu", epochs=args.epochs,
                                          image_size=args.image_size, framing=framing)
                row, preds = _stored(dev, model_id)
                cv = _auc_of(preds, "validation")
                y, prob = final_probabilities(final, dev, model_id, args, arch, framing)
                results[framing] = (cv, y, prob)
                config = row["config"]
                epochs = f"{config['best_epoch']}/{config['epochs_run']}"
                test = "n/a" if row["test_auc"] is None else f"{row['test_auc']:.3f}"
                print(f"{arch:<12} {framing:<7} {row['seconds']:>7.0f} "
                      f"{time.process_time() - cpu:>6.0f} {epochs:>6} {row['device']:<16} "
                      f"{_ci(cv) if cv else 'n/a':>19} {_ci(auc_ci(y, prob)):>19} {test:>8} "
                      f"{os.getloadavg()[0]:>5.1f}", flush=True)
            report_choice(arch, results)
        print(f"total {time.perf_counter() - total:.0f} s, "
              f"{time.process_time() - total_cpu:.0f} CPU s")
        dev.close()
        final.close()
    return 0


def report_choice(arch: str, results: dict) -> None:
    """The framing chosen on CV AUC, its final-test AUC, and the paired final difference."""
    judged = {f: r for f, r in results.items() if r[0] is not None}
    if not judged:
        print(f"{arch}: no CV AUC, nothing chosen")
        return
    chosen = max(judged, key=lambda f: judged[f][0].auc)
    cvs = ", ".join(f"{f} {r[0].auc:.3f}" for f, r in judged.items())
    _, y, prob = results[chosen]
    print(f"{arch}: chosen on CV AUC ({cvs}): {chosen}; final test AUC on phantom seed "
          f"{FINAL_SEED}: {_ci(auc_ci(y, prob))}, n={len(y)} ({int(y.sum())} malignant)")
    if len(results) == 2:
        (a, (_, _, prob_a)), (b, (_, _, prob_b)) = results.items()
        paired = paired_test(y, prob_a, prob_b)
        print(f"{arch}: final {a} - {b}: {paired.diff:+.3f} "
              f"({paired.ci_low:+.3f} to {paired.ci_high:+.3f}), paired DeLong p={paired.p:.3g}")


if __name__ == "__main__":
    raise SystemExit(main())
