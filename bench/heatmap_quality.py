"""Heatmap quality per model and CAM method on a dataset's test split (default: the demo's
phantoms in the demo store): the map's grid, faithfulness, and localisation beside the centre
blob and the uniform map with the paired test against the centre.

    .venv/bin/python bench/heatmap_quality.py [--db data/results.duckdb] [--dataset phantom]
        [--models ID ...] [--methods gradcam ... scorecam]
        [--metric confidence_change|road_combined]
        [--limit N] [--quiz-method METHOD] [--batch-size 16]

Maps are computed afresh in memory and nothing is written (stop the app first: one process
owns the store), from each model's own checkpoint for the test cases it predicted, explaining
its stored call, and scored exactly as ``core.heatmaps.compute`` scores the maps it stores. The last line says whether the quiz model's map (``--quiz-method``) beats the
centre baseline on energy inside the lesion mask (Wilcoxon signed-rank, p < 0.05).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from core.heatmaps import default_heatmap  # noqa: E402
from core.heatmaps.cam import METHODS, WHOLE_MODEL_METHODS  # noqa: E402
from core.heatmaps.compute import FAITHFULNESS, case_images, score_maps, stored_calls  # noqa: E402
from core.heatmaps.localisation import MEASURES  # noqa: E402
from core.heatmaps.quality import FAITHFULNESS_METRIC, summarise  # noqa: E402
from core.models.loading import load_model  # noqa: E402
from core.shown_model import quiz_model  # noqa: E402
from core.store import Store, default_db_path  # noqa: E402

SHORT = {"pointing_hit": "point", "energy_box": "E(box)", "energy_inside": "E(mask)"}


def test_cases(store: Store, model_id: str, dataset: str, limit: int | None) -> list[int]:
    """The dataset's test cases the model predicted (its honest test outputs)."""
    with store.read() as cur:
        rows = cur.execute("SELECT p.case_id FROM predictions p JOIN cases c USING (case_id) "
                           "JOIN splits s USING (case_id) WHERE p.model_id = ? AND c.dataset = ? "
                           "AND s.split = 'test' AND p.source = 'test' ORDER BY p.case_id",
                           [model_id, dataset]).fetchall()
    return [case_id for (case_id,) in rows][:limit]


def quality(store: Store, model_id: str, case_ids: list[int], method: str, metric: str,
            batch_size: int) -> tuple[tuple[int, int], dict, float]:
    """The map grid, :func:`core.heatmaps.quality.summarise` of the maps, and seconds taken."""
    loaded = load_model(store, model_id, "cpu")
    started, rows, grid = time.perf_counter(), [], (0, 0)
    for start in range(0, len(case_ids), batch_size):
        chunk = case_ids[start:start + batch_size]
        _, grid, scores = score_maps(loaded, case_images(store, chunk), method, batch_size,
                                     stored_calls(store, loaded, chunk), metric)
        rows += [{"case_id": case_id, **row} for case_id, row in scores.items()]
    return grid, summarise(pd.DataFrame(rows)), time.perf_counter() - started


def _share(value: dict) -> str:
    return "   -" if value["value"] is None else f"{value['value']:4.0%}"


def row_text(model_id: str, method: str, grid: tuple[int, int], summary: dict) -> str:
    """One printed row: map / centre / uniform per localisation measure, the verdict against
    the centre (+ better, = not shown better), and faithfulness against the centre blob."""
    loc, faithful = summary["localisation"], summary["faithfulness"]
    parts = [f"{model_id:<34} {method:<9} {grid[0]:>2}x{grid[1]:<2} {loc['cases']:>4}"]
    for measure in MEASURES:
        m = loc[measure]
        test = m["versus_centre"]
        shown = "     -" if test["p"] is None else \
            f"{'+' if test['better'] else '='} p={test['p']:<5.2g}"
        parts.append(f"{_share(m['map'])} {_share(m['centre'])} {_share(m['uniform'])} {shown}")
    mean, centre = faithful["map"]["value"], faithful["centre"]["value"]
    parts.append(f"{mean:+.3f} vs {centre:+.3f}" if mean is not None else "-")
    return " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=default_db_path())
    parser.add_argument("--dataset", default="phantom")
    parser.add_argument("--models", nargs="*", help="model ids (default: all of the dataset)")
    parser.add_argument("--methods", nargs="*", choices=list(METHODS),
                        default=[m for m in METHODS if m not in WHOLE_MODEL_METHODS],
                        help="default: all but Score-CAM (one forward pass per channel of the "
                             "target layer per image: ask for it by name)")
    parser.add_argument("--metric", default=FAITHFULNESS_METRIC, choices=list(FAITHFULNESS))
    parser.add_argument("--limit", type=int, default=None, help="at most N test cases")
    parser.add_argument("--quiz-method", default=None, choices=list(METHODS),
                        help="default: the quiz model's recorded default method")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)
    if not args.db.is_file():
        parser.error(f"no store at {args.db} (run python -m core serve once, or pass --db)")
    with Store(args.db) as store:
        with store.read() as cur:
            models = args.models or [m for (m,) in cur.execute(
                "SELECT model_id FROM models WHERE dataset = ? ORDER BY model_id",
                [args.dataset]).fetchall()]
        quiz = quiz_model(store).model_id
        if args.quiz_method is None:
            with store.read() as cur:
                (config,) = cur.execute("SELECT config FROM models WHERE model_id = ?",
                                        [quiz]).fetchone()
            args.quiz_method = default_heatmap(json.loads(config) if config else None)[1]
        print(f"{args.dataset} test split; faithfulness: {args.metric}; localisation as "
              "map centre uniform (+: better than the centre, paired test p < 0.05)")
        print(f"{'model':<34} {'method':<9} grid  cases | "
              + " | ".join(f"{SHORT[m]}: map centre uniform" for m in MEASURES)
              + f" | {args.metric} map vs centre")
        verdict = None
        for model_id in models:
            case_ids = test_cases(store, model_id, args.dataset, args.limit)
            for method in args.methods:
                grid, summary, seconds = quality(store, model_id, case_ids, method,
                                                 args.metric, args.batch_size)
                print(row_text(model_id, method, grid, summary) + f" | {seconds:.1f} s",
                      flush=True)
                if model_id == quiz and method == args.quiz_method:
                    verdict = summary["localisation"]["energy_inside"]
    if verdict is None:
        print(f"quiz model {quiz} with {args.quiz_method}: not among the rows above")
        return 0
    test = verdict["versus_centre"]
    print(f"quiz model {quiz} ({args.quiz_method}) beats the centre baseline on energy inside "
          f"the mask: {'yes' if test['better'] else 'no'} (map {_share(verdict['map'])}, "
          f"centre {_share(verdict['centre'])}, {test['test']} p = {test['p']:.2g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
