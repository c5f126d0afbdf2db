"""``python -m core restore FILE --to NEW_DB``: a backup into a new store file, verified."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = ("restore a backup into a new store file (never over an existing one), checking every "
        "table and file")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="the backup zip (python -m core backup)")
    parser.add_argument("--to", type=Path, required=True, metavar="NEW_DB",
                        help="new store file to create; its folder receives the files")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from core.backup import restore

    report = restore(args.bundle, args.to)
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0
    print(f"restored {report.path}: {len(report.tables)} tables, {report.rows} rows, "
          f"{report.files} files in {report.seconds:.1f} s; row counts and checksums match the "
          "backup's manifest")
    print(f"use it: python -m core --db {report.path} serve   (or SONOCASE_DB={report.path})")
    return 0
