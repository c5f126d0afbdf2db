"""``python -m core phantom``: make synthetic B-mode breast cases and store them."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HELP = "generate synthetic breast ultrasound cases (phantoms) with BI-RADS truth"
SHEET_CASES = 24


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=420, help="number of cases (default 420)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--dataset", default="phantom", help="dataset name (default phantom)")
    parser.add_argument("--sheet", type=Path, default=None,
                        help=f"also write a contact sheet PNG of the first {SHEET_CASES} cases")
    parser.add_argument("--shortcut", action="store_true",
                        help="burn calipers in mostly on malignant cases (a shortcut to learn)")
    parser.add_argument("--no-annotations", action="store_true",
                        help="burn in no calipers, body-marker text or depth scale")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from core.cases.phantom import contact_sheet, generate_phantoms, save_phantoms, summarize
    from core.cases.phantom_truth import population_figures
    from core.errors import UserError
    from core.store import Store

    if not args.dataset.strip():
        raise UserError("the dataset name must not be empty")
    started = time.perf_counter()
    annotations = not args.no_annotations
    cases = generate_phantoms(args.n, args.seed, args.shortcut, annotations)
    with Store(args.db) as store:
        result = save_phantoms(store, cases, args.seed, args.dataset, args.shortcut,
                               annotations)
    summary = dict(summarize(cases),
                   population_best_auc=round(population_figures()["best_auc"], 4),
                   dataset=args.dataset, seed=args.seed,
                   shortcut=args.shortcut, annotations=annotations, **result.as_dict())
    if args.sheet:
        summary["sheet"] = str(contact_sheet(cases[:SHEET_CASES], args.sheet))
    summary["seconds"] = round(time.perf_counter() - started, 2)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['n']} phantoms in dataset {args.dataset!r} (seed {args.seed}): "
              f"{summary['imported']} new, {summary['already_present']} already present; "
              f"malignant {summary['malignant_share']:.0%}; best achievable AUC "
              f"{summary['best_auc']:.3f} (over all possible cases "
              f"{summary['population_best_auc']:.3f}); reference BI-RADS AUC "
              f"{summary['birads_auc']:.3f}; "
              f"{summary['seconds']:.1f} s")
        if args.sheet:
            print(f"contact sheet: {summary['sheet']}")
    return 0
