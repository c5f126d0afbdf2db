"""``python -m core backup --out FILE``: the store and the files it names, in one verified zip."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "back up the store and its files (images, checkpoints, heatmaps) into one zip"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None,
                        help="zip to write (a new file; default: backups/sonocase-<time>.zip "
                             "in the store's folder)")
    parser.add_argument("--without-recreatable", action="store_true",
                        help="leave out checkpoints and heatmaps (retrain and recompute them "
                             "after a restore): a much smaller backup")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from core.backup import backup, default_backup_path
    from core.store import Store

    with Store(args.db) as store:
        report = backup(store, args.out or default_backup_path(store),
                        include_recreatable=not args.without_recreatable)
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0
    print(f"wrote {report.path}: {len(report.tables)} tables, {report.rows} rows, "
          f"{report.files} files ({report.file_bytes / 1e6:.1f} MB) in {report.seconds:.1f} s; "
          "the copy's row counts and checksums match the store")
    if report.missing_files:
        print(f"warning: {len(report.missing_files)} files the store names were not on disk, "
              f"e.g. {report.missing_files[0]}")
    if report.left_out:
        print(f"{report.left_out} checkpoints and heatmaps left out: after a restore, retrain "
              "the models and recompute the heatmaps")
    print(f"restore it with: python -m core restore {report.path} --to NEW_DB")
    return 0
