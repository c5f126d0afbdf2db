"""``python -m core serve``: start the Streamlit app on the store (building the demo first
when the store is empty, and printing the demo's one-time passwords here, only here)."""
from __future__ import annotations

import argparse
import os
import sys

from core import PROJECT_ROOT
from core.store import DB_ENV, Store, default_db_path

HELP = "run the app (streamlit) on the store; an empty store gets the demo first"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--address", default="localhost")


def build_demo_if_empty(store: Store) -> None:
    from core.commands.demo import describe
    from core.demo import DEMO_CASES, build_demo, demo_needed

    if not demo_needed(store):
        return
    print(f"The store {store.path} is empty: building the demo ({DEMO_CASES} phantom "
          "cases)...", flush=True)
    print(describe(build_demo(store)), flush=True)
    print("The demo models train in the background once the app is up (GoogLeNet first).",
          flush=True)


def run(args: argparse.Namespace) -> int:
    db = (args.db or default_db_path()).resolve()
    with Store(db) as store:  # closed before the app opens it: one writer at a time
        build_demo_if_empty(store)
    env = dict(os.environ, **{DB_ENV: str(db)})
    command = [sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "app.py"),
               "--server.fileWatcherType", "none", "--server.port", str(args.port),
               "--server.address", args.address]
    os.execvpe(sys.executable, command, env)
