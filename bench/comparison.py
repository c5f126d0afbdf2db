"""Server-side time of the model-comparison page: its computations, then the page itself.

    .venv/bin/python bench/comparison.py [--db PATH [--dataset NAME]] [--repeats 3] [--export]

Without ``--db`` it builds a synthetic store in a temporary folder: the study's test split of
126 cases (and 294 train cases), six models (rows and predictions, no training) and three
trainees who read every test case unaided and aided. With ``--db`` it measures a temporary copy
of an existing store (the demo, or real data; it needs a supervisor or admin account), on the
dataset of the newest model unless ``--dataset`` names one.

It prints milliseconds, wall and CPU (best of ``--repeats``): each computation the page caches
(loading the test predictions, ROC curves, the bootstrap CI bands, the study table, DeLong
tests, confusion matrices, calibration), the reader operating points and the figures; then,
with Streamlit's AppTest (the page script as the server runs it, no browser), the page's run
on empty caches (first in a new process, then in a warm one) and a rerun of each section.
``--export`` adds one server-side PNG and SVG export (run only when a viewer clicks a
download button).
Target: the page renders in at most 1 s with six models on 126 test cases.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The project root first, and not this folder: bench/pages.py would hide the ``pages`` package.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import streamlit as st  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from core import comparison, figure_export, model_charts  # noqa: E402
from core.auth import User  # noqa: E402
from core.store import Store  # noqa: E402
from tests.comparison_support import add_user, populate  # noqa: E402

PAGE = ROOT / "pages" / "models.py"
SECTIONS = ("ROC curves", "Study table", "DeLong tests", "Confusion matrices", "Calibration")


def best_of(repeats: int, work) -> tuple[tuple[float, float], object]:
    """((wall seconds, CPU seconds of this process), result) of the fastest of the runs. On a
    shared machine the CPU time is the steadier figure: the wall time includes waiting for
    a core."""
    times, result = [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(times), result


def show(name: str, seconds: tuple[float, float]) -> None:
    print(f"  {name:45s} {seconds[0] * 1000:8.1f} ms wall {seconds[1] * 1000:8.1f} ms CPU")


def build(folder: Path) -> Path:
    path = folder / "data" / "results.duckdb"
    started = time.perf_counter()
    with Store(path) as store:
        populate(store, n_test=126, n_train=294)
        add_user(store, "bench_supervisor", "supervisor", "Bench supervisor")
    print(f"built a synthetic store (126 test cases, six models, 3 trainees) in "
          f"{time.perf_counter() - started:.1f} s")
    return path


def supervisor(store: Store) -> User:
    with store.read() as cur:
        row = cur.execute("SELECT user_id, username, coalesce(display_name, username), role"
                          " FROM users WHERE role IN ('supervisor', 'admin') ORDER BY user_id"
                          " LIMIT 1").fetchone()
    if row is None:
        raise SystemExit("the store has no supervisor or admin to view the page as")
    return User(*row)


def computations(store: Store, dataset: str, viewer: User, repeats: int, export: bool) -> None:
    models = comparison.list_models(store, dataset)
    model_ids = comparison.default_models(models)
    if not model_ids:
        raise SystemExit(f"no model of {dataset!r} has test predictions")
    seconds, preds = best_of(repeats, lambda: comparison.load_test_predictions(
        store, dataset, model_ids))
    print(f"dataset {dataset}: {len(model_ids)} models x {preds['case_id'].nunique()} test cases")
    rows = [("load test predictions", seconds)]
    steps = [("ROC curves + AUCs", comparison.roc_curves), ("CI bands (bootstrap)",
             comparison.roc_bands), ("study table", comparison.study_table),
             ("DeLong tests (Holm)", comparison.pairwise_table),
             ("confusion matrices", comparison.confusion_matrices),
             ("calibration + Brier", lambda p: (comparison.calibration_curves(p),
                                                comparison.brier_scores(p)))]
    rows += [(name, best_of(repeats, lambda step=step: step(preds))[0]) for name, step in steps]
    total, result = best_of(repeats, lambda: comparison.compare_models(preds))
    rows.append(("all model statistics (cached by the page)", total))
    rows.append(("reader operating points", best_of(repeats, lambda: comparison.
                 reader_operating_points(store, viewer, dataset))[0]))
    readers = comparison.reader_operating_points(store, viewer, dataset)
    figures = {
        "ROC figure (bands, readers)": lambda: model_charts.roc_figure(
            result.curves, result.bands, readers, result.aucs, comparison.BAND_LABEL),
        "confusion figure": lambda: model_charts.confusion_figure(result.confusion),
        "calibration figure": lambda: model_charts.calibration_figure(result.calibration,
                                                                      result.briers),
        "study table figure": lambda: model_charts.table_figure(
            comparison.format_study_table(result.study), "study table")}
    rows += [(name, best_of(repeats, make)[0]) for name, make in figures.items()]
    if export and figure_export.export_available():
        fig = figures["ROC figure (bands, readers)"]()
        rows.append(("PNG export (kaleido, on click)", best_of(1, lambda: figure_export.to_png(
            fig))[0]))
        rows.append(("SVG export (kaleido, on click)", best_of(1, lambda: figure_export.to_svg(
            fig))[0]))
    elif export:
        print("export skipped: " + figure_export.NO_BROWSER)
    for name, seconds in rows:
        show(name, seconds)


def page_runs(viewer: User, repeats: int) -> None:
    """The page as the server runs it: the very first run (imports included), a run on empty
    caches in a warm process (what a viewer waits for after the models change), reruns."""
    def fresh_page() -> AppTest:
        st.cache_data.clear()
        at = AppTest.from_file(str(PAGE), default_timeout=120)
        at.session_state["user"] = viewer
        at.run()
        if at.exception:
            raise SystemExit(f"the page failed: {at.exception[0].message}")
        return at

    first, _ = best_of(1, fresh_page)
    cold, at = best_of(repeats, fresh_page)
    print("AppTest of pages/models.py (as a supervisor):")
    show("first run in a new process (imports too)", first)
    show("run on empty caches, warm process (ROC)", cold)
    for section in SECTIONS:
        def rerun(section=section):
            at.radio(key="models_section").set_value(section)
            return at.run()
        seconds, _ = best_of(repeats, rerun)
        show("rerun: " + section, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="an existing store (default: synthetic)")
    parser.add_argument("--dataset", help="the dataset to compare on (default: newest model's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--export", action="store_true", help="also time PNG/SVG export")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_comparison_"))
    try:
        if args.db:
            path = folder / "copy" / args.db.name   # a copy: the page opens its store to write
            shutil.copytree(args.db.parent, path.parent)
        else:
            path = build(folder)
        os.environ["SONOCASE_DB"] = str(path)
        os.environ["SONOCASE_AUTOTRAIN"] = "0"
        with Store(path) as store:
            dataset = args.dataset or next(iter(comparison.model_datasets(store)), None)
            if dataset is None:
                raise SystemExit("no trained model in the store")
            viewer = supervisor(store)
            computations(store, dataset, viewer, args.repeats, args.export)
        page_runs(viewer, args.repeats)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
