"""Load: many trainees answering at once through the quiz functions the pages call.

    .venv/bin/python bench/load.py [--trainees 30] [--cases 50] [--size 64] [--keep DIR]

Streamlit runs every browser session in a thread of the one server process, on the one store
connection; so does this script: one thread per trainee, all released together. Each trainee
does what ``pages/quiz.py`` does, case by case: the page's view (``flow.state``), the image,
``submit_unaided``, the cached Grad-CAM map at the AI step, ``submit_aided``, ``advance``, and
the session summary at the end.

Afterwards every read a trainee submitted must be in the store exactly once, with the answer
given, and no call may have failed ("connection is busy", lock or conflict errors count as
failures). It prints reads per second and the p50/p99 latency of the store calls that write
(each submit or advance, the page's view after it included) and of the view alone. Exits 1 if
a read is missing, doubled or altered, or a call failed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.auth import User  # noqa: E402
from core.images import stored_png  # noqa: E402
from core.lexicon import BIRADS_CATEGORIES  # noqa: E402
from core.quiz import flow, scoring  # noqa: E402
from core.store import Store  # noqa: E402
from tests.quiz_helpers import add_model, make_cases, make_user  # noqa: E402

MODEL_ID = "resnet50-load"


@dataclass
class TraineeRun:
    """What one simulated trainee submitted, how long each store call took, what failed."""

    user: User
    session_id: int | None = None
    submitted: list[tuple[int, str, str, float]] = field(default_factory=list)
    write_seconds: list[float] = field(default_factory=list)
    read_seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class LoadReport:
    runs: list[TraineeRun]
    seconds: float

    @property
    def reads(self) -> int:
        return sum(len(run.submitted) for run in self.runs)

    @property
    def errors(self) -> list[str]:
        return [f"{run.user.username}: {error}" for run in self.runs for error in run.errors]


def answer_for(user_id: int, case_id: int, mode: str) -> tuple[str, float]:
    """A deterministic answer, different per trainee, case and mode."""
    rank = (user_id * 7 + case_id * 3 + (mode == "aided")) % len(BIRADS_CATEGORIES)
    return BIRADS_CATEGORIES[rank], float((user_id * 13 + case_id * 5) % 101)


def build_store(folder: Path, trainees: int, cases: int, size: int) -> tuple[Path, list[User]]:
    """A store with ``cases`` nodules, a model with predictions and cached heatmaps, and
    ``trainees`` trainees."""
    path = folder / "data" / "results.duckdb"
    with Store(path) as store:
        case_ids = make_cases(store, n=cases, size=size, dataset="load")
        add_model(store, MODEL_ID, case_ids)
        users = [make_user(store, f"trainee{number:03d}", display_name=f"Trainee {number}")
                 for number in range(trainees)]
    return path, users


def _timed(samples: list[float], call, *args, **kwargs):
    started = time.perf_counter()
    try:
        return call(*args, **kwargs)
    finally:
        samples.append(time.perf_counter() - started)


def run_trainee(store: Store, run: TraineeRun, cases: int, barrier: threading.Barrier) -> None:
    """One trainee's session, step by step as the quiz page goes; every failure is recorded."""
    from core.heatmaps.stored import cached_heatmap  # the page reads it at the AI step too

    user_id = run.user.user_id
    try:
        barrier.wait()
        run.session_id = _timed(run.write_seconds, flow.start_session, store, user_id, "all",
                                cases, seed=user_id)
        view = _timed(run.read_seconds, flow.state, store, run.session_id, user_id)
        while not isinstance(view, flow.SummaryView):
            if isinstance(view, flow.PresentView):
                stored_png(store, view.image_path)
                birads, probability = answer_for(user_id, view.case_id, "unaided")
                view = _timed(run.write_seconds, flow.submit_unaided, store, run.session_id,
                              user_id, view.case_id, birads, probability, seconds=1.0)
                run.submitted.append((view.case_id, "unaided", birads, probability))
            elif isinstance(view, flow.AIView):
                cached_heatmap(store, view.ai.model_id, view.case_id)
                birads, probability = answer_for(user_id, view.case_id, "aided")
                view = _timed(run.write_seconds, flow.submit_aided, store, run.session_id,
                              user_id, view.case_id, birads, probability, seconds=1.0)
                run.submitted.append((view.case_id, "aided", birads, probability))
            else:
                view = _timed(run.write_seconds, flow.advance, store, run.session_id, user_id,
                              view.case_id)
            _timed(run.read_seconds, flow.state, store, run.session_id, user_id)
        scoring.session_summary(store, run.session_id, user_id)
    except Exception as error:  # every failure counts; the check reports it
        run.errors.append(f"{type(error).__name__}: {error}")


def simulate(store: Store, users: list[User], cases: int) -> LoadReport:
    """All ``users`` answer a session of ``cases`` cases at once, one thread each."""
    runs = [TraineeRun(user) for user in users]
    barrier = threading.Barrier(len(runs) + 1)
    threads = [threading.Thread(target=run_trainee, args=(store, run, cases, barrier),
                                name=f"trainee-{run.user.username}") for run in runs]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return LoadReport(runs, time.perf_counter() - started)


def problems(store: Store, report: LoadReport) -> list[str]:
    """Every way the store differs from what the trainees submitted, and every failed call."""
    found = list(report.errors)
    with store.read() as cur:
        stored = cur.execute("SELECT user_id, session_id, case_id, mode, birads, probability"
                             " FROM reads").fetchall()
    by_user: dict[int, Counter] = {}
    for user_id, session_id, case_id, mode, birads, probability in stored:
        by_user.setdefault(user_id, Counter())[(session_id, case_id, mode, birads,
                                                probability)] += 1
    for run in report.runs:
        want = Counter((run.session_id, *read) for read in run.submitted)
        have = by_user.pop(run.user.user_id, Counter())
        for read, count in (want - have).items():
            found.append(f"{run.user.username}: read {read} missing ({have[read]} of {count})")
        for read, count in (have - want).items():
            found.append(f"{run.user.username}: read {read} stored {count} time(s) too many")
    for user_id, reads in by_user.items():
        found.append(f"user {user_id}: {sum(reads.values())} reads nobody submitted")
    return found


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trainees", type=int, default=30)
    parser.add_argument("--cases", type=int, default=50, help="cases per trainee's session")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--keep", type=Path, help="build the store in this folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        path, users = build_store(folder, args.trainees, args.cases, args.size)
        with Store(path) as store:
            report = simulate(store, users, args.cases)
            found = problems(store, report)
    writes = [s for run in report.runs for s in run.write_seconds]
    views = [s for run in report.runs for s in run.read_seconds]
    print(f"{args.trainees} trainees x {args.cases} cases at once: {report.reads} reads stored "
          f"in {report.seconds:.1f} s = {report.reads / report.seconds:.0f} reads/s")
    print(f"store writes (submit/advance + view): p50 {statistics.median(writes) * 1e3:.1f} ms, "
          f"p99 {percentile(writes, 0.99) * 1e3:.1f} ms over {len(writes)} calls")
    print(f"page view (flow.state): p50 {statistics.median(views) * 1e3:.1f} ms, "
          f"p99 {percentile(views, 0.99) * 1e3:.1f} ms over {len(views)} calls")
    if found:
        print(f"FAILED: {len(found)} problem(s)", *found[:20], sep="\n  ")
        return 1
    print("every submitted read is stored exactly once; no call failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
