"""``python -m core heatmaps``: precompute a model's heatmaps into the cache (resumable)."""
from __future__ import annotations

import argparse
import json
import sys

HELP = ("precompute a model's heatmaps (cached; a rerun skips what is done) and score their "
        "localisation and faithfulness")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model id, e.g. resnet50-quick-busi-s0")
    parser.add_argument("--split", default="test", choices=("test", "train", "all"))
    parser.add_argument("--method", default=None,
                        choices=("gradcam", "gradcampp", "hirescam", "layercam", "eigencam",
                                 "scorecam"),
                        help="default: the model's own, chosen by faithfulness when it was "
                             "trained (gradcam for a model trained before that)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="images per batch (default 16, 64 on a GPU)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.heatmaps.compute import precompute_heatmaps
    from core.models.loading import load_model
    from core.models.train import resolve_device
    from core.store import Store

    with Store(args.db) as store:
        loaded = load_model(store, args.model, resolve_device(args.device))
        with tqdm(total=1.0, bar_format="{l_bar}{bar}| {elapsed}<{remaining}", file=sys.stderr,
                  disable=None) as bar:
            def progress(report: dict) -> None:
                bar.n = report["fraction"]
                bar.set_description_str(report["message"], refresh=False)
                bar.refresh()

            result = precompute_heatmaps(store, loaded, args.split, args.method,
                                         args.batch_size, progress)
    if args.json:
        print(json.dumps(result))
        return 0
    rate = result["maps_per_second"]
    print(f"{result['model_id']} {result['method']} ({result['split']}): {result['computed']} "
          f"computed in {result['seconds']:.1f} s"
          + (f" ({rate:.1f} maps/s)" if rate else "")
          + f", {result['already_cached']} already cached")
    from core.comparison import quality_table

    print(quality_table([result["quality"]]).T.to_string(header=False))
    return 0

