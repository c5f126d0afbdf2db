"""``bench/heatmaps.py`` runs (one small model, one repeat), so the figures the cost targets are
judged by cannot rot: the map's cost, its batched speed-up, and precompute's whole per-map work
batched against one case at a time."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NUMBER = r"\d+\.\d+"


def test_the_bench_prints_cost_and_both_batched_speed_ups_per_layer():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "heatmaps.py"), "--archs",
                           "googlenet", "--repeats", "1", "--batch", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    [row] = [line for line in done.stdout.splitlines() if line.startswith("googlenet")]
    assert re.fullmatch(rf"googlenet +112 inception4e +7x7( +{NUMBER}){{3}}( +{NUMBER}){{2}} +"
                        rf"{NUMBER}x +{NUMBER} / {NUMBER} +{NUMBER}x", row), row
    summary = done.stdout.splitlines()[-1]
    assert re.search(rf"least batched speed-up {NUMBER}x for the map alone, {NUMBER}x for "
                     r"precompute's work per map \(target >= 2\)", summary), summary
