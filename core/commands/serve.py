"""``python -m core serve``: start the Streamlit app on the store."""
from __future__ import annotations

import argparse
import os
import sys

from core import PROJECT_ROOT
from core.store import DB_ENV, default_db_path

HELP = "run the app (streamlit) on the store"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--address", default="localhost")


def run(args: argparse.Namespace) -> int:
    db = (args.db or default_db_path()).resolve()
    env = dict(os.environ, **{DB_ENV: str(db)})
    command = [sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "app.py"),
               "--server.fileWatcherType", "none", "--server.port", str(args.port),
               "--server.address", args.address]
    os.execvpe(sys.executable, command, env)
