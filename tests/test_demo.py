"""The demo: cases, split and one-time accounts on an empty store; background training."""
from __future__ import annotations

import json
import sys

import pytest

from core import auth, demo
from core.cli import main
from core.commands.demo import describe
from core.errors import UserError
from core.jobs import JobRunner
from tests.demo_fakes import ARCHS, install_fake_phantoms, install_fake_training, noise_phantoms


pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def fake_phantoms(monkeypatch):
    install_fake_phantoms(monkeypatch)


@pytest.fixture
def fake_training(monkeypatch):
    return install_fake_training(monkeypatch)


def _dump(store) -> str:
    with store.read() as cur:
        return " ".join(str(cur.execute(f"SELECT * FROM {table}").fetchall())
                        for table in ("users", "login_attempts", "settings", "jobs"))


def test_build_demo_makes_cases_split_and_one_time_accounts(store, fake_phantoms):
    assert demo.demo_needed(store)
    built = demo.build_demo(store, seed=0, n=20)
    assert (built.dataset, built.cases) == ("phantom", 20)
    assert built.train + built.test == 20 and built.test == 6
    assert [(a.username, a.role) for a in built.accounts] == [
        ("demo_trainee", "trainee"), ("demo_supervisor", "supervisor"), ("admin", "admin")]
    passwords = [a.password for a in built.accounts]
    assert len(set(passwords)) == 3 and all(len(p) >= 16 for p in passwords)
    for account in built.accounts:
        user = auth.authenticate(store, account.username, account.password)
        assert user.role == account.role
        assert auth.must_change_password(store, user.user_id)
    dump = _dump(store)
    assert not any(password in dump for password in passwords)
    assert not any(password in repr(built) for password in passwords)
    assert all(password in describe(built) for password in passwords)
    assert not demo.demo_needed(store)


def test_demo_is_refused_on_a_store_with_cases(store, fake_phantoms):
    noise_phantoms(store, n=4, dataset="mine")
    with pytest.raises(UserError, match="only on an empty store"):
        demo.build_demo(store, n=20)
    with store.read() as cur:
        assert cur.execute("SELECT count(*) FROM cases").fetchone()[0] == 4
    assert not auth.has_users(store)


def test_existing_accounts_are_left_alone(store, fake_phantoms):
    auth.create_user(store, "admin", "my own password", "admin")
    built = demo.build_demo(store, n=20)
    assert built.skipped == ("admin",)
    assert [a.username for a in built.accounts] == ["demo_trainee", "demo_supervisor"]
    assert auth.authenticate(store, "admin", "my own password").role == "admin"


def test_demo_command_prints_the_accounts_as_json(tmp_path, fake_phantoms, capsys):
    db = tmp_path / "demo.duckdb"
    assert main(["demo", "--db", str(db), "--cases", "20", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["cases"] == 20 and len(printed["accounts"]) == 3
    assert main(["demo", "--db", str(db), "--cases", "20"]) == 2  # not empty any more
    assert "only on an empty store" in capsys.readouterr().err


def test_demo_training_starts_with_googlenet_and_skips_trained_models(store, fake_phantoms,
                                                                     fake_training):
    runner = JobRunner(store)
    assert demo.start_demo_training(store, runner) is None  # no demo yet
    demo.build_demo(store, n=20)
    with store.transaction() as cur:
        cur.execute("INSERT INTO models (model_id, arch, dataset, init, profile, image_size)"
                    " VALUES ('vgg16-quick-phantom-s0', 'vgg16', 'phantom', 'imagenet',"
                    " 'quick', 224)")
    job_id = demo.start_demo_training(store, runner)
    finished = runner.wait(job_id, 30)
    assert finished.status == "done", finished.message
    expected = ["googlenet", "alexnet", "resnet50", "vit", "densenet121"]
    assert fake_training == [{"dataset": "phantom", "archs": expected, "profile": "quick"}]
    assert finished.params["archs"] == expected
    assert demo.still_to_train(store, "phantom", expected, "quick") == expected


def test_nothing_to_train_starts_no_job(store, fake_phantoms, fake_training):
    demo.build_demo(store, n=20)
    with store.transaction() as cur:
        for arch in ARCHS:
            cur.execute("INSERT INTO models (model_id, arch, dataset, init, profile, image_size)"
                        " VALUES (?, ?, 'phantom', 'imagenet', 'quick', 224)",
                        [f"{arch}-quick", arch])
    assert demo.start_demo_training(store, JobRunner(store)) is None
    assert fake_training == []


def test_the_quiz_models_cross_fit_runs_in_the_background_after_the_demo_models(
        store, fake_phantoms, fake_training, monkeypatch):
    import types

    demo.build_demo(store, n=20)
    with store.read() as cur:
        case_id = cur.execute("SELECT min(case_id) FROM splits WHERE split = 'train'"
                              ).fetchone()[0]
    with store.transaction() as cur:
        for arch in ARCHS:
            cur.execute("INSERT INTO models (model_id, arch, dataset, init, profile, image_size,"
                        " cv_auc) VALUES (?, ?, 'phantom', 'scratch', 'quick', 64, ?)",
                        [f"{arch}-quick", arch, 0.9 if arch == "googlenet" else 0.7])
        cur.execute("INSERT INTO predictions VALUES ('googlenet-quick', ?, 0.7, 'in_sample', 1)",
                    [case_id])
    calls = []
    crossfit = types.ModuleType("core.models.crossfit")
    crossfit.crossfit_model = lambda store, model_id, folds, progress, cancel: \
        calls.append((model_id, folds)) or progress({"fraction": 1.0, "message": "done"})
    monkeypatch.setitem(sys.modules, "core.models.crossfit", crossfit)
    runner = JobRunner(store)
    job_id = demo.start_demo_training(store, runner)  # every model trained: only the cross-fit
    finished = runner.wait(job_id, 30)
    assert finished.status == "done", finished.message
    assert fake_training == [] and calls == [("googlenet-quick", demo.CROSSFIT_FOLDS)]
    with store.transaction() as cur:
        cur.execute("UPDATE predictions SET source = 'out_of_fold'")
    assert demo.start_demo_training(store, runner) is None  # nothing left to do


def test_training_order_puts_googlenet_first():
    assert demo.training_order(["alexnet", "resnet50", "googlenet"]) == \
        ["googlenet", "alexnet", "resnet50"]
    assert demo.training_order(["alexnet", "vit"]) == ["alexnet", "vit"]


def test_real_phantoms_build_a_small_demo(store):
    pytest.importorskip("core.cases.phantom")
    built = demo.build_demo(store, seed=1, n=20)
    assert built.cases == 20 and built.train + built.test == 20
    with store.read() as cur:
        kinds = cur.execute("SELECT kind FROM datasets WHERE dataset = 'phantom'").fetchall()
    assert kinds == [("phantom",)]


def test_serve_builds_the_demo_on_an_empty_store_then_starts_streamlit(tmp_path, fake_phantoms,
                                                                        monkeypatch, capsys):
    from core.commands import serve

    asked = []

    def few_phantoms(store, n, seed, dataset):  # the study's 420 asked for, 20 made
        asked.append(n)
        return noise_phantoms(store, 20, seed, dataset)

    monkeypatch.setattr(sys.modules["core.cases.phantom"], "import_phantoms", few_phantoms)
    launched = []
    monkeypatch.setattr(serve.os, "execvpe", lambda file, argv, env: launched.append((argv, env)))
    db = tmp_path / "fresh.duckdb"
    main(["serve", "--db", str(db), "--port", "8765"])
    out = capsys.readouterr().out
    assert asked == [420]
    assert "building the demo" in out and "demo_trainee" in out and "admin" in out
    argv, env = launched[0]
    assert argv[1:4] == ["-m", "streamlit", "run"] and "8765" in argv
    assert env["SONOCASE_DB"] == str(db.resolve())
    main(["serve", "--db", str(db)])  # not empty any more: straight to the app
    assert "building" not in capsys.readouterr().out and len(launched) == 2
