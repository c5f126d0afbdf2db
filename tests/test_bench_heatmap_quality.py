"""``bench/heatmap_quality.py`` runs on a tiny synthetic store (one-epoch 32 px model), so the
check that prints each model's heatmap quality cannot rot."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from core.models.loading import load_model
from core.models.train import train_models
from core.shown_model import quiz_model
from core.store import Store
from models_helpers import LAYOUT, add_tiny_dataset, torch_threads  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def test_the_bench_prints_grid_faithfulness_localisation_and_the_quiz_verdict(tmp_path):
    db = tmp_path / "data" / "results.duckdb"
    with Store(db) as store:
        add_tiny_dataset(store)
        [model_id] = train_models(store, "tiny", ["alexnet"], device="cpu", init="scratch",
                                  epochs=1, image_size=32)
        assert quiz_model(store).model_id == model_id
        recorded = load_model(store, model_id).heatmap_method  # chosen after training
    methods = list(dict.fromkeys(["gradcam", "eigencam", recorded]))
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "heatmap_quality.py"), "--db",
                           str(db), "--dataset", "tiny", "--methods", *methods],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    rows = [line for line in lines if line.startswith(model_id)]
    assert [row.split()[1] for row in rows] == methods
    tests = sum(split == "test" for _, split, _ in LAYOUT)
    for row in rows:
        grid, cases = row.split()[2:4]
        assert re.fullmatch(r"\d+x\d+", grid) and int(cases) == tests
        assert row.count("|") == 5 and " vs " in row  # 3 measures, faithfulness, seconds
    assert re.fullmatch(rf"quiz model {re.escape(model_id)} \({recorded}\) beats the centre "
                        r"baseline on energy inside the mask: (yes|no) \(map .*p = .*\)",
                        lines[-1]), lines[-1]
