"""Speed of getting cases into a store: importing BUSI, and generating 420 phantoms.

Run: .venv/bin/python bench/import.py  (prints seconds and images per second; each into a
fresh temporary store, so files are really written; BUSI from ../shared/data/busi). On a busy
machine wall time grows; the CPU seconds of the (single-process) BUSI import and of the phantoms
(two threads, so CPU / 2 is their time on 2 idle cores) do not.
"""
from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import PROJECT_ROOT  # noqa: E402
from core.cases.importers import import_cases  # noqa: E402
from core.store import Store  # noqa: E402

BUSI = PROJECT_ROOT.parent / "shared" / "data" / "busi" / "Dataset_BUSI_with_GT"


def bench_busi() -> None:
    if not BUSI.is_dir():
        print(f"BUSI not found at {BUSI}: import not measured")
        return
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "results.duckdb") as store:
        start, cpu = time.perf_counter(), time.process_time()
        result = import_cases(store, "busi", BUSI)
        first, cpu = time.perf_counter() - start, time.process_time() - cpu
        start = time.perf_counter()
        again = import_cases(store, "busi", BUSI)
        second = time.perf_counter() - start
    print(f"BUSI import, {result.imported} images: {first:.1f} s ({result.imported / first:.0f} "
          f"images/s; {cpu:.1f} s CPU, so {result.imported / cpu:.0f} images/s on an idle core); "
          f"second import (adds {again.imported}): {second:.1f} s")


def bench_phantoms() -> None:
    if importlib.util.find_spec("core.cases.phantom") is None:
        print("phantom generator not available (core.cases.phantom missing): not measured")
        return
    from core.cases.phantom import import_phantoms

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "results.duckdb") as store:
        start, cpu = time.perf_counter(), time.process_time()
        import_phantoms(store, n=420, seed=0)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"420 phantoms generated and stored: {seconds:.1f} s ({420 / seconds:.0f} images/s; "
          f"{cpu:.1f} s CPU, so about {cpu / 2:.0f} s on 2 idle cores; target <= 30 s)")


if __name__ == "__main__":
    bench_busi()
    bench_phantoms()
