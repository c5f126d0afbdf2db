"""``python -m core import KIND PATH``: bring a public dataset or your own images into the store."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "import cases (busi, busbra, csv, dicom, folder) into the store"
KINDS = ("busi", "busbra", "csv", "dicom", "folder")
SHOWN_SKIPS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="busi: BUSI folder or zip; busbra: BUS-BRA "
                        "folder or zip; csv: manifest; dicom: DICOM folder; folder: label folders")
    parser.add_argument("path", type=Path, help="folder, .zip, or the manifest for csv")
    parser.add_argument("--dataset", help="dataset name (default: the kind)")
    parser.add_argument("--root", type=Path, help="csv: folder the manifest's paths are relative "
                        "to (default: the manifest's folder)")
    parser.add_argument("--labels", type=Path, help="dicom: CSV with a file or SOPInstanceUID "
                        "column and a label column")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _summary(dataset: str, result, table: str | None) -> str:
    labels = ", ".join(f"{label} {n}" for label, n in sorted(result.by_label.items()))
    lines = [f"read {result.rows} rows of {table}"] if result.rows and table else []
    lines += [f"imported {result.imported} cases into dataset {dataset!r}"
              + (f" ({labels})" if labels else "")
              + f"; {result.already_present} already present; {result.skipped_total} skipped"]
    lines += [f"  skipped {entry['path']}: {entry['reason']}"
              for entry in result.skipped[:SHOWN_SKIPS]]
    if result.skipped_total > SHOWN_SKIPS:
        listed = ("all" if len(result.skipped) == result.skipped_total
                  else f"the first {len(result.skipped)}")
        lines.append(f"  ... and {result.skipped_total - SHOWN_SKIPS} more (--json lists {listed})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from core.cases.importers import import_cases
    from core.store import Store

    dataset = args.dataset or args.kind
    with Store(args.db) as store:
        result = import_cases(store, args.kind, args.path, dataset, root=args.root,
                              labels=args.labels)
    table = {"csv": args.path, "dicom": args.labels}.get(args.kind, Path("bus_data.csv"))
    print(json.dumps({"dataset": dataset, **result.as_dict()}) if args.json
          else _summary(dataset, result, Path(table).name))
    nothing_usable = result.imported == 0 and result.already_present == 0
    return 1 if nothing_usable and result.skipped_total else 0
