"""The command line: one sub-command per module in ``core.commands``.

Each command module defines ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int`` and
imports heavy libraries (torch, PIL) only inside ``run``, so ``--help`` stays instant.
Every command takes ``--db PATH`` (default ``$SONOCASE_DB`` or ``data/results.duckdb``).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from core.errors import StoreLocked, UserError

COMMANDS = {
    "init": "core.commands.init",
    "import": "core.commands.import_cases",
    "split": "core.commands.split",
    "export": "core.commands.export",
    "phantom": "core.commands.phantom",
    "train": "core.commands.train",
    "weights": "core.commands.weights",
    "heatmaps": "core.commands.heatmaps",
    "stats": "core.commands.stats",
    "user": "core.commands.user",
    "demo": "core.commands.demo",
    "serve": "core.commands.serve",
    "backup": "core.commands.backup",
    "restore": "core.commands.restore",
}


def build_parser() -> argparse.ArgumentParser:
    db_help = "results store (default: $SONOCASE_DB or data/results.duckdb)"
    parser = argparse.ArgumentParser(prog="python -m core",
                                     description="SonoCase: breast ultrasound teaching dashboard")
    parser.add_argument("--db", type=Path, default=None, help=db_help)
    # Accepted after the sub-command too; SUPPRESS keeps a --db given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=Path, default=argparse.SUPPRESS, help=db_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, parents=[common], help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        _accept_db_in_nested(command, db_help)
        command.set_defaults(run=module.run)
    return parser


def _accept_db_in_nested(parser: argparse.ArgumentParser, db_help: str) -> None:
    """Let ``--db`` follow a command's own sub-commands too (``user add NAME --db X``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for nested in set(action.choices.values()):
                nested.add_argument("--db", type=Path, default=argparse.SUPPRESS, help=db_help)
                _accept_db_in_nested(nested, db_help)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except StoreLocked as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was kept", file=sys.stderr)
        return 130
