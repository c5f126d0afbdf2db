"""``python -m core split --dataset NAME``: the 7:3 train/test split with grouped CV folds."""
from __future__ import annotations

import argparse
import json
import time

HELP = "split a dataset into train/test (grouped by patient and same scan) with CV folds"
SHOWN_REJECTED = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="dataset to split")
    parser.add_argument("--test-size", type=float, default=0.3, help="share of each label in "
                        "the test part (default 0.3, the study's 7:3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds over the "
                        "training part (default 5; 0 for none)")
    parser.add_argument("--include-normal", action="store_true", help="split normal images too "
                        "(default: they are 'excluded')")
    parser.add_argument("--keep-conflicts", action="store_true", help="split groups whose "
                        "images carry two labels too (default: they are 'excluded')")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _pair(pair: dict) -> str:
    return (f"{pair['score']:.2f} ({pair['bits']} bits): "
            + " ~ ".join(path.split("/")[-1] for path in pair["source_paths"]))


def _summary(summary, seconds: float) -> str:
    lines = [f"dataset {summary.dataset!r}, seed {summary.seed}: {summary.groups} groups, "
             f"{summary.duplicate_groups} of them with more than one case ({seconds:.1f} s)"]
    for split, labels in summary.counts.items():
        detail = ", ".join(f"{label} {n}" for label, n in labels.items()) or "none"
        lines.append(f"  {split:<9}{sum(labels.values()):>6}  ({detail})")
    for fold, labels in summary.folds.items():
        detail = ", ".join(f"{label} {n}" for label, n in labels.items())
        lines.append(f"  fold {fold}   {sum(labels.values()):>6}  ({detail})")
    lines.append(f"pixel test: {summary.candidates} candidate pairs; {len(summary.joined)} joined "
                 f"as the same scan, {len(summary.rejected)} rejected but close enough to keep "
                 "on one side (score, pHash distance):")
    lines += [f"  joined   {_pair(pair)}" for pair in summary.joined]
    shown = summary.rejected[:SHOWN_REJECTED]
    lines += [f"  rejected {_pair(pair)}" for pair in shown]
    if len(summary.rejected) > len(shown):
        lines.append(f"  ... {len(summary.rejected) - len(shown)} more rejected, down to score "
                     f"{summary.rejected[-1]['score']:.2f} (--json lists them)")
    if summary.unreadable:
        lines.append("warning: images the pixel test could not read (grouped by pHash only): "
                     + ", ".join(summary.unreadable))
    for conflict in summary.conflicts:
        lines.append(f"warning: one image group carries labels {' and '.join(conflict['labels'])}"
                     f" ({'/'.join(conflict['split'])}): " + ", ".join(conflict["source_paths"]))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from core.split_guard import EARLIER_SPLIT, stale_models
    from core.splits import make_split
    from core.store import Store

    start = time.perf_counter()
    with Store(args.db) as store:
        summary = make_split(store, args.dataset, test_size=args.test_size, seed=args.seed,
                             folds=args.folds, include_normal=args.include_normal,
                             keep_conflicts=args.keep_conflicts)
        stale = sorted(stale_models(store, args.dataset))
    seconds = time.perf_counter() - start
    if args.json:
        print(json.dumps(summary.as_dict() | {"seconds": round(seconds, 2),
                                              "stale_models": stale}))
        return 0
    print(_summary(summary, seconds))
    if stale:
        print(f"warning: {len(stale)} models {EARLIER_SPLIT} (retrain them to evaluate on "
              "this split): " + ", ".join(stale))
    return 0
