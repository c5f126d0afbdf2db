"""``python -m core demo``: build the demo on an empty store and print its one-time passwords."""
from __future__ import annotations

import argparse
import json

from core.store import Store

HELP = "build the demo (phantom cases, 7:3 split, three accounts) on an empty store"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="phantom and split seed (default 0)")
    parser.add_argument("--cases", type=int, default=420, help="phantom cases (default 420)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def describe(demo) -> str:
    """The demo and its accounts as the terminal shows them (the only place the passwords
    ever appear)."""
    lines = [f"Demo built: {demo.cases} phantom cases in dataset '{demo.dataset}' "
             f"({demo.train} train, {demo.test} test)."]
    if demo.accounts:
        lines.append("One-time passwords (shown only here; each user must choose a new "
                     "password at first login):")
        lines += [f"  {a.role:<11} {a.username:<16} {a.password}" for a in demo.accounts]
    if demo.skipped:
        lines.append("Already present, left unchanged: " + ", ".join(demo.skipped))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from core.demo import build_demo

    with Store(args.db) as store:
        demo = build_demo(store, seed=args.seed, n=args.cases)
    if args.json:
        print(json.dumps({
            "dataset": demo.dataset, "cases": demo.cases, "train": demo.train,
            "test": demo.test, "skipped": list(demo.skipped),
            "accounts": [{"username": a.username, "role": a.role, "password": a.password}
                         for a in demo.accounts]}))
    else:
        print(describe(demo))
    return 0
