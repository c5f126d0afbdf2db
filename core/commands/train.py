"""``python -m core train``: train the six models (or some) on a dataset, with a progress bar."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.models.framing import FRAMING_CHOICES

HELP = "train models on a dataset and record their predictions (quick: CPU; paper: GPU)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="dataset name (python -m core import)")
    parser.add_argument("--models", default="all",
                        help="'all' or a comma-separated list: resnet50,googlenet,alexnet,"
                             "densenet121,vgg16,vit_b_16")
    parser.add_argument("--profile", default="quick", choices=("quick", "paper"))
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", default="auto", choices=("auto", "imagenet", "scratch"),
                        help="ImageNet weights from the local torch cache or --weights-dir "
                             "(python -m core weights download fetches them); auto: use them "
                             "when present")
    parser.add_argument("--weights-dir", type=Path, default=None,
                        help="folder holding torchvision's ImageNet weight files")
    parser.add_argument("--framing", default="auto", choices=FRAMING_CHOICES,
                        help="what the models read: the region an operator would mark around "
                             "the lesion (simulated from its mask) or the whole image; auto: "
                             "the marked region where every case has a mask")
    parser.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    parser.add_argument("--image-size", type=int, default=None,
                        help="override the profile's image size (a multiple of 16 for ViT)")
    parser.add_argument("--deterministic", action="store_true",
                        help="the same model from the same seed: cuDNN's autotuner off and "
                             "deterministic algorithms (a little slower on a GPU)")
    parser.add_argument("--compile", action="store_true",
                        help="train through torch.compile (minutes of compiling first; for the "
                             "paper profile on a GPU)")
    parser.add_argument("--crossfit", type=int, nargs="?", const=5, default=None, metavar="K",
                        help="then train K cross-fitted fold models per model (default 5) so "
                             "that its own training cases get outputs from a model that never "
                             "saw them (out_of_fold); in-sample outputs are never shown")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _summary(store, model_ids: list[str]) -> list[dict]:
    with store.read() as cur:
        rows = cur.execute(
            "SELECT model_id, arch, init, image_size, framing, epochs, seconds, device, threshold, "
            "cv_auc, test_auc, (SELECT count(*) FROM predictions p WHERE p.model_id = m.model_id"
            " AND p.source = 'out_of_fold') FROM models m WHERE list_contains(?, model_id)"
            " ORDER BY created_at",
            [model_ids]).fetchall()
    keys = ("model_id", "arch", "init", "image_size", "framing", "epochs", "seconds", "device",
            "threshold", "cv_auc", "test_auc", "out_of_fold")
    return [dict(zip(keys, row)) for row in rows]


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.models.registry import parse_archs
    from core.models.train import train_models
    from core.store import Store

    archs = parse_archs(args.models)
    with Store(args.db) as store:
        with tqdm(total=1000, unit="", bar_format="{l_bar}{bar}| {elapsed}<{remaining}",
                  file=sys.stderr, disable=None) as bar:
            def progress(report: dict) -> None:
                bar.n = round(report["fraction"] * 1000)
                bar.set_description_str(report["message"], refresh=False)
                bar.refresh()

            model_ids = train_models(store, args.dataset, archs, profile=args.profile,
                                     device=args.device, seed=args.seed, init=args.init,
                                     weights_dir=args.weights_dir, progress=progress,
                                     epochs=args.epochs, image_size=args.image_size,
                                     framing=args.framing, deterministic=args.deterministic,
                                     compile=args.compile)
            if args.crossfit is not None:
                from core.models.crossfit import crossfit_model

                for model_id in model_ids:
                    crossfit_model(store, model_id, args.crossfit, device=args.device,
                                   weights_dir=args.weights_dir, progress=progress)
        summary = _summary(store, model_ids)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{'model':<34} {'init':<8} {'size':>4} {'framing':<7} {'epochs':>6} {'seconds':>8} "
          f"{'threshold':>9} {'cv AUC':>7} {'test AUC':>8} {'cross-fit':>9}")
    for row in summary:
        print(f"{row['model_id']:<34} {row['init']:<8} {row['image_size']:>4} "
              f"{row['framing']:<7} {row['epochs']:>6} "
              f"{row['seconds']:>8.0f} {_fmt(row['threshold']):>9} {_fmt(row['cv_auc']):>7} "
              f"{_fmt(row['test_auc']):>8} {row['out_of_fold']:>9}")
    return 0
