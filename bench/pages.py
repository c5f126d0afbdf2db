"""Server-side time of the quiz, progress and cohort pages on a store the size of a busy course.

    .venv/bin/python bench/pages.py [--trainees 50] [--reads 20000] [--cases 400] [--size 512]
                                    [--steps 15] [--keep DIR]

Builds a store in a temporary folder: ``--cases`` nodules (``--size`` px square, with masks),
a model with predictions for all of them (and cached Grad-CAM maps for the timed session's
cases), ``--trainees`` trainees with ``--reads`` practice reads between them, a supervisor.
Then it measures, with Streamlit's AppTest (the page script as the server runs it, app.py's
router included, without browser or network), wall time and this process's CPU time:

- submit -> AI step: clicking "Submit my read" until the AI step is drawn (the unaided read
  stored, the cached heatmap read and blended, the page built); median over ``--steps`` cases;
- AI step -> truth: clicking "Store my read and show the truth" until the truth is drawn;
- the progress page of one trainee and the cohort page: the first run, then reruns (the pages
  cache their figures until the store changes);
- app start to first page: a fresh Python process from its start to the login page's first
  run (imports included), and, where /usr/bin/chromium and Playwright are present, a fresh
  ``streamlit run`` from its start until a browser shows the login form.

Targets (2-core CPU): submit -> AI and AI -> truth at most 150 ms (median); start to first page
at most 3 s. On a shared machine the wall time varies with the load (printed at the start);
the CPU time is what a run costs a free core.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on the path, and this module (pages.py)
# would hide the app's ``pages`` package: the project root takes its place.
sys.path[0] = str(ROOT)

import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from core.lexicon import BIRADS_CATEGORIES  # noqa: E402
from core.quiz import flow  # noqa: E402
from core.store import Store  # noqa: E402
from tests.quiz_helpers import add_heatmaps, add_model, add_practice_reads, make_cases, \
    make_user  # noqa: E402

FIRST_PAGE_SCRIPT = f"""
import time
started = time.perf_counter()
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(ROOT / 'app.py')!r}, default_timeout=60).run()
assert not at.exception, at.exception
print(time.perf_counter() - started)
"""


def build(folder: Path, args: argparse.Namespace) -> tuple[Path, dict]:
    path = folder / "data" / "results.duckdb"
    started = time.perf_counter()
    with Store(path) as store:
        cases = make_cases(store, n=args.cases, size=args.size)
        add_model(store, "resnet50-bench", cases, heatmaps=False)
        trainees = [make_user(store, f"trainee{i:02d}") for i in range(args.trainees)]
        supervisor = make_user(store, "supervisor", role="supervisor")
        rng = np.random.default_rng(0)
        per_trainee = args.reads // (2 * args.trainees)  # an unaided and an aided read a case
        for trainee in trainees:
            for start in range(0, per_trainee, len(cases)):
                chosen = [int(c) for c in rng.permutation(cases)[:min(len(cases),
                                                                       per_trainee - start)]]
                unaided = [str(b) for b in rng.choice(BIRADS_CATEGORIES, len(chosen))]
                aided = [str(b) for b in rng.choice(BIRADS_CATEGORIES, len(chosen))]
                add_practice_reads(store, trainee.user_id, chosen, unaided, aided,
                                   model_id="resnet50-bench")
        with store.read() as cur:
            total = cur.execute("SELECT count(*) FROM reads").fetchone()[0]
    print(f"store: {args.cases} cases of {args.size} px, {args.trainees} trainees, {total} reads,"
          f" built in {time.perf_counter() - started:.0f} s")
    return path, {"trainee": trainees[0], "supervisor": supervisor}


def timed_run(at: AppTest) -> tuple[float, float]:
    """(wall, CPU) milliseconds of one page run. The CPU time of this process (the script's
    thread; AppTest's waiting thread sleeps) is what the run costs a free core, whatever else
    the machine is doing."""
    wall, cpu = time.perf_counter(), time.process_time()
    at.run()
    timings = ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
    assert not at.exception, at.exception
    return timings


def click(at: AppTest, label: str) -> None:
    next(b for b in at.button if b.label == label).click()


def quiz_steps(path: Path, users: dict, steps: int) -> dict[str, list[float]]:
    trainee = users["trainee"]
    with Store(path) as store:
        session = flow.start_session(store, trainee.user_id, "all", steps, seed=1)
        with store.read() as cur:
            chosen = json.loads(cur.execute("SELECT case_ids FROM quiz_sessions"
                                            " WHERE session_id = ?", [session]).fetchone()[0])
        add_heatmaps(store, "resnet50-bench", chosen)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["user"] = trainee
    at.run()
    times: dict[str, list[tuple[float, float]]] = {"present (next case shown)": [], "submit -> AI step": [],
                                     "AI step -> truth": []}
    for _ in range(steps):
        at.radio[0].set_value("4A")
        click(at, "Submit my read")
        times["submit -> AI step"].append(timed_run(at))
        assert "AI probability of malignancy" in [m.label for m in at.metric]
        at.radio[0].set_value("4B")
        click(at, "Store my read and show the truth")
        times["AI step -> truth"].append(timed_run(at))
        click(at, "Next case" if len(times["AI step -> truth"]) < steps else "See the summary")
        times["present (next case shown)"].append(timed_run(at))
    return times


def page_runs(account, page: str, repeats: int = 4) -> list[tuple[float, float]]:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["user"] = account
    at.run()
    at.switch_page(page)
    st.cache_data.clear()  # the first timed run computes everything
    return [timed_run(at) for _ in range(repeats)]


def first_page_seconds(path: Path) -> float:
    env = dict(os.environ, SONOCASE_DB=str(path), SONOCASE_AUTOTRAIN="0")
    out = subprocess.run([sys.executable, "-c", FIRST_PAGE_SCRIPT], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def browser_first_page_seconds(path: Path) -> float | None:
    """``streamlit run`` start -> the login form visible in chromium (None without chromium)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    from tests.streamlit_server import CHROMIUM, launch_chromium, streamlit_app

    if not CHROMIUM.exists():
        return None
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as scratch:
        browser = launch_chromium(playwright)
        started = time.perf_counter()
        try:
            with streamlit_app(path, Path(scratch) / "streamlit.log") as server:
                page = browser.new_page()
                page.goto(server.url)
                page.get_by_role("button", name="Log in").wait_for(timeout=60_000)
                return time.perf_counter() - started
        finally:
            browser.close()


def report(name: str, timings: list[tuple[float, float]], target: float | None = None) -> None:
    wall = statistics.median(t[0] for t in timings)
    cpu = statistics.median(t[1] for t in timings)
    verdict = "" if target is None else f"  target <= {target:.0f} ms: " + (
        "met" if wall <= target else "NOT met") + (" (CPU: met)" if cpu <= target < wall else "")
    print(f"  {name:34s} median wall {wall:7.1f} ms, CPU {cpu:7.1f} ms"
          f" (n={len(timings)}){verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainees", type=int, default=50)
    parser.add_argument("--reads", type=int, default=20000)
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--keep", type=Path, help="build the store in this folder and keep it")
    args = parser.parse_args()
    print(f"CPU cores available: {len(os.sched_getaffinity(0))}; load average (1 min) "
          f"{os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench_pages_") as scratch:
        path, users = build(args.keep or Path(scratch), args)
        # Before this process opens the store: a store has one writer process at a time.
        seconds = first_page_seconds(path)
        print(f"App start to first page (fresh Python process, imports + login page run): "
              f"{seconds:.2f} s  target <= 3 s: {'met' if seconds <= 3 else 'NOT met'}")
        browser = browser_first_page_seconds(path)
        if browser is not None:
            print(f"App start to first page in a browser (streamlit run -> login form visible "
                  f"in chromium): {browser:.2f} s  target <= 3 s: "
                  f"{'met' if browser <= 3 else 'NOT met'}")
        os.environ.update(SONOCASE_DB=str(path), SONOCASE_AUTOTRAIN="0")
        st.cache_resource.clear()
        release_all()
        print("Quiz page, server-side time of one page run after a click (AppTest, cached "
              "heatmaps; the first AI step also pays the one-off heatmap module import):")
        for name, values in quiz_steps(path, users, args.steps).items():
            report(name, values, 150 if "->" in name else None)
        print("Progress and cohort pages (a supervisor's view), first run and reruns:")
        for name, page in ((f"progress (one trainee, {args.reads // args.trainees} reads)",
                            "pages/progress.py"),
                           (f"cohort ({args.trainees} trainees)", "pages/cohort.py")):
            runs = page_runs(users["supervisor"], page)
            report(f"{name}, first", runs[:1])
            report(f"{name}, rerun", runs[1:])
        st.cache_resource.clear()
        release_all()
        if args.keep:
            print(f"store kept at {path}")


if __name__ == "__main__":
    main()
