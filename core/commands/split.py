"""``python -m core split --dataset NAME``: the 7:3 train/test split with grouped CV folds."""
from __future__ import annotations

import argparse
import json

HELP = "split a dataset into train/test (grouped by patient and near-duplicates) with CV folds"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="dataset to split")
    parser.add_argument("--test-size", type=float, default=0.3, help="share of each label in "
                        "the test part (default 0.3, the study's 7:3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds over the "
                        "training part (default 5; 0 for none)")
    parser.add_argument("--include-normal", action="store_true", help="split normal images too "
                        "(default: they are 'excluded')")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _summary(summary) -> str:
    lines = [f"dataset {summary.dataset!r}, seed {summary.seed}: {summary.groups} groups, "
             f"{summary.duplicate_groups} of them with more than one case"]
    for split, labels in summary.counts.items():
        detail = ", ".join(f"{label} {n}" for label, n in labels.items()) or "none"
        lines.append(f"  {split:<9}{sum(labels.values()):>6}  ({detail})")
    for fold, labels in summary.folds.items():
        detail = ", ".join(f"{label} {n}" for label, n in labels.items())
        lines.append(f"  fold {fold}   {sum(labels.values()):>6}  ({detail})")
    for conflict in summary.conflicts:
        lines.append(f"warning: one image group carries labels {' and '.join(conflict['labels'])}"
                     f" (kept together in {'/'.join(conflict['split'])}): "
                     + ", ".join(conflict["source_paths"]))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from core.split_guard import EARLIER_SPLIT, stale_models
    from core.splits import make_split
    from core.store import Store

    with Store(args.db) as store:
        summary = make_split(store, args.dataset, test_size=args.test_size, seed=args.seed,
                             folds=args.folds, include_normal=args.include_normal)
        stale = sorted(stale_models(store, args.dataset))
    if args.json:
        print(json.dumps(summary.as_dict() | {"stale_models": stale}))
        return 0
    print(_summary(summary))
    if stale:
        print(f"warning: {len(stale)} models {EARLIER_SPLIT} (retrain them to evaluate on "
              "this split): " + ", ".join(stale))
    return 0
