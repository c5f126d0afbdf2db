"""``python -m core weights download|list``: torchvision's ImageNet weights for the six models."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "fetch torchvision's ImageNet weights (download) or show which are present (list)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    download = actions.add_parser(
        "download", help="fetch the files that are missing (progress bar, hash checked)",
        description="Fetch torchvision's ImageNet weight files with torch's downloader into the "
                    "torch hub cache (or --dir): the SHA-256 is checked against the hash in the "
                    "file name and a damaged file is refused. Files already present are kept. "
                    "Offline, copy the named file by hand into the named folder.")
    listing = actions.add_parser("list", help="which files are present, and where")
    listing.add_argument("--check", action="store_true",
                         help="also check each present file against the hash in its name")
    for sub in (download, listing):
        sub.add_argument("--arch", default="all",
                         help="'all' or a comma-separated list: resnet50,googlenet,alexnet,"
                              "densenet121,vgg16,vit_b_16")
        sub.add_argument("--dir", type=Path, default=None,
                         help="folder for the files (default: the torch hub cache; train with "
                              "--weights-dir DIR)")
        sub.add_argument("--json", action="store_true", help="print the result as JSON")
    download.add_argument("--url-base", default=None, metavar="URL",
                          help="a mirror holding torchvision's files under their own names "
                               "(default: torchvision's URLs)")


def _rows(archs: list[str], folder, check: bool) -> list[dict]:
    from core.models.weights import list_weights

    return [{"arch": f.arch, "file": f.path.name, "present": f.present,
             "megabytes": f.megabytes, "intact": f.intact, "path": str(f.path)}
            for f in list_weights(archs, folder, check)]


def _state(row: dict) -> str:
    if not row["present"]:
        return "missing"
    verdict = {None: "", True: ", hash ok", False: ", DAMAGED (hash differs)"}[row["intact"]]
    return f"{row['megabytes']:.0f} MB{verdict}"


def run(args: argparse.Namespace) -> int:
    from core.models.registry import parse_archs
    from core.models.weights import download_weights, weights_folder

    archs = parse_archs(args.arch)
    if args.action == "download":
        for arch in archs:
            download_weights(arch, args.dir, args.url_base, progress=not args.json
                             and sys.stderr.isatty())
    rows = _rows(archs, args.dir, args.action == "download" or args.check)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"ImageNet weights in {weights_folder(args.dir)}")
    for row in rows:
        print(f"  {row['arch']:<12} {row['file']:<28} {_state(row)}")
    missing = [row["arch"] for row in rows if not row["present"] or row["intact"] is False]
    if missing and args.action == "list":
        print(f"fetch them with: python -m core weights download --arch {','.join(missing)}")
    return 0
