"""Time and peak memory of importing a large CSV manifest (30,000 and 300,000 rows).

Run: .venv/bin/python bench/manifest.py [ROWS ...]   (default 30000 300000)

Each manifest row names its own image; one row in 100 names a real 32 px PNG, the others a
file that is not there (each skipped with its reason), like a manifest copied from a bigger
archive. Every import runs in a fresh process (so its peak resident memory is its own) into
a fresh temporary store; "baseline" is that process with the modules loaded and the store
open, before the import. Bounded memory: the peak above baseline stays about the same when
the manifest is ten times longer (compare the ratios printed on the last line). CPU seconds
are printed beside wall seconds: on a shared machine the wall time depends on other work.
"""
from __future__ import annotations

import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REAL_EVERY = 100


def write_manifest(folder: Path, rows: int) -> Path:
    """A manifest of ``rows`` rows and the real images one row in :data:`REAL_EVERY` names."""
    images = folder / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = ["image,label,patient_id,histology"]
    for row in range(rows):
        label = ("benign", "malignant")[row % 2]
        if row % REAL_EVERY == 0:
            name = f"images/{row}.png"
            Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(folder / name)
        else:
            name = f"missing/{row}.png"
        lines.append(f"{name},{label},P{row // 3},Invasive ductal carcinoma")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_import(manifest: Path, queue) -> None:
    """In a fresh process: the baseline, then the import's seconds and peak memory."""
    from core.cases.importers import import_cases
    from core.store import Store

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "results.duckdb") as store:
        baseline = peak_rss_mib()
        start, cpu = time.perf_counter(), time.process_time()
        result = import_cases(store, "csv", manifest)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        queue.put({"seconds": seconds, "cpu": cpu, "baseline": baseline, "peak": peak_rss_mib(),
                   "imported": result.imported,
                   "skipped": getattr(result, "skipped_total", len(result.skipped)),
                   "rows": getattr(result, "rows", None)})


def measure(rows: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_manifest(Path(tmp), rows)
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        child = context.Process(target=run_import, args=(manifest, queue))
        child.start()
        figures = queue.get()
        child.join()
    figures["above"] = figures["peak"] - figures["baseline"]
    print(f"{rows:>7} rows: {figures['seconds']:5.1f} s, {figures['cpu']:5.1f} s CPU "
          f"({rows / figures['cpu']:,.0f} rows per CPU second);"
          f" peak {figures['peak']:.0f} MiB, {figures['above']:.0f} MiB above the baseline of "
          f"{figures['baseline']:.0f} MiB; imported {figures['imported']}, skipped "
          f"{figures['skipped']}, rows counted: {figures['rows']}", flush=True)
    return figures


if __name__ == "__main__":
    sizes = [int(arg) for arg in sys.argv[1:]] or [30_000, 300_000]
    results = [measure(rows) for rows in sizes]
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(f"{sizes[-1] / sizes[0]:.0f}x the rows: {last['cpu'] / first['cpu']:.1f}x the CPU "
              f"time, {last['above'] / max(first['above'], 1):.1f}x the memory above baseline")
