"""``python -m core stats roc|mrmc|mcnemar FILE ...``: the project's statistics on any CSV file.

Needs no store. Bad files (missing columns, missing values, one class only, non-numeric
scores, fewer than two readers) end with a one-line error and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.stats.roc import CI_METHODS

HELP = "statistics on your own CSV file: ROC/AUC with DeLong, MRMC reader study, McNemar"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    analyses = parser.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")

    roc = analyses.add_parser(
        "roc", help="AUCs with DeLong CIs and paired DeLong tests (Holm-corrected)",
        description="AUC of each score column with its DeLong variance and CI (--ci), and "
                    "every pair of scores compared by DeLong's paired test with Holm's "
                    "correction. A higher score means more likely positive; BI-RADS categories "
                    "are accepted as scores.")
    roc.add_argument("file", type=Path, help="CSV file, one row per case")
    roc.add_argument("--truth", required=True, metavar="COL", help="column holding the truth")
    _positive(roc, "--truth")
    roc.add_argument("--score", required=True, action="append", metavar="COL",
                     help="score column (repeat for several models)")
    roc.add_argument("--ci", choices=CI_METHODS, default="logit",
                     help="CI of each AUC: logit (DeLong on the logit scale with a half-pair "
                          "continuity adjustment, near its level from 10+10 cases; the default "
                          "and what the app shows) or delong (pROC's ci.auc: normal on the AUC "
                          "scale, identical to pROC, too narrow at small samples)")
    _common(roc)

    mrmc = analyses.add_parser(
        "mrmc", help="Obuchowski-Rockette MRMC analysis of two modalities (Hillis df)",
        description="Obuchowski-Rockette analysis of two modalities read by several readers on "
                    "the same cases: random readers and cases (Hillis df), fixed readers, fixed "
                    "cases, and each modality's CI. Only cases read by every reader in both "
                    "modalities are analysed; the others are reported as dropped.")
    mrmc.add_argument("file", type=Path, help="CSV file, one row per reading")
    for column in ("reader", "modality", "case", "truth", "rating"):
        mrmc.add_argument(f"--{column}", required=True, metavar="COL", help=f"{column} column")
    _positive(mrmc, "--truth")
    mrmc.add_argument("--cov", choices=("jackknife", "delong"), default="jackknife",
                      help="error covariance estimate (default: jackknife, as OR-DBM MRMC)")
    _common(mrmc)

    mcnemar = analyses.add_parser(
        "mcnemar", help="McNemar's test for paired decisions (exact and chi-square)",
        description="McNemar's test on two paired columns. With --truth, each column's "
                    "decisions are scored right or wrong against the truth; without it, the "
                    "columns hold two-level outcomes as R's mcnemar.test takes two factors "
                    "(yes/no, true/false, malignant/benign, 1/0...; e.g. yes = read "
                    "correctly).")
    mcnemar.add_argument("file", type=Path, help="CSV file, one row per case")
    mcnemar.add_argument("--a", required=True, metavar="COL", help="first column")
    mcnemar.add_argument("--b", required=True, metavar="COL", help="second column")
    mcnemar.add_argument("--truth", metavar="COL", help="truth column to score --a and --b against")
    _positive(mcnemar, "--a and --b")
    mcnemar.add_argument("--json", action="store_true", help="print the result as JSON")


def _positive(parser: argparse.ArgumentParser, columns: str) -> None:
    parser.add_argument("--positive", metavar="VALUE",
                        help=f"the value of {columns} that means positive (any case); needed "
                             "only where the two levels are not yes/no, true/false, "
                             "malignant/benign, positive/negative, correct/incorrect or 1/0")


def _level(text: str) -> float:
    try:
        level = float(text)
    except ValueError:
        level = float("nan")
    if not 0 < level < 1:
        raise argparse.ArgumentTypeError(f"confidence level must lie between 0 and 1, got {text}")
    return level


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--level", type=_level, default=0.95,
                        help="confidence level (default 0.95)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    handlers = {"roc": _roc, "mrmc": _mrmc, "mcnemar": _mcnemar}
    result, text = handlers[args.analysis](args)
    print(json.dumps(_finite(result), allow_nan=False) if args.json else text)
    return 0


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (JSON has no such numbers)."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _read(path: Path, columns: list[str]):
    import pandas as pd

    if not path.is_file():
        raise UserError(f"no such file: {path}")
    try:
        with path.open(encoding="utf-8-sig") as handle:
            header = handle.readline()
        # Comma-separated, or semicolon/tab-separated as spreadsheets in many locales save.
        separator = next((sep for sep in (",", ";", "\t") if sep in header), ",")
        frame = pd.read_csv(path, sep=separator, encoding="utf-8-sig")
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {path} as CSV: {error}") from None
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)} "
                        f"(columns present: {', '.join(map(str, frame.columns))})")
    if frame.empty:
        raise UserError(f"{path}: no rows")
    for column in columns:
        empty = frame[column].isna()
        if empty.any():
            raise UserError(f"{path}: column {column!r} has {int(empty.sum())} missing value(s), "
                            f"first on data row {int(empty.to_numpy().argmax()) + 1}")
    return frame


def _numeric(series, column: str) -> tuple[Any, str | None]:
    """A score column as floats; BI-RADS categories become ranks 0-5 (with a note)."""
    import pandas as pd

    from core.lexicon import BIRADS_CATEGORIES
    from core.stats.readers import birads_scores

    if pd.api.types.is_bool_dtype(series):
        raise UserError(f"column {column!r} holds true/false values, not scores")
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=float), None
    text = series.astype(str).str.strip().str.upper()
    if text.isin(BIRADS_CATEGORIES).all():
        return birads_scores(text), (f"column {column!r} read as BI-RADS categories, "
                                     f"ranked 2 < 3 < 4A < 4B < 4C < 5")
    bad = (pd.to_numeric(series, errors="coerce").isna() & ~text.isin(BIRADS_CATEGORIES)).to_numpy()
    raise UserError(f"column {column!r} is neither numeric nor BI-RADS: "
                    f"{series.iloc[int(bad.argmax())]!r} on data row {int(bad.argmax()) + 1}")


def _truth(series, positive: str | None, column: str):
    """The truth column as 0/1 with both classes present (see ``two_levels``)."""
    from core.stats.inputs import two_levels

    levels = two_levels(series, column, positive)
    if not levels.indicator.any():
        raise UserError(f"column {column!r} holds only the negative value {levels.negative!r}: "
                        f"an ROC needs positive and negative cases")
    if levels.indicator.all():
        raise UserError(f"column {column!r} holds only the positive value {levels.positive!r}: "
                        f"an ROC needs positive and negative cases")
    return levels.indicator


def _roc(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from core.stats.roc import MIN_PER_CLASS, auc_ci, compare_all

    if len(set(args.score)) != len(args.score):
        raise UserError("a --score column is given twice")
    frame = _read(args.file, [args.truth, *args.score])
    y = _truth(frame[args.truth], args.positive, args.truth)
    scores, notes = {}, []
    for column in args.score:
        scores[column], note = _numeric(frame[column], column)
        if note:
            notes.append(note)
        if len(set(scores[column])) == 1:
            notes.append(f"score {column!r} is constant: AUC 0.5 with variance 0 (it carries "
                         f"no information; " + ("its CI is a single point)" if args.ci == "delong"
                                                else "its CI is the continuity adjustment's)"))
    result = {"n_pos": int(y.sum()), "n_neg": int(len(y) - y.sum()),
              "auc": {name: auc_ci(y, values, args.level, args.ci).as_dict()
                      for name, values in scores.items()},
              "pairs": compare_all(y, scores, args.level), "level": args.level,
              "ci_method": args.ci, "notes": notes}
    if min(result["n_pos"], result["n_neg"]) < MIN_PER_CLASS:
        notes.append(f"fewer than {MIN_PER_CLASS} cases of a class: the app shows 'too few "
                     f"cases' instead of an AUC")
    method = "logit DeLong" if args.ci == "logit" else "DeLong (pROC)"
    lines = [f"{result['n_pos']} positive, {result['n_neg']} negative cases; AUC ({method} "
             f"{args.level:.0%} CI):"]
    for name, auc in result["auc"].items():
        lines.append(f"  {name}: {auc['auc']:.4f} ({auc['ci'][0]:.4f}-{auc['ci'][1]:.4f}), "
                     f"var {auc['var']:.3g}")
    for pair in result["pairs"]:
        lines.append(f"  {pair['a']} - {pair['b']}: diff {pair['diff']:+.4f} "
                     f"({pair['ci'][0]:+.4f} to {pair['ci'][1]:+.4f}), z {pair['z']:.3f}, "
                     f"p {pair['p']:.4g}, Holm p {pair['p_holm']:.4g}")
    lines += [f"note: {note}" for note in notes]
    return result, "\n".join(lines)


def _mrmc(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from core.stats.inputs import two_levels
    from core.stats.mrmc import or_analysis

    columns = [args.reader, args.modality, args.case, args.truth, args.rating]
    if len(set(columns)) != len(columns):
        raise UserError("--reader, --modality, --case, --truth and --rating must name "
                        "different columns")
    frame = _read(args.file, columns)
    ratings, note = _numeric(frame[args.rating], args.rating)
    frame = frame.assign(**{args.rating: ratings})
    truth = two_levels(frame[args.truth], args.truth, args.positive).indicator
    frame = frame.assign(**{args.truth: truth})
    result = or_analysis(frame, reader=args.reader, modality=args.modality, case=args.case,
                         truth=args.truth, rating=args.rating, cov=args.cov, level=args.level)
    result["notes"] = ([note] if note else []) + result["notes"]
    first, second = result["modalities"]
    lines = [f"{result['n_readers']} readers, {result['n_cases']} cases ({result['n_pos']} "
             f"positive, {result['n_neg']} negative); {result['dropped']} case(s) dropped as "
             f"not read by every reader in both modalities; {args.cov} covariance"]
    for name in (first, second):
        modality = result["modality"][name]
        lines.append(f"  {args.modality} {name}: mean AUC {modality['auc']:.4f} "
                     f"({modality['ci'][0]:.4f}-{modality['ci'][1]:.4f}, df {modality['df']:.2f})")
    lines += [
        f"  difference {result['diff_of']}: {result['diff']:+.5f} "
        f"({result['ci'][0]:+.5f} to {result['ci'][1]:+.5f})",
        f"  random readers and cases: F {result['f']:.4f} on 1 and {result['df_den']:.2f} df, "
        f"p {result['p']:.4g}",
        f"  fixed readers: chi-square {result['fixed_readers']['chi2']:.4f} on 1 df, "
        f"p {result['fixed_readers']['p']:.4g}",
        f"  Var {result['var_error']:.6g}, Cov1 {result['cov1']:.6g}, Cov2 {result['cov2']:.6g}, "
        f"Cov3 {result['cov3']:.6g}",
    ]
    lines += [f"note: {note}" for note in result["notes"]]
    return result, "\n".join(lines)


def _correct(frame, column: str, truth: str, positive: str | None):
    """1 where ``column``'s decision equals the truth: the same words compared as written (any
    case), or two levels written differently (yes/no against malignant/benign) compared as
    positive/negative."""
    import numpy as np

    from core.stats.inputs import level_name, two_levels

    decisions = frame[column].map(level_name)
    truths = frame[truth].map(level_name)
    foreign = sorted(set(decisions) - set(truths))
    if not foreign:
        return np.asarray(decisions == truths, dtype=int)
    try:
        return (two_levels(frame[column], column, positive).indicator
                == two_levels(frame[truth], truth, positive).indicator).astype(int)
    except UserError as error:
        raise UserError(f"column {column!r} has value(s) {', '.join(foreign[:5])} that never "
                        f"occur in the truth column {truth!r}, and the two cannot be matched as "
                        f"two levels: {error}") from None


def _mcnemar(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from core.stats.mcnemar import mcnemar

    columns = [args.a, args.b] + ([args.truth] if args.truth else [])
    frame = _read(args.file, columns)
    if args.truth:
        a = _correct(frame, args.a, args.truth, args.positive)
        b = _correct(frame, args.b, args.truth, args.positive)
        yes_a = yes_b = "right"
        no_a = no_b = "wrong"
        compared = "correct against truth"
    else:
        from core.stats.inputs import two_levels

        first = two_levels(frame[args.a], args.a, args.positive)
        second = two_levels(frame[args.b], args.b, args.positive)
        a, b = first.indicator, second.indicator
        yes_a, no_a = first.positive or "positive", first.negative or "negative"
        yes_b, no_b = second.positive or "positive", second.negative or "negative"
        compared = f"{args.a} {yes_a} and {args.b} {yes_b} as positive"
    result = mcnemar(a, b)
    result.update({"column_a": args.a, "column_b": args.b, "compared": compared})
    text = (f"{result['n']} paired cases; {args.a} {yes_a} and {args.b} {no_b}: {result['b']}, "
            f"{args.a} {no_a} and {args.b} {yes_b}: {result['c']}\n"
            f"  exact p {result['p_exact']:.4g}; chi-square {result['chi2']:.4f} (continuity "
            f"corrected), p {result['p_corrected']:.4g}; {result['chi2_uncorrected']:.4f} "
            f"uncorrected, p {result['p_uncorrected']:.4g}")
    return result, text
