"""Re-splitting with a safeguard: the admin page names the models and studies a new split
affects and asks first; a changed test split marks those models "evaluated on an earlier
split" (admin table, model comparison), while a re-split that gives the same split does not."""
from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.display_names import model_names
from core.plain_text import plain
from core.split_guard import EARLIER_SPLIT, split_dependents, stale_models
from core.splits import make_split
from core.store import Store
from tests.app_pages import app_as, click
from tests.quiz_helpers import add_model, make_cases, make_user

ADMIN_PAGE = Path(__file__).resolve().parent.parent / "pages" / "admin.py"


def current_test_cases(store: Store) -> list[int]:
    with store.read() as cur:
        return [c for (c,) in cur.execute(
            "SELECT case_id FROM splits WHERE split = 'test' ORDER BY case_id").fetchall()]


def splits_now(store: Store) -> dict[int, str]:
    with store.read() as cur:
        return dict(cur.execute("SELECT case_id, split FROM splits").fetchall())


def test_a_changed_test_split_makes_the_models_stale_and_the_same_split_does_not(store):
    make_cases(store, n=24)
    add_model(store, "before", current_test_cases(store), heatmaps=False)
    assert stale_models(store) == set()
    with store.transaction() as cur:
        cur.execute("INSERT INTO reader_studies (name, case_ids) VALUES (?, ?)",
                    ["Journal club", json.dumps(current_test_cases(store)[:2])])
    assert split_dependents(store, "quizset").models == ("before",)
    assert split_dependents(store, "quizset").studies == ("Journal club",)
    assert not split_dependents(store, "other")

    make_split(store, "quizset", seed=3)
    assert stale_models(store, "quizset") == {"before"}
    add_model(store, "after", current_test_cases(store), heatmaps=False)
    make_split(store, "quizset", seed=3)  # the same seed: the same split
    assert stale_models(store) == {"before"}
    make_split(store, "quizset", seed=4)
    assert stale_models(store) == {"before", "after"}
    assert stale_models(store, "other") == set()


def test_the_admin_page_asks_before_a_split_that_changes_models(app_db):
    from pages import ui

    store = ui.get_store()
    make_cases(store, n=24)
    add_model(store, "resnet50-old", current_test_cases(store), heatmaps=False)
    before = splits_now(store)
    admin = make_user(store, "root", "admin")
    at = AppTest.from_file(ADMIN_PAGE, default_timeout=60)
    at.session_state["user"] = admin
    at.run()
    at.number_input(key="split_seed").set_value(5)
    click(at, "Make the split")
    name = plain(model_names(store)["resnet50-old"])  # named as people read it, not by id
    warning = " ".join(w.value for w in at.warning)
    assert name in warning and EARLIER_SPLIT in warning
    assert splits_now(store) == before  # nothing changed yet
    click(at, "Keep the current split")
    assert splits_now(store) == before
    assert not any(b.label == "Make the new split" for b in at.button)

    click(at, "Make the split")
    click(at, "Make the new split")
    assert splits_now(store) != before
    assert any(EARLIER_SPLIT.capitalize() in w.value and name in w.value for w in at.warning)
    table = next(f.value for f in at.dataframe if "Evaluated on" in f.value.columns)
    assert table.set_index("Model id").loc["resnet50-old", "Evaluated on"] == "an earlier split"

    models = app_as(admin, "pages/models.py")
    assert any(EARLIER_SPLIT in w.value and name in w.value for w in models.warning)


def test_the_split_command_names_the_models_it_left_behind(store, capsys):
    from core.cli import main

    make_cases(store, n=24)
    add_model(store, "resnet50-cli", current_test_cases(store), heatmaps=False)
    db = store.path
    store.close()
    assert main(["--db", str(db), "split", "--dataset", "quizset", "--seed", "2"]) == 0
    assert f"1 models {EARLIER_SPLIT}" in capsys.readouterr().out
    assert main(["--db", str(db), "split", "--dataset", "quizset", "--seed", "2",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stale_models"] == ["resnet50-cli"]
