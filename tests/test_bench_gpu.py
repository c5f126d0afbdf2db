"""``bench/gpu.py --tiny`` runs the GPU check's whole path (phantoms, split, paper-profile
training of two models, predictions, batched heatmaps on lesion-framed test images, the table)
on whatever device is here, so the first GPU run is not the script's first run."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_bench_runs_end_to_end_with_tiny_settings():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--tiny"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model"))
    assert lines[header].split()[1:4] == ["train", "img/s", "seconds"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[header + 1:]
            if not line.startswith("total")}
    assert set(rows) == {"googlenet", "alexnet"}
    for row in rows.values():
        rate, seconds, paper, memory, maps, auc = map(float, row)
        assert rate > 0 and seconds > 0 and memory > 0 and maps > 0
        assert paper > seconds  # 1 epoch run, 30 epochs estimated
        assert 0 <= auc <= 1
    assert lines[-1].startswith("total")
