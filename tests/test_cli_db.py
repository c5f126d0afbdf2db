"""``--db`` is accepted before the command, after it, and after a command's own sub-command
(``user add NAME --db X``, ``stats roc FILE --db X``); given twice, the later one wins."""
from __future__ import annotations

import io

import pytest

from core import auth
from core.cli import build_parser, main
from core.store import Store


pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.mark.parametrize("where", ["before", "after the command", "after the sub-command"])
def test_user_add_takes_db_anywhere(tmp_path, monkeypatch, where):
    db = tmp_path / "chosen" / "results.duckdb"
    add = ["add", "nina", "--role", "trainee", "--password-stdin"]
    argv = {"before": ["--db", str(db), "user", *add],
            "after the command": ["user", "--db", str(db), *add],
            "after the sub-command": ["user", *add, "--db", str(db)]}[where]
    monkeypatch.setattr("sys.stdin", io.StringIO("a-good-password\n"))
    decoy = tmp_path / "default" / "results.duckdb"
    monkeypatch.setenv("SONOCASE_DB", str(decoy))  # where an ignored --db would lead
    assert main(argv) == 0
    with Store(db) as store:
        assert [a.username for a in auth.list_users(store)] == ["nina"]
    assert not decoy.exists()


def test_the_later_db_wins_and_nested_commands_all_accept_it(tmp_path):
    parser = build_parser()
    args = parser.parse_args(["--db", "first", "user", "list", "--db", "second"])
    assert str(args.db) == "second"
    assert str(parser.parse_args(["--db", "only", "user", "list"]).db) == "only"
    assert parser.parse_args(["user", "list"]).db is None
    for argv in (["stats", "roc", "f.csv", "--truth", "t", "--positive", "1", "--score", "s"],
                 ["stats", "mrmc", "f.csv", *[f"--{c}=x" for c in ("reader", "modality", "case",
                                                                   "truth", "rating")]],
                 ["stats", "mcnemar", "f.csv", "--a", "x", "--b", "y"],
                 *[["user", action, "someone"] for action in ("reset", "deactivate", "activate")],
                 ["user", "role", "someone", "admin"]):
        assert str(parser.parse_args([*argv, "--db", "x.duckdb"]).db) == "x.duckdb"
