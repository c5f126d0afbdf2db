"""``python -m core export --out DIR``: every table of the store as CSV or Parquet files."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "export every table of the store (CSV or Parquet), cases with their split"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv",
                        help="file format (default csv)")
    parser.add_argument("--json", action="store_true", help="print the files written as JSON")


def run(args: argparse.Namespace) -> int:
    from core.export import export_tables
    from core.store import Store

    with Store(args.db, read_only=True) as store:
        written = export_tables(store, args.out, args.format)
    if args.json:
        print(json.dumps({"files": [str(path) for path in written]}))
    else:
        print(f"wrote {len(written)} files to {args.out}: " + ", ".join(p.name for p in written))
    return 0
