"""The cohort page, a trainee's progress page and a quiz step on a store the size of a large
programme: 200 trainees x 5,000 practice reads (1M reads).

    .venv/bin/python bench/scale.py [--trainees 200] [--reads-each 5000] [--cases 400]
                                    [--steps 5] [--keep DIR]

Builds the store in a temporary folder with bulk SQL (``--cases`` 32 px nodules, a model with
predictions, ``--trainees`` trainees each with ``--reads-each`` reads: an unaided and an aided
read per case, 25 cases a session, BI-RADS drawn around the truth so that every trainee has an
AUC, a CUSUM and a flag), then measures with Streamlit's AppTest (the page script as the server
runs it, app.py's router included):

- the cohort page (a supervisor's view of every trainee) and one trainee's progress page: the
  first run after the figure caches are cleared (what the first visitor after a new read waits
  for), and the core functions behind them alone;
- the quiz step (submit -> AI step, AI step -> truth, next case) of a trainee who has 5,000
  reads, against the same steps on a store with no other reads: the ratio shows whether the
  store's size slows the quiz.

Targets (2-core CPU): cohort <= 1 s, progress <= 300 ms, the quiz step unchanged (ratio ~1).
The machine is shared, so each figure is printed with this process's CPU time beside the wall
time.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# not bench/ itself: its pages.py would shadow the app's pages/ folder (a namespace package)
sys.path[:] = [str(ROOT)] + [p for p in sys.path
                             if Path(p or ".").resolve() not in (ROOT, ROOT / "bench")]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from bench.pages import page_runs, quiz_steps  # noqa: E402
from core import progress  # noqa: E402
from core.lexicon import BIRADS_CATEGORIES  # noqa: E402
from core.server_objects import release_all  # noqa: E402
from core.store import Store  # noqa: E402
from tests.quiz_helpers import add_model, make_cases, make_user  # noqa: E402

SESSION_LENGTH = 25
MODEL_ID = "resnet50-scale"


def seed_reads(store: Store, user_ids: list[int], case_ids: list[int], labels: np.ndarray,
               reads_each: int, rng: np.random.Generator) -> None:
    """``reads_each`` practice reads per trainee (half unaided, half aided, one pair a case,
    ``SESSION_LENGTH`` cases a session), inserted in bulk."""
    per_trainee = reads_each // 2
    sessions_each = -(-per_trainee // SESSION_LENGTH)
    start = datetime(2026, 1, 5, 9, 0)
    sessions, reads, steps = [], [], []
    with store.read() as cur:
        next_session = cur.execute("SELECT nextval('session_id_seq')").fetchone()[0]
    cases = np.asarray(case_ids)
    for trainee_index, user_id in enumerate(user_ids):
        skill = 0.6 + 0.9 * trainee_index / max(1, len(user_ids) - 1)  # some struggle
        chosen = rng.integers(0, len(cases), per_trainee)
        truth = labels[chosen]
        unaided = np.clip(np.round(1.5 + skill * 2.2 * truth + rng.normal(0, 1.2, per_trainee)),
                          0, 5).astype(int)
        aided = np.clip(unaided + rng.integers(-1, 2, per_trainee), 0, 5)
        when = start + pd.to_timedelta(np.arange(per_trainee) * 40, unit="s") \
            + pd.to_timedelta(np.arange(per_trainee) // SESSION_LENGTH, unit="D") / 4
        session = next_session + np.arange(per_trainee) // SESSION_LENGTH
        for index in range(sessions_each):
            part = cases[chosen[index * SESSION_LENGTH:(index + 1) * SESSION_LENGTH]]
            sessions.append((int(next_session + index), user_id,
                             json.dumps([int(c) for c in part]),
                             start + timedelta(days=index / 4)))
        next_session += sessions_each
        for mode, ranks in (("unaided", unaided), ("aided", aided)):
            reads.append(pd.DataFrame({
                "session_id": session, "user_id": user_id, "case_id": cases[chosen],
                "mode": mode, "birads": np.asarray(BIRADS_CATEGORIES)[ranks],
                "probability": 10.0 * (1 + ranks), "seconds": 20.0,
                "model_id": MODEL_ID if mode == "aided" else None, "created_at": when}))
        steps.append(pd.DataFrame({"session_id": session, "case_id": cases[chosen],
                                   "created_at": when}))
    session_frame = pd.DataFrame(sessions, columns=["session_id", "user_id", "case_ids",
                                                    "started_at"])
    read_frame = pd.concat(reads, ignore_index=True).sort_values("created_at", kind="stable")
    step_frame = pd.concat(steps, ignore_index=True).drop_duplicates(["session_id", "case_id"])
    read_frame = read_frame.drop_duplicates(["session_id", "case_id", "mode"])
    with store.transaction() as cur:
        cur.register("session_frame", session_frame)
        cur.register("read_frame", read_frame)
        cur.register("step_frame", step_frame)
        cur.execute("INSERT INTO quiz_sessions (session_id, user_id, kind, practice_set,"
                    " case_ids, model_id, started_at) SELECT session_id, user_id, 'practice',"
                    " 'all', case_ids, ?, started_at FROM session_frame", [MODEL_ID])
        cur.execute("SELECT setval('session_id_seq', (SELECT max(session_id) FROM"
                    " quiz_sessions))")
        cur.execute("INSERT INTO reads (session_id, user_id, case_id, mode, birads,"
                    " probability, seconds, model_id, created_at) SELECT session_id, user_id,"
                    " case_id, mode, birads, probability, seconds, model_id, created_at"
                    " FROM read_frame")
        cur.execute("INSERT INTO quiz_steps (session_id, case_id, step, created_at)"
                    " SELECT session_id, case_id, 'next', created_at FROM step_frame")


def build(folder: Path, trainees: int, reads_each: int, cases: int) -> tuple[Path, dict]:
    path = folder / "data" / "results.duckdb"
    started = time.perf_counter()
    with Store(path) as store:
        case_ids = make_cases(store, n=cases, size=32)
        add_model(store, MODEL_ID, case_ids, heatmaps=False)
        with store.read() as cur:
            labels = dict(cur.execute("SELECT case_id, label = 'malignant' FROM cases")
                          .fetchall())
        users = [make_user(store, f"trainee{i:03d}") for i in range(trainees)]
        supervisor = make_user(store, "supervisor", role="supervisor")
        seed_reads(store, [u.user_id for u in users], case_ids,
                   np.array([int(labels[c]) for c in case_ids]), reads_each,
                   np.random.default_rng(0))
        with store.read() as cur:
            total = cur.execute("SELECT count(*) FROM reads").fetchone()[0]
    print(f"store: {cases} cases, {trainees} trainees, {total:,} reads, built in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return path, {"trainee": users[len(users) // 2], "supervisor": supervisor}


def timed(call) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def line(name: str, timings: list[tuple[float, float]], target: float | None = None
         ) -> tuple[float, float]:
    """Prints and returns the median (wall, CPU) milliseconds; a target is met when either
    is within it (on a shared machine the wall time waits for other work)."""
    wall = statistics.median(t[0] for t in timings)
    cpu = statistics.median(t[1] for t in timings)
    verdict = "" if target is None else f"  target <= {target:.0f} ms: " + (
        "met" if wall <= target else "met in CPU time" if cpu <= target else "NOT met")
    print(f"  {name:44s} median wall {wall:8.1f} ms, CPU {cpu:8.1f} ms (n={len(timings)})"
          f"{verdict}", flush=True)
    return wall, cpu


def measure_core(path: Path, users: dict, repeats: int) -> None:
    supervisor, trainee = users["supervisor"], users["trainee"]
    with Store(path) as store:
        print("Core functions behind the pages:")
        line("progress.cohort_table (all trainees)",
             [timed(lambda: progress.cohort_table(store, supervisor)) for _ in range(repeats)])

        def one_trainee() -> None:
            reads = progress.trainee_reads(store, supervisor, trainee.user_id)
            progress.curves(reads)
            progress.learning_curve(reads)
            progress.phases(reads)
            progress.struggling(reads)
            progress.model_level(store, reads)

        line("one trainee's progress (reads, curves, CUSUM)",
             [timed(one_trainee) for _ in range(repeats)])


def measure_pages(path: Path, users: dict) -> None:
    """The cohort and progress pages, first run after the caches are cleared, then reruns."""
    print("Pages (AppTest, first run after the caches are cleared, then reruns):")
    cohort = page_runs(users["supervisor"], "pages/cohort.py", repeats=3)
    line("cohort page, first run", cohort[:1], 1000)
    line("cohort page, rerun", cohort[1:])
    progress_page = page_runs(users["trainee"], "pages/progress.py", repeats=3)
    line("progress page (the trainee's own), first run", progress_page[:1], 300)
    line("progress page, rerun", progress_page[1:])


def serving(path: Path):
    """Point the app at the store at ``path`` (one store open in this process at a time)."""
    os.environ.update(SONOCASE_DB=str(path), SONOCASE_AUTOTRAIN="0")
    release_all()
    st.cache_resource.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainees", type=int, default=200)
    parser.add_argument("--reads-each", type=int, default=5000)
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the store in this folder and keep it")
    args = parser.parse_args()
    print(f"CPU cores available: {len(os.sched_getaffinity(0))}; load average (1 min) "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as scratch:
        folder = args.keep or Path(scratch)
        small_path, small_users = build(folder / "small", 1, 0, args.cases)
        path, users = build(folder / "large", args.trainees, args.reads_each, args.cases)
        measure_core(path, users, args.repeats)
        serving(small_path)  # first: it also pays this process's one-off imports
        small = quiz_steps(small_path, small_users, args.steps)
        serving(path)
        measure_pages(path, users)
        large = quiz_steps(path, users, args.steps)
        release_all()
        print("Quiz step, a trainee with 5,000 reads among 1M against an empty store:")
        for name in large:
            wall, cpu = line(f"{name} (1M reads)", large[name])
            wall_0, cpu_0 = line(f"{name} (no reads)", small[name])
            print(f"    ratio: wall {wall / wall_0:.2f}, CPU {cpu / cpu_0:.2f}  target ~1 "
                  "(unchanged)")


if __name__ == "__main__":
    main()
