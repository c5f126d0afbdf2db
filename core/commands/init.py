"""``python -m core init``: create the store or bring its schema up to date, and remove the
temporaries killed processes left in its data folder (see ``core.cleanup``)."""
from __future__ import annotations

import argparse
import json

from core.store import Store, schema_version

HELP = "create the results store, or migrate it to the latest schema"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from core.cleanup import remove_stale_temporaries

    with Store(args.db) as store:
        with store.read() as cur:
            result = {"store": str(store.path), "schema_version": schema_version(cur)}
        result["removed_temporaries"] = remove_stale_temporaries(store)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"store {result['store']} at schema version {result['schema_version']}")
    if result["removed_temporaries"]:
        print(f"removed {len(result['removed_temporaries'])} temporary file(s) or folder(s) "
              f"left by interrupted runs")
    return 0
