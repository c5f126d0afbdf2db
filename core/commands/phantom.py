"""``python -m core phantom``: make synthetic B-mode breast cases and store them, or with
``--realism BUSI_PATH`` compare them with real scans (nothing is stored)."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HELP = "generate synthetic breast ultrasound cases (phantoms) with BI-RADS truth"
SHEET_CASES = 24
# the side-by-side sheets of --realism: small enough to ship the phantom half in docs/
REALISM_SHEET = {"cases": 18, "columns": 6, "tile_width": 160}


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
    parser.add_argument("--realism", type=Path, default=None, metavar="BUSI_PATH",
                        help="store nothing: print the --n phantoms' realism figures beside "
                             "those of a BUSI folder or .zip (median [IQR] per class)")
    parser.add_argument("--busi-sheet", type=Path, default=None, metavar="PNG",
                        help=f"with --realism: also write a contact sheet of "
                             f"{REALISM_SHEET['cases']} BUSI images (yours; not for sharing), "
                             "to set beside the phantoms' (--sheet)")


def run(args: argparse.Namespace) -> int:
    from core.cases.phantom import contact_sheet, generate_phantoms, save_phantoms, summarize
    from core.cases.phantom_truth import population_figures
    from core.errors import UserError
    from core.store import Store

    if args.realism is not None:
        return run_realism(args)
    if args.busi_sheet is not None:
        raise UserError("--busi-sheet needs --realism BUSI_PATH")
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


def run_realism(args: argparse.Namespace) -> int:
    """Print phantoms against BUSI: figures per class, the lesion-mean AUC, pHash pairs."""
    import numpy as np

    from core.cases import realism_report as report
    from core.cases.library import ImportResult
    from core.cases.phantom import contact_sheet, generate_phantoms
    from core.errors import UserError

    if not args.realism.exists():
        raise UserError(f"no BUSI folder or .zip at {args.realism}")
    started = time.perf_counter()
    cases = generate_phantoms(args.n, args.seed, annotations=False)
    generated = time.perf_counter() - started
    phantoms = report.measure_all((c.label, c.image, c.mask) for c in cases)
    skipped = ImportResult()
    real_items = list(report.real_cases(args.realism, skipped))
    if not real_items:
        raise UserError(f"no benign or malignant images with masks under {args.realism}")
    real = report.measure_all(real_items)
    rows = report.compare(phantoms, real)
    pairs = report.duplicate_pairs([c.image for c in cases])
    summary = {
        "phantoms": len(phantoms), "real": len(real), "seed": args.seed,
        "generation_seconds": round(generated, 1),
        "lesion_mean_auc": {"phantom": round(report.lesion_mean_auc(phantoms), 3),
                            "real": round(report.lesion_mean_auc(real), 3)},
        "phash_pairs": [[cases[a].source_path, cases[b].source_path] for a, b in pairs],
        "rows": [{"figure": r.figure, "class": r.label, "real": r.real, "phantom": r.phantom,
                  "within": r.within, "verdict": r.verdict()} for r in rows]}
    count, layout = REALISM_SHEET["cases"], dict(columns=REALISM_SHEET["columns"],
                                                   tile_width=REALISM_SHEET["tile_width"])
    if args.sheet:
        summary["sheet"] = str(contact_sheet(cases[:count], args.sheet, **layout))
    if args.busi_sheet:
        pick = np.random.default_rng(args.seed).permutation(len(real_items))[:count]
        summary["busi_sheet"] = str(contact_sheet(
            [real_items[i][1] for i in pick], args.busi_sheet,
            captions=[real_items[i][0] for i in pick], **layout))
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{len(phantoms)} phantoms (seed {args.seed}, made in {generated:.1f} s) against "
          f"{len(real)} BUSI images with masks ({len(skipped.skipped)} files skipped)")
    print(report.format_table(rows))
    auc = summary["lesion_mean_auc"]
    print(f"\nlesion mean grey alone, benign vs malignant AUC: phantoms {auc['phantom']:.3f}, "
          f"BUSI {auc['real']:.3f} (target for phantoms <= 0.70)")
    print(f"pHash near-duplicate pairs (<= 10 bits) among independent phantoms: {len(pairs)}")
    inside = sum(r.within for r in rows)
    print(f"{inside} of {len(rows)} phantom medians within BUSI's IQR")
    for key in ("sheet", "busi_sheet"):
        if key in summary:
            print(f"{key.replace('_', ' ')}: {summary[key]}")
    return 0
