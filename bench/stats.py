"""Speed of the statistics: DeLong over 6 models x 10,000 cases, MRMC of 10 readers x 500 cases,
rolling learning-curve metrics over 1,000 attempts.

Run: .venv/bin/python bench/stats.py  (prints seconds; best of several runs)
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.stats.curves import rolling_metrics  # noqa: E402
from core.stats.mrmc import or_analysis  # noqa: E402
from core.stats.roc import compare_all, delong  # noqa: E402


def best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 10_000)
    scores = y + rng.normal(0, np.linspace(0.8, 2.0, 6)[:, None], (6, 10_000))
    seconds = best_of(5, lambda: delong(y, scores))
    print(f"delong, 6 models x 10,000 cases: {seconds:.3f} s")
    named = {f"model{k}": row for k, row in enumerate(scores)}
    seconds = best_of(5, lambda: compare_all(y, named))
    print(f"compare_all (15 pairs, Holm), same data: {seconds:.3f} s")

    readers, cases = 10, 500
    truth = rng.integers(0, 2, cases)
    rows = [{"reader": r, "modality": m, "case": c, "truth": truth[c],
             "rating": float(np.clip(np.round(2.5 + truth[c] * (1 + m) + rng.normal()), 1, 5))}
            for r in range(readers) for m in range(2) for c in range(cases)]
    frame = pd.DataFrame(rows)
    for cov in ("jackknife", "delong"):
        seconds = best_of(3, lambda: or_analysis(frame, cov=cov))
        print(f"MRMC Obuchowski-Rockette ({cov}), {readers} readers x {cases} cases x 2 "
              f"modalities: {seconds:.3f} s")

    attempts = 1_000
    truth = rng.integers(0, 2, attempts)
    pred = np.where(rng.random(attempts) < 0.8, truth, 1 - truth)
    history = pd.DataFrame({"truth": truth, "pred": pred,
                            "score": rng.integers(0, 6, attempts),
                            "created_at": pd.date_range("2025-01-01", periods=attempts, freq="5h")})
    seconds = best_of(3, lambda: rolling_metrics(history, window=20))
    print(f"rolling_metrics, {attempts:,} attempts, window 20 (AUC with DeLong CI each): "
          f"{seconds:.3f} s")


if __name__ == "__main__":
    main()
