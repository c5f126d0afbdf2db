"""The model comparison for journal club: the six models on the test split, side by side.

Pure functions on the store and on data frames (no Streamlit). Everything is computed on the
test split only (``predictions.source = 'test'`` for a case whose split is ``test``), for
biopsy-proven cases (benign or malignant), and at each model's stored threshold
(``models.threshold``, chosen without test rows).

Reader operating points follow the study: BI-RADS 4A or above is called malignant. Each
trainee's first read of a case in each mode counts (later practice of the same case does not).
A trainee sees only their own point and the anonymous pooled point of the cohort (the latter
only when at least ``MIN_COHORT`` trainees contributed, so that it never reveals one other
person's reads); supervisors and admins can pick any trainee.

The heatmap gallery shows supervisors and admins any test-split case. A trainee sees only the
test cases whose AI step the quiz has already shown them (an aided read is stored), or that
went straight to the truth in practice (no model output): never a case they have not yet
answered unaided, nor one waiting for its AI step or for a reader study's aided phase.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from core import images
from core.auth import STAFF_ROLES, User
from core.display_names import ARCH_NAMES, arch_name, model_names
from core.models import framing
from core.errors import UserError
from core.heatmaps import default_heatmap, method_title
from core.heatmaps.localisation import TOLERANCE_PX
from core.heatmaps.quality import FAITHFULNESS_METRIC, FAITHFULNESS_NAMES
from core.lexicon import DEFAULT_POSITIVE_FROM, birads_rank
from core.stats.metrics import (brier, confusion, reliability_curve, threshold_metrics,
                                wilson_ci)
from core.stats.roc import (MIN_PER_CLASS, AucResult, TooFewCases, compare_all, roc_points,
                            shown_auc)
from core.store import Store

METRICS = ("accuracy", "sensitivity", "specificity", "precision", "f1")
PUBLISHED_SOURCE = "published (2026 study)"
# The paper's figures for its best model; its other five models are not published to us.
PUBLISHED = {"arch": "resnet50", "label": "ResNet50", "source": PUBLISHED_SOURCE, "n": 126,
             "auc": 0.937, "auc_low": 0.911, "auc_high": 0.962, "accuracy": 0.864,
             "sensitivity": 0.863, "specificity": 0.865, "precision": 0.863, "f1": 0.863}
OURS_SOURCE = "this app"
STARTS = {"imagenet": "ImageNet weights", "scratch": "scratch (random)"}  # models.init
LEVEL = 0.95
ZOOM_SIDE_PX = 480  # a gallery panel zoomed on the lesion is enlarged to this side
BAND_RESAMPLES = 2000
BAND_SEED = 0
BAND_GRID = np.linspace(0.0, 1.0, 101)
BAND_LABEL = (f"95% pointwise CI (stratified bootstrap, {BAND_RESAMPLES} resamples, "
              f"seed {BAND_SEED})")
BAND_METHOD = ("Pointwise 95% band: positives and negatives resampled separately "
               f"{BAND_RESAMPLES} times (seed {BAND_SEED}); at each 1 - specificity on a grid "
               "of 101 points, the 2.5th and 97.5th percentiles of the resampled ROC curves' "
               "sensitivity.")
MIN_COHORT = 3

_TEST_CASES = """
    JOIN cases c ON c.case_id = {alias}.case_id
    JOIN splits s ON s.case_id = {alias}.case_id
    WHERE s.split = 'test' AND c.label IN ('benign', 'malignant')
"""


def arch_order() -> tuple[str, ...]:
    """The six architectures in the paper's order."""
    return tuple(ARCH_NAMES)


# ---- models and predictions -------------------------------------------------------------

def model_datasets(store: Store) -> list[str]:
    """Datasets with at least one trained model, the most recently trained first."""
    with store.read() as cur:
        rows = cur.execute("SELECT dataset FROM models GROUP BY dataset "
                           "ORDER BY max(created_at) DESC, dataset").fetchall()
    return [dataset for (dataset,) in rows]


def list_models(store: Store, dataset: str) -> pd.DataFrame:
    """The dataset's models with their number of test-split predictions (``n_test``) and
    readable name (``name``)."""
    with store.read() as cur:
        frame = cur.execute(f"""
            SELECT m.model_id, m.arch, m.profile, m.init, m.image_size, m.epochs, m.threshold,
                   m.created_at,
                   (SELECT count(*) FROM predictions p {_TEST_CASES.format(alias='p')}
                      AND p.model_id = m.model_id AND p.source = 'test') AS n_test
            FROM models m WHERE m.dataset = ? ORDER BY m.created_at DESC, m.model_id
        """, [dataset]).df()
    frame["name"] = frame["model_id"].map(model_names(store))
    return frame


def default_models(models: pd.DataFrame) -> list[str]:
    """The newest model of each architecture that has test predictions, in the paper's order."""
    usable = models[models["n_test"] > 0].sort_values("created_at", ascending=False)
    newest = usable.drop_duplicates("arch")
    rank = {arch: i for i, arch in enumerate(arch_order())}
    return list(newest.sort_values("arch", key=lambda a: a.map(lambda x: rank.get(x, 99)))
                ["model_id"])


def with_new_models(selected: list[str], offered_before: list[str] | None,
                    models: pd.DataFrame) -> list[str]:
    """The selection once models have appeared (a training finished while the page was open):
    each model with test predictions that was not offered before and is the newest of its
    architecture joins ``selected``, in place of the older models of its architecture."""
    if offered_before is None:
        return selected
    newest = set(default_models(models))
    arrived = [m for m in models.loc[models["n_test"] > 0, "model_id"]
               if m not in offered_before and m in newest]
    if not arrived:
        return selected
    arch = dict(zip(models["model_id"], models["arch"]))
    replaced = {arch[m] for m in arrived}
    return [m for m in selected if arch.get(m) not in replaced] + arrived


def untrained_archs(models: pd.DataFrame) -> list[str]:
    """The paper's architectures without a model that has test predictions."""
    trained = set(models.loc[models["n_test"] > 0, "arch"])
    return [arch for arch in arch_order() if arch not in trained]


def predictions_version(store: Store, dataset: str) -> tuple[int, float]:
    """A fingerprint of the dataset's models and predictions (count and checksum), for
    caching: it changes when a model or prediction does, and not when a quiz answer is saved."""
    with store.read() as cur:
        count, checksum = cur.execute("""
            SELECT count(*), coalesce(sum(hash(p.model_id, p.case_id, p.prob_malignant,
                                               p.source, m.threshold) % 1000003), 0)
            FROM predictions p JOIN models m USING (model_id) WHERE m.dataset = ?
        """, [dataset]).fetchone()
    return int(count), float(checksum)


def load_test_predictions(store: Store, dataset: str | None = None,
                          model_ids: list[str] | None = None) -> pd.DataFrame:
    """Test-split predictions: model_id, arch, init (imagenet or scratch: the weights training
    started from), label, case_id, truth (1 malignant), prob, threshold; models in the order of
    ``model_ids`` (else the paper's order)."""
    with store.read() as cur:
        frame = cur.execute(f"""
            SELECT m.model_id, m.arch, m.init, p.case_id,
                   CAST(c.label = 'malignant' AS INTEGER) AS truth,
                   p.prob_malignant AS prob, m.threshold
            FROM predictions p JOIN models m ON m.model_id = p.model_id
            {_TEST_CASES.format(alias='p')}
              AND p.source = 'test' AND (CAST(? AS VARCHAR) IS NULL OR m.dataset = ?)
            ORDER BY p.case_id
        """, [dataset, dataset]).df()
    if model_ids is not None:
        frame = frame[frame["model_id"].isin(model_ids)]
        order = {model_id: i for i, model_id in enumerate(model_ids)}
    else:
        rank = {arch: i for i, arch in enumerate(arch_order())}
        order = {m: rank.get(a, 99) for m, a in zip(frame["model_id"], frame["arch"])}
    frame = frame.sort_values(["model_id", "case_id"], key=lambda col: (
        col.map(order) if col.name == "model_id" else col), kind="stable")
    frame["label"] = _labels(frame, model_names(store))
    return frame.reset_index(drop=True)[["model_id", "arch", "init", "label", "case_id",
                                         "truth", "prob", "threshold"]]


def _labels(frame: pd.DataFrame, names: dict[str, str]) -> pd.Series:
    """The paper's name of each model; where an architecture repeats, its readable name
    (``names``: :func:`core.display_names.model_names`), never its id."""
    pairs = frame[["model_id", "arch"]].drop_duplicates()
    repeated = pairs["arch"].duplicated(keep=False)
    labels = {m: names.get(m, m) if r else arch_name(a)
              for m, a, r in zip(pairs["model_id"], pairs["arch"], repeated)}
    return frame["model_id"].map(labels)


def model_labels(models: pd.DataFrame) -> dict[str, str]:
    """Each model's readable name (:func:`list_models`' ``name``), e.g. "ResNet50 (quick,
    lesion, 2026-12-03)", for the model chips and selectors."""
    return dict(zip(models["model_id"], models["name"])) if len(models) else {}


def _per_model(preds: pd.DataFrame):
    for label, rows in preds.groupby("label", sort=False):
        yield label, rows["truth"].to_numpy(), rows["prob"].to_numpy(), rows


def aligned_scores(preds: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Truth and each model's scores on the cases every model scored (for paired tests)."""
    wide = preds.pivot(index="case_id", columns="label", values="prob").dropna()
    if wide.empty:
        raise UserError("the selected models share no test case")
    truth = preds.drop_duplicates("case_id").set_index("case_id")["truth"].loc[wide.index]
    labels = list(dict.fromkeys(preds["label"]))
    return truth.to_numpy(), {label: wide[label].to_numpy() for label in labels}


# ---- model statistics ---------------------------------------------------------------------

def roc_curves(preds: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, AucResult | TooFewCases]]:
    """Each model's empirical ROC (label, fpr, tpr) and its AUC as shown (``shown_auc``)."""
    curves, aucs = [], {}
    for label, y, prob, _ in _per_model(preds):
        fpr, tpr, _thresholds = roc_points(y, prob)
        curves.append(pd.DataFrame({"label": label, "fpr": fpr, "tpr": tpr}))
        aucs[label] = shown_auc(y, prob, LEVEL)
    return pd.concat(curves, ignore_index=True), aucs


def tpr_band(y: np.ndarray, score: np.ndarray, grid: np.ndarray = BAND_GRID,
             resamples: int = BAND_RESAMPLES, level: float = LEVEL,
             seed: int = BAND_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise CI of sensitivity at each false-positive rate in ``grid``.

    Positives and negatives are resampled separately (class sizes fixed, as pROC's stratified
    bootstrap); in each resample the sensitivity at FPR f is the best the empirical ROC
    reaches with at most floor(f * n_neg) false positives, i.e. the share of positives scoring
    above the (k+1)-th highest negative. All resamples are computed at once with numpy.
    """
    y = np.asarray(y).astype(bool)
    _, ranks = np.unique(np.asarray(score, float), return_inverse=True)   # ties stay tied
    levels = int(ranks.max()) + 1
    pos, neg = ranks[y], ranks[~y]
    rng = np.random.default_rng(seed)
    pos_b = pos[rng.integers(0, len(pos), (resamples, len(pos)))]
    neg_b = -np.sort(-neg[rng.integers(0, len(neg), (resamples, len(neg)))], axis=1)
    allowed = np.floor(grid * len(neg) + 1e-9).astype(int)
    inside = allowed < len(neg)
    cutoffs = neg_b[:, allowed[inside]]                                  # (resamples, points)
    # Positives at or below each rank, per resample: one histogram for all resamples.
    row = np.arange(resamples)[:, None]
    counts = np.bincount((row * levels + pos_b).ravel(), minlength=resamples * levels)
    at_or_below = np.cumsum(counts.reshape(resamples, levels), axis=1)
    tpr = np.ones((resamples, len(grid)))
    tpr[:, inside] = 1 - np.take_along_axis(at_or_below, cutoffs, axis=1) / len(pos)
    low, high = np.quantile(tpr, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return low, high


def roc_bands(preds: pd.DataFrame, grid: np.ndarray = BAND_GRID,
              resamples: int = BAND_RESAMPLES) -> pd.DataFrame:
    """Each model's pointwise 95% band (label, fpr, tpr_low, tpr_high); see :func:`tpr_band`."""
    bands = []
    for label, y, prob, _ in _per_model(preds):
        low, high = tpr_band(y, prob, grid, resamples)
        bands.append(pd.DataFrame({"label": label, "fpr": grid, "tpr_low": low,
                                   "tpr_high": high}))
    return pd.concat(bands, ignore_index=True)


def study_table(preds: pd.DataFrame) -> pd.DataFrame:
    """The study's table: AUC (logit DeLong CI; ``auc_note`` says where there are too few
    cases for one) and accuracy ... F1 (with CIs) at each model's stored threshold, one row per
    model, the paper's published row after our ResNet50."""
    rows = []
    for label, y, prob, model_rows in _per_model(preds):
        threshold = float(model_rows["threshold"].iloc[0])
        auc = shown_auc(y, prob, LEVEL).as_dict()
        row = {"label": label, "model_id": model_rows["model_id"].iloc[0],
               "arch": model_rows["arch"].iloc[0], "init": model_rows["init"].iloc[0],
               "source": OURS_SOURCE, "n": len(y),
               "threshold": threshold, "auc": auc["auc"], "auc_low": auc["ci"][0],
               "auc_high": auc["ci"][1], "auc_note": auc.get("too_few", "")}
        if not np.isnan(threshold):
            estimates = threshold_metrics(y, (prob >= threshold).astype(int), LEVEL)
            for name in METRICS:
                row |= {name: estimates[name].value, f"{name}_low": estimates[name].ci_low,
                        f"{name}_high": estimates[name].ci_high}
        rows.append(row)
    after = next((i + 1 for i, row in enumerate(rows) if row["arch"] == PUBLISHED["arch"]),
                 len(rows))
    rows.insert(after, dict(PUBLISHED))
    columns = (["label", "source", "model_id", "arch", "init", "n", "threshold", "auc", "auc_low",
                "auc_high", "auc_note"] + [f"{m}{s}" for m in METRICS
                                           for s in ("", "_low", "_high")])
    return pd.DataFrame(rows).reindex(columns=columns)


def _with_ci(value: float, low: float, high: float) -> str:
    if pd.isna(value):
        return "—"
    if pd.isna(low) or pd.isna(high):
        return f"{value:.3f}"
    return f"{value:.3f} ({low:.3f}–{high:.3f})"


def format_study_table(table: pd.DataFrame) -> pd.DataFrame:
    """The study table as text: value (95% CI); '—' where a figure is not available."""
    shown = pd.DataFrame({"Model": table["label"], "Source": table["source"],
                          "Started from": table["init"].map(STARTS).fillna("—"),
                          "n": table["n"].astype("Int64").astype(str)})
    for name, title in [("auc", "AUC"), ("accuracy", "Accuracy"), ("sensitivity", "Sensitivity"),
                        ("specificity", "Specificity"), ("precision", "Precision"), ("f1", "F1")]:
        shown[f"{title} (95% CI)"] = [_with_ci(v, lo, hi) for v, lo, hi in zip(
            table[name], table[f"{name}_low"], table[f"{name}_high"])]
    too_few = table["auc_note"].fillna("").astype(bool).to_numpy()
    shown.loc[too_few, "AUC (95% CI)"] = "too few cases"
    shown["Threshold"] = ["—" if pd.isna(t) else f"{t:.3f}" for t in table["threshold"]]
    return shown.reset_index(drop=True)


def pairwise_table(preds: pd.DataFrame) -> pd.DataFrame:
    """Every pair of models by DeLong's paired test on shared test cases, Holm-corrected:
    a, b, diff (AUC a - AUC b), ci_low, ci_high, z, p, p_holm, n and note. Below
    ``MIN_PER_CLASS`` shared cases of a class no test is run: the figures are NaN and ``note``
    says why (as for the AUCs themselves)."""
    truth, scores = aligned_scores(preds)
    n_pos = int(truth.sum())
    too_few = TooFewCases(n_pos, len(truth) - n_pos)
    if min(too_few.n_pos, too_few.n_neg) < MIN_PER_CLASS:
        untested = {"diff": np.nan, "z": np.nan, "p": np.nan, "p_holm": np.nan,
                    "ci": [np.nan, np.nan]}
        pairs = [{"a": a, "b": b, **untested} for a, b in combinations(scores, 2)]
        note = str(too_few)
    else:
        pairs, note = compare_all(truth, scores, LEVEL), ""
    return pd.DataFrame([{"a": p["a"], "b": p["b"], "diff": p["diff"], "ci_low": p["ci"][0],
                          "ci_high": p["ci"][1], "z": p["z"], "p": p["p"],
                          "p_holm": p["p_holm"], "n": len(truth), "note": note} for p in pairs],
                        columns=["a", "b", "diff", "ci_low", "ci_high", "z", "p", "p_holm", "n",
                                 "note"])


def format_pairwise_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """The pairwise tests as text, with a plain-words verdict at 5% after Holm's correction
    (or why there is no test)."""
    def p_text(p: float) -> str:
        return "—" if pd.isna(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")

    return pd.DataFrame({
        "Comparison": pairs["a"] + " vs " + pairs["b"],
        "AUC difference (95% CI)": [_with_ci(d, lo, hi) for d, lo, hi in zip(
            pairs["diff"], pairs["ci_low"], pairs["ci_high"])],
        "z": [f"{z:.2f}" if not pd.isna(z) else "—" for z in pairs["z"]],
        "p": [p_text(p) for p in pairs["p"]],
        "p (Holm)": [p_text(p) for p in pairs["p_holm"]],
        "Verdict": [note or ("differ" if p < 0.05 else "no evidence of a difference")
                    for note, p in zip(pairs["note"], pairs["p_holm"].fillna(1.0))],
    })


def confusion_matrices(preds: pd.DataFrame) -> pd.DataFrame:
    """Counts at each model's stored threshold: label, model_id, threshold, tp, fp, tn, fn."""
    rows = []
    for label, y, prob, model_rows in _per_model(preds):
        threshold = float(model_rows["threshold"].iloc[0])
        if np.isnan(threshold):
            continue
        counts = confusion(y, (prob >= threshold).astype(int))
        rows.append({"label": label, "model_id": model_rows["model_id"].iloc[0],
                     "threshold": threshold} | counts)
    return pd.DataFrame(rows, columns=["label", "model_id", "threshold", "tp", "fp", "tn", "fn"])


def calibration_curves(preds: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Each model's reliability curve (label + ``reliability_curve`` columns)."""
    curves = [reliability_curve(y, prob, bins, LEVEL).assign(label=label)
              for label, y, prob, _ in _per_model(preds)]
    return pd.concat(curves, ignore_index=True)


def brier_scores(preds: pd.DataFrame) -> dict[str, float]:
    """Each model's Brier score on the test split (0 is perfect, 0.25 a constant 0.5)."""
    return {label: brier(y, prob) for label, y, prob, _ in _per_model(preds)}


@dataclass(frozen=True)
class Comparison:
    """Everything the comparison page shows about the models, computed once."""

    curves: pd.DataFrame
    aucs: dict[str, AucResult | TooFewCases]
    bands: pd.DataFrame
    study: pd.DataFrame
    pairwise: pd.DataFrame
    confusion: pd.DataFrame
    calibration: pd.DataFrame
    briers: dict[str, float]
    n_cases: int


def compare_models(preds: pd.DataFrame, bins: int = 10) -> Comparison:
    """All the model statistics for the selected models' test predictions."""
    if preds.empty:
        raise UserError("no test-split predictions for the selected models")
    curves, aucs = roc_curves(preds)
    return Comparison(curves, aucs, roc_bands(preds), study_table(preds), pairwise_table(preds),
                      confusion_matrices(preds), calibration_curves(preds, bins),
                      brier_scores(preds), preds["case_id"].nunique())


# ---- reader operating points --------------------------------------------------------------

def _is_staff(viewer: User) -> bool:
    if viewer.role not in ("trainee", *STAFF_ROLES):
        raise UserError(f"unknown role {viewer.role!r}")
    return viewer.role in STAFF_ROLES


def _first_reads(store: Store, dataset: str) -> pd.DataFrame:
    """Each trainee's first practice read of each test-split case in each mode (reader-study
    reads stay out: a reader must not see their own figures mid-study; the study report has
    them)."""
    with store.read() as cur:
        return cur.execute(f"""
            SELECT r.user_id, r.mode, r.birads, CAST(c.label = 'malignant' AS INTEGER) AS truth
            FROM reads r JOIN users u ON u.user_id = r.user_id
            JOIN quiz_sessions qs ON qs.session_id = r.session_id AND qs.kind = 'practice'
            {_TEST_CASES.format(alias='r')}
              AND u.role = 'trainee' AND c.dataset = ?
            QUALIFY row_number() OVER (PARTITION BY r.user_id, r.case_id, r.mode
                                       ORDER BY r.created_at, r.read_id) = 1
        """, [dataset]).df()


def _points(reads: pd.DataFrame, reader: str, pooled: bool,
            positive_from: str) -> list[dict]:
    points = []
    cut = birads_rank(positive_from)
    for mode in ("unaided", "aided"):
        rows = reads[reads["mode"] == mode]
        y = rows["truth"].to_numpy()
        called = rows["birads"].map(birads_rank).to_numpy() >= cut
        n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
        if n_pos == 0 or n_neg == 0:
            continue
        tp, fp = int((called & (y == 1)).sum()), int((called & (y == 0)).sum())
        tpr_low, tpr_high = wilson_ci(tp, n_pos, LEVEL)
        fpr_low, fpr_high = wilson_ci(fp, n_neg, LEVEL)
        points.append({"reader": reader, "mode": mode, "pooled": pooled, "n": len(y),
                       "n_pos": n_pos, "n_neg": n_neg, "tpr": tp / n_pos, "tpr_low": tpr_low,
                       "tpr_high": tpr_high, "fpr": fp / n_neg, "fpr_low": fpr_low,
                       "fpr_high": fpr_high})
    return points


def reader_operating_points(store: Store, viewer: User, dataset: str,
                            trainee_id: int | None = None,
                            positive_from: str = DEFAULT_POSITIVE_FROM) -> pd.DataFrame:
    """Sensitivity and 1 - specificity of reads (BI-RADS >= ``positive_from`` called
    malignant) on the dataset's test cases, unaided and aided, with Wilson CIs.

    A trainee gets their own points (reader "You") and the cohort's pooled points without
    names; asking for another trainee raises ``UserError``. A supervisor or admin gets the
    chosen trainee's points (by display name) and the cohort's. The pooled points are shown to
    a trainee only when at least ``MIN_COHORT`` trainees contributed.
    """
    staff = _is_staff(viewer)
    if not staff:
        if trainee_id not in (None, viewer.user_id):
            raise UserError("a trainee can see only their own operating point")
        trainee_id = viewer.user_id
    reads = _first_reads(store, dataset)
    points = []
    if trainee_id is not None:
        own = reads[reads["user_id"] == trainee_id]
        name = "You" if not staff else _display_name(store, trainee_id)
        points += _points(own, name, False, positive_from)
    cohort = reads["user_id"].nunique()
    if cohort and (staff or cohort >= MIN_COHORT):
        points += _points(reads, f"Cohort (pooled, {cohort} trainee{'s' * (cohort > 1)})",
                          True, positive_from)
    return pd.DataFrame(points, columns=["reader", "mode", "pooled", "n", "n_pos", "n_neg",
                                         "tpr", "tpr_low", "tpr_high", "fpr", "fpr_low",
                                         "fpr_high"])


def _display_name(store: Store, user_id: int) -> str:
    with store.read() as cur:
        row = cur.execute("SELECT coalesce(display_name, username) FROM users WHERE user_id = ?",
                          [user_id]).fetchone()
    if row is None:
        raise UserError(f"no user {user_id}")
    return row[0]


def trainees_with_reads(store: Store, viewer: User, dataset: str) -> list[tuple[int, str]]:
    """(user_id, display name) of trainees with reads of the dataset's test cases; for
    supervisors and admins only."""
    if not _is_staff(viewer):
        raise UserError("only supervisors and admins can list trainees")
    with store.read() as cur:
        rows = cur.execute(f"""
            SELECT DISTINCT u.user_id, coalesce(u.display_name, u.username) AS name
            FROM reads r JOIN users u ON u.user_id = r.user_id
            {_TEST_CASES.format(alias='r')}
              AND u.role = 'trainee' AND c.dataset = ?
            ORDER BY name
        """, [dataset]).fetchall()
    return [(int(user_id), name) for user_id, name in rows]


# ---- heatmap gallery ------------------------------------------------------------------------

def gallery_cases(store: Store, viewer: User, dataset: str) -> list[int]:
    """Test-split cases the viewer may open in the gallery: all of them for supervisors and
    admins; for a trainee those the quiz has taken past the AI step (see the module notes)."""
    staff = _is_staff(viewer)
    with store.read() as cur:
        rows = cur.execute("""
            SELECT c.case_id FROM cases c JOIN splits s ON s.case_id = c.case_id
            WHERE s.split = 'test' AND c.label IN ('benign', 'malignant') AND c.dataset = ?
              AND (? OR EXISTS (SELECT 1 FROM reads r
                                JOIN quiz_sessions qs ON qs.session_id = r.session_id
                                WHERE r.case_id = c.case_id AND r.user_id = ?
                                  AND r.mode = 'aided' AND qs.kind = 'practice')
                     OR EXISTS (SELECT 1 FROM quiz_steps q
                                JOIN quiz_sessions qs ON qs.session_id = q.session_id
                                WHERE q.case_id = c.case_id AND qs.user_id = ?
                                  AND qs.kind = 'practice' AND q.step = 'no_ai'))
            ORDER BY c.case_id
        """, [dataset, staff, viewer.user_id, viewer.user_id]).fetchall()
    return [case_id for (case_id,) in rows]


def case_record(store: Store, case_id: int) -> dict:
    """The case's label, image and mask paths (relative to the data folder)."""
    with store.read() as cur:
        row = cur.execute("SELECT case_id, dataset, label, image_path, mask_path, birads_ref "
                          "FROM cases WHERE case_id = ?", [case_id]).fetchone()
    if row is None:
        raise UserError(f"no case {case_id}")
    return dict(zip(("case_id", "dataset", "label", "image_path", "mask_path", "birads_ref"),
                    row))


EACH_DEFAULT = "default"  # the gallery's choice of each model's own default map


def gallery_methods(store: Store, model_ids: list[str], choice: str) -> dict[str, str]:
    """The CAM method of each model's gallery panel: ``choice`` for all, or with
    :data:`EACH_DEFAULT` each model's recorded default (the map the quiz shows for it)."""
    if choice != EACH_DEFAULT:
        return dict.fromkeys(model_ids, choice)
    with store.read() as cur:
        configs = dict(cur.execute("SELECT model_id, config FROM models "
                                   "WHERE list_contains(?, model_id)", [model_ids]).fetchall())
    return {model_id: default_heatmap(json.loads(configs[model_id])
                                      if configs.get(model_id) else None)[1]
            for model_id in model_ids}


def gallery_method_title(choice: str) -> str:
    """How the gallery's method selector names ``choice``."""
    return "Each model's default" if choice == EACH_DEFAULT else method_title(choice)


def gallery_title(methods: dict[str, str]) -> str:
    """What the gallery's maps are called: their method where the models share one."""
    shared = set(methods.values())
    return method_title(shared.pop()) if len(shared) == 1 else "Each model's default map"


def missing_maps_text(missing: list[str], methods: dict[str, str], labels: dict[str, str]
                      ) -> str:
    """The caption under the gallery for models without a stored map of the case."""
    if len({methods[m] for m in missing}) == 1:
        names = ", ".join(labels.get(m, m) for m in missing)
        title = method_title(methods[missing[0]])
        return f"No stored {title} heatmap of this case yet for {names}."
    names = ", ".join(f"{labels.get(m, m)} ({method_title(methods[m])})" for m in missing)
    return f"No stored heatmap of this case yet for {names}."


def case_localisation(store: Store, case_id: int, methods: dict[str, str]) -> pd.DataFrame:
    """The stored localisation scores of one case's heatmaps, each model's with its method in
    ``methods`` (model id -> method): model_id, pointing_hit, energy_inside (NULL where the
    case has no lesion mask)."""
    with store.read() as cur:
        frame = cur.execute("""
            SELECT model_id, method, pointing_hit, energy_inside FROM heatmaps
            WHERE case_id = ? AND list_contains(?, model_id)
        """, [case_id, list(methods)]).df()
    chosen = frame["method"] == frame["model_id"].map(methods)
    return frame[chosen].drop(columns="method").reset_index(drop=True)


def case_panels(preds: pd.DataFrame, case_id: int, model_ids: list[str],
                localisation: pd.DataFrame, method_titles: dict[str, str] | None = None
                ) -> pd.DataFrame:
    """One row per model for the gallery: model_id, label, prob, called (malignant at the
    stored threshold), pointing_hit, energy_inside and a panel title saying all that (and the
    map's method where ``method_titles`` names one per model)."""
    case = preds[preds["case_id"] == case_id].set_index("model_id")
    scores = localisation.set_index("model_id")
    rows = []
    for model_id in model_ids:
        label = case.at[model_id, "label"] if model_id in case.index else model_id
        prob = case.at[model_id, "prob"] if model_id in case.index else np.nan
        threshold = case.at[model_id, "threshold"] if model_id in case.index else np.nan
        hit = scores.at[model_id, "pointing_hit"] if model_id in scores.index else None
        energy = scores.at[model_id, "energy_inside"] if model_id in scores.index else np.nan
        called = None if pd.isna(prob) or pd.isna(threshold) else bool(prob >= threshold)
        first = label if pd.isna(prob) else f"{label}: p = {prob:.2f}" + (
            "" if called is None else f", {'malignant' if called else 'benign'}")
        second = [method_titles[model_id]] if method_titles else []
        if hit is not None and not pd.isna(hit):
            second.append(f"pointing {'hit' if hit else 'miss'}")
        if not pd.isna(energy):
            second.append(f"{energy:.0%} in lesion")
        rows.append({"model_id": model_id, "label": label, "prob": prob, "called": called,
                     "pointing_hit": hit, "energy_inside": energy,
                     "title": first + ("<br>" + " · ".join(second) if second else "")})
    return pd.DataFrame(rows)


def gallery_panels(store: Store, preds: pd.DataFrame, case_id: int, model_ids: list[str],
                   method: str | dict[str, str], with_outline: bool = False,
                   alpha: float = 0.45, zoom: bool = False
                   ) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
    """The case's image and each model's stored heatmap over it, as (title, RGB) panels, and
    the ids of the models without a stored map of this case for ``method`` (one for all, or
    per model, :func:`gallery_methods`; where the models' methods differ, each panel names its
    own, as :func:`gallery_title` names a shared one). ``zoom`` shows
    every panel around the lesion (``framing.zoom_box``, enlarged to ``ZOOM_SIDE_PX``) where
    the case has a mask: a lesion-framed model's map covers only the lesion's marked box, which on
    a whole BUSI image is a few percent of the panel."""
    from core.heatmaps.colour_overlay import overlay  # cheap: never imports torch
    from core.heatmaps.stored import cached_heatmap, read_region

    methods = method if isinstance(method, dict) else dict.fromkeys(model_ids, method)
    record = case_record(store, case_id)
    grey = images.load_grey(store, record["image_path"])
    mask = images.load_grey(store, record["mask_path"]) > 127 if record["mask_path"] else None
    box = framing.zoom_box(framing.lesion_box(mask), mask.shape) \
        if zoom and mask is not None and mask.any() else None

    def finish(rgb: np.ndarray) -> np.ndarray:
        """Zoomed if asked, then outlined if asked (so the outline stays thin)."""
        shown_mask = mask
        if box is not None:
            rgb, shown_mask = (images.zoom(rgb, box, ZOOM_SIDE_PX),
                               images.zoom(mask, box, ZOOM_SIDE_PX))
        return images.outline(rgb, shown_mask) if with_outline and mask is not None else rgb

    panels = [(f"case {case_id}: {record['label']}", finish(images.to_rgb(grey)))]
    missing = []
    differ = len({methods[m] for m in model_ids}) > 1
    titles = {m: method_title(methods[m]) for m in model_ids} if differ else None
    rows = case_panels(preds, case_id, model_ids, case_localisation(store, case_id, methods),
                       titles)
    for row in rows.itertuples():
        cam = cached_heatmap(store, row.model_id, case_id, methods[row.model_id])
        if cam is None:
            missing.append(row.model_id)
            continue
        region = read_region(store, row.model_id, case_id)
        panels.append((row.title, finish(overlay(grey, cam, alpha, region))))
    return panels, missing


MEASURE_TITLES = {  # localisation measures as the tables name them
    "pointing_hit": f"Pointing game (hit within {TOLERANCE_PX} px at the original resolution)",
    "energy_box": "Energy in the lesion's box (Score-CAM)",
    "energy_inside": "Energy in the lesion"}
QUALITY_HELP = (
    f"Stored test-split heatmaps. Pointing game (Zhang et al. 2018): a hit when the map's "
    f"maximum lies within {TOLERANCE_PX} px of the lesion outline at the original resolution. "
    "Energy: the share of the map's total inside the lesion's bounding box (Score-CAM's "
    "energy-based pointing game) or inside its outline. Each beside two baselines over the "
    "region the model read, scored the same way: a centred Gaussian blob (sigma a quarter of "
    "the region's height and width) and a uniform map; an all-zero map counts as a miss. "
    "'Better than the centre baseline': higher and p < 0.05 in a paired test over the same "
    "cases (exact McNemar for the pointing game, Wilcoxon signed-rank otherwise). 95% CIs: "
    "Wilson for rates, t for means. Faithfulness: pytorch-grad-cam's metric, beside the same "
    "metric for the centre blob.")


def quality_table(summaries: list[dict], labels: dict[str, str] | None = None) -> pd.DataFrame:
    """Per model and CAM method, heatmap quality summaries
    (``core.heatmaps.quality.heatmap_quality``) as text with human column names: each
    localisation measure with its CI, the centre and uniform baselines and the paired test
    against the centre; then faithfulness beside the centre blob's."""
    labels = labels or {}
    rows = []
    for summary in summaries:
        loc, faithful = summary["localisation"], summary["faithfulness"]
        row = {"Model": labels.get(summary["model_id"], summary["model_id"]),
               "CAM method": method_title(summary["method"]),
               "Maps of cases with a lesion": _scored_text(loc["cases"], summary["unscored"])}
        for measure, title in MEASURE_TITLES.items():
            scores = loc[measure]
            row[f"{title} (95% CI)"] = _share(scores["map"])
            row[f"{title}: centre blob / uniform map"] = (
                f"{_share(scores['centre'], False)} / {_share(scores['uniform'], False)}")
            row[f"{title}: better than the centre baseline"] = _verdict(scores["versus_centre"])
        metric = faithful["metric"] or FAITHFULNESS_METRIC  # one column set for every row
        title = f"Faithfulness: {FAITHFULNESS_NAMES.get(metric, metric)}"
        row[f"{title} (95% CI)"] = _number(faithful["map"])
        row[f"{title}: centre blob"] = _number(faithful["centre"], False)
        row[f"{title}: better than the centre baseline"] = _verdict(faithful["versus_centre"])
        rows.append(row)
    return pd.DataFrame(rows)


def _scored_text(scored: int, unscored: int) -> str:
    """How many maps were scored, and those stored before the scores existed."""
    if not unscored:
        return str(scored) if scored else "0 (no scored map of a case with a lesion)"
    return f"{scored} ({unscored} stored before these scores: compute the heatmaps again)"


def _verdict(test: dict) -> str:
    """'yes/no (test, p = ...)' for a paired test against the centre baseline."""
    if test["p"] is None:
        return "—"
    return f"{'yes' if test['better'] else 'no'} ({test['test']}, p = {test['p']:.2g})"


def _estimate(value: dict, spec: str, with_ci: bool = True, between: str = "–") -> str:
    """An estimate (``value``, ``low``, ``high``) formatted with ``spec``, CI in brackets."""
    if value["value"] is None:
        return "—"
    if not with_ci or value["low"] is None:
        return format(value["value"], spec)
    return (f"{value['value']:{spec}} ({value['low']:{spec}}{between}"
            f"{value['high']:{spec}})")


def _share(value: dict, with_ci: bool = True) -> str:
    return _estimate(value, ".1%", with_ci)


def _number(value: dict, with_ci: bool = True) -> str:
    return _estimate(value, "+.3f", with_ci, " to ")
