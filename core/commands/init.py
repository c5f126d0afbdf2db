"""``python -m core init``: create the store or bring its schema up to date."""
from __future__ import annotations

import argparse
import json

from core.store import Store, schema_version

HELP = "create the results store, or migrate it to the latest schema"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    with Store(args.db) as store, store.read() as cur:
        result = {"store": str(store.path), "schema_version": schema_version(cur)}
    print(json.dumps(result) if args.json else f"store {result['store']} at schema version "
          f"{result['schema_version']}")
    return 0
