"""``python -m core restore FILE --to NEW_DB``: a backup into a new store file, verified.

It asks before it writes (the new store brings back the backup's accounts, password hashes
and reads, and its files land beside NEW_DB), unless ``--yes``; without a terminal to ask in
and without ``--yes`` it refuses and writes nothing."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = ("restore a backup into a new store file (never over an existing one), checking every "
        "table and file; asks first unless --yes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="the backup zip (python -m core backup)")
    parser.add_argument("--to", type=Path, required=True, metavar="NEW_DB",
                        help="new store file to create; its folder receives the files")
    parser.add_argument("--yes", action="store_true",
                        help="restore without asking (scripts, no terminal)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def confirmed(bundle: Path, target: Path) -> bool:
    """Whether the person at the terminal agrees to the restore; UserError without one."""
    from core.errors import UserError

    if not sys.stdin.isatty():
        raise UserError("restore asks for confirmation: run it in a terminal, or add --yes "
                        "to restore without asking")
    print(f"Restore {bundle} into a new store {target}? It brings back the backup's accounts "
          f"(with their password hashes), cases, reads and models, and writes its files "
          f"under {target.parent}; the live store is not touched.")
    return input("Type yes to restore: ").strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    from core.backup import restore

    if not args.yes and not confirmed(args.bundle, args.to):
        print("Nothing restored.")
        return 1
    report = restore(args.bundle, args.to)
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0
    print(f"restored {report.path}: {len(report.tables)} tables, {report.rows} rows, "
          f"{report.files} files in {report.seconds:.1f} s; row counts and checksums match the "
          "backup's manifest")
    print(f"use it: python -m core --db {report.path} serve   (or SONOCASE_DB={report.path})")
    return 0
