"""``python -m core user``: add, list, reset, change role, deactivate or reactivate accounts.

Passwords are read from a hidden prompt (``getpass``) or, for scripts, one line of standard
input (``--password-stdin``); they never appear on the command line.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys

from core.auth import ROLES
from core.errors import UserError
from core.store import Store

HELP = "manage accounts: add, list, reset, role, deactivate, activate"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--display-name", default=None)
    how = add.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true",
                     help="read the password from one line of standard input")
    how.add_argument("--one-time", action="store_true",
                     help="generate a one-time password, print it; the user must change it")
    listing = actions.add_parser("list", help="list the users")
    listing.add_argument("--json", action="store_true")
    reset = actions.add_parser("reset", help="give a user a new one-time password")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true",
                       help="read the one-time password from standard input instead of "
                            "generating one")
    role = actions.add_parser("role", help="change a user's role")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    for action, text in (("deactivate", "stop a user from logging in (their reads stay)"),
                         ("activate", "let a deactivated user log in again")):
        actions.add_parser(action, help=text).add_argument("name")


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UserError("no terminal to ask for the password: pipe it in with --password-stdin "
                        "(one line), or use --one-time")
    try:
        password = getpass.getpass("Password: ")
        repeated = getpass.getpass("Repeat the password: ")
    except EOFError:
        raise UserError("the password prompt was closed (end of input): type the password, "
                        "or pipe it in with --password-stdin") from None
    if repeated != password:
        raise UserError("the two passwords differ")
    return password


def run(args: argparse.Namespace) -> int:
    from core import auth

    with Store(args.db) as store:
        if args.action == "list":
            accounts = auth.list_users(store)
            if args.json:
                print(json.dumps([{"username": a.username, "display_name": a.display_name,
                                   "role": a.role, "active": a.active,
                                   "must_change_password": a.must_change_password}
                                  for a in accounts]))
            for a in [] if args.json else accounts:
                flags = ("" if a.active else " (deactivated)") + (
                    " (must change password)" if a.must_change_password else "")
                print(f"{a.username:<20} {a.role:<11} {a.display_name}{flags}")
        elif args.action == "add":
            password = (auth.one_time_password() if args.one_time
                        else read_password(args.password_stdin))
            user = auth.create_user(store, args.name, password, args.role, args.display_name,
                                    must_change_password=args.one_time)
            print(f"added {user.username} ({user.role})")
            if args.one_time:
                print(f"one-time password (shown only now): {password}")
        elif args.action == "reset":
            account = auth.find_user(store, args.name)
            password = (read_password(True) if args.password_stdin
                        else auth.one_time_password())
            auth.set_password(store, account.user_id, password, must_change=True)
            print(f"{account.username} must choose a new password at the next login")
            if not args.password_stdin:
                print(f"one-time password (shown only now): {password}")
        elif args.action == "role":
            account = auth.find_user(store, args.name)
            auth.set_role(store, account.user_id, args.role)
            print(f"{account.username} is now a {args.role}")
        else:
            account = auth.find_user(store, args.name)
            auth.set_active(store, account.user_id, args.action == "activate")
            print(f"{account.username} {args.action}d")
    return 0
