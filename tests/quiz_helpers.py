"""Small quiz fixtures shared by the quiz, progress and page tests and the page benchmark:
tiny nodule images with masks and descriptors, users, and a fake trained model (a models row,
predictions and cached heatmaps) so that the AI step works without training anything."""
from __future__ import annotations

import functools
import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from argon2 import PasswordHasher

from core.auth import User
from core.cases.library import NewCase, save_cases
from core.lexicon import BIRADS_CATEGORIES
from core.store import Store

PASSWORD = "correct-horse-9"
BENIGN = {"shape": "oval", "orientation": "parallel", "margin": "circumscribed",
          "echo_pattern": "hypoechoic", "posterior": "enhancement", "calcifications": "none"}
MALIGNANT = {"shape": "irregular", "orientation": "not parallel", "margin": "spiculated",
             "echo_pattern": "hypoechoic", "posterior": "shadowing", "calcifications": "present"}
HISTOLOGY = {"benign": "fibroadenoma", "malignant": "invasive ductal carcinoma"}


def nodule(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A speckled grey image with a dark elliptic nodule, and the nodule's mask."""
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.uniform(0.35, 0.65, 2) * size
    ry, rx = rng.uniform(0.12, 0.25, 2) * size
    mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    image = rng.normal(120, 25, (size, size))
    image[mask] -= 70
    return np.clip(image, 0, 255).astype(np.uint8), mask


def make_cases(store: Store, n: int = 8, dataset: str = "quizset", size: int = 32,
               seed: int = 0) -> list[int]:
    """``n`` cases, benign and malignant in turn (even positions benign), with masks,
    histology, reference BI-RADS and descriptors; every third case in the test split."""
    rng = np.random.default_rng(seed)
    cases = []
    for index in range(n):
        label = "malignant" if index % 2 else "benign"
        image, mask = nodule(rng, size)
        cases.append(NewCase(
            source_path=f"{label}/{index}.png", label=label, image=image, mask=mask,
            histology=HISTOLOGY[label], birads_ref="4C" if label == "malignant" else "3",
            patient_id=f"p{index}", descriptors=MALIGNANT if label == "malignant" else BENIGN))
    save_cases(store, dataset, "folder", cases)
    with store.transaction() as cur:
        rows = cur.execute("SELECT case_id, source_path FROM cases WHERE dataset = ?"
                           " ORDER BY case_id", [dataset]).fetchall()
        cur.executemany(
            "INSERT INTO splits (case_id, dataset, split, fold, group_id, seed)"
            " VALUES (?, ?, ?, NULL, ?, 0)",
            [[case_id, dataset, "test" if int(Path(path).stem) % 3 == 2 else "train",
              str(case_id)] for case_id, path in rows])
    return [case_id for case_id, _ in rows]


@functools.cache
def _password_hash() -> str:
    return PasswordHasher().hash(PASSWORD)


def make_user(store: Store, username: str, role: str = "trainee",
              display_name: str | None = None) -> User:
    """A user whose password is ``PASSWORD`` (hashed once per test run: argon2 is slow)."""
    with store.transaction() as cur:
        user_id = cur.execute(
            "INSERT INTO users (username, display_name, password_hash, role) VALUES (?, ?, ?, ?)"
            " RETURNING user_id", [username, display_name or username, _password_hash(), role]
        ).fetchone()[0]
    return User(user_id, username, display_name or username, role)


def add_model(store: Store, model_id: str, case_ids: list[int], cv_auc: float = 0.9,
              threshold: float = 0.5, heatmaps: bool = True, wrong_every: int = 4) -> None:
    """A models row, a prediction per case (0.8 for malignant, 0.2 for benign, the other way
    round on every ``wrong_every``-th case) and, if asked, a cached Grad-CAM map per case."""
    with store.read() as cur:
        labels = dict(cur.execute("SELECT case_id, label FROM cases").fetchall())
        dataset = cur.execute("SELECT dataset FROM cases WHERE case_id = ?",  # the cases' own
                              [case_ids[0]]).fetchone()[0] if case_ids else "quizset"
    predictions = []
    for index, case_id in enumerate(case_ids):
        malignant = (labels[case_id] == "malignant") != (index % wrong_every == wrong_every - 1)
        predictions.append([model_id, case_id, 0.8 if malignant else 0.2, "test", None])
    with store.transaction() as cur:
        cur.execute(
            "INSERT INTO models (model_id, arch, dataset, init, profile, image_size, threshold,"
            " cv_auc, config) VALUES (?, 'resnet50', ?, 'scratch', 'quick', 32, ?, ?, ?)",
            [model_id, dataset, threshold, cv_auc, json.dumps({})])
        cur.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?)", predictions)
    if heatmaps:
        add_heatmaps(store, model_id, case_ids)


def add_heatmaps(store: Store, model_id: str, case_ids: list[int]) -> None:
    """A cached Grad-CAM map per case (a blob in the middle, at the image's size), where
    ``core.heatmaps`` keeps them."""
    with store.read() as cur:
        sizes = {c: (h, w) for c, h, w in cur.execute(
            "SELECT case_id, height, width FROM cases").fetchall()}
    folder = store.data_dir / "heatmaps" / model_id / "gradcam"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for case_id in case_ids:
        height, width = sizes[case_id]
        yy, xx = np.mgrid[:height, :width]
        cam = np.exp(-((yy - height / 2) ** 2 + (xx - width / 2) ** 2) / (width * height / 8))
        path = folder / f"{case_id}.npy"
        np.save(path, cam.astype(np.float16))
        rows.append([model_id, case_id, "gradcam", store.relative(path),
                     hashlib.sha256(path.read_bytes()).hexdigest()])
    with store.transaction() as cur:
        cur.executemany("INSERT INTO heatmaps (model_id, case_id, method, path, sha256)"
                        " VALUES (?, ?, ?, ?, ?)", rows)


def labels_of(store: Store) -> dict[int, str]:
    with store.read() as cur:
        return dict(cur.execute("SELECT case_id, label FROM cases").fetchall())


def add_practice_reads(store: Store, user_id: int, case_ids: list[int], unaided: list[str],
                       aided: list[str] | None = None, start: datetime | None = None,
                       step: timedelta = timedelta(minutes=1),
                       model_id: str | None = None) -> int:
    """A finished practice session with the given BI-RADS reads stored directly (fast, for
    progress tests and the benchmark); probability 10 % per BI-RADS rank step, 20 s a read.
    Returns the session id."""
    start = start or datetime(2026, 1, 5, 9, 0)
    with store.transaction() as cur:
        session_id = cur.execute(
            "INSERT INTO quiz_sessions (user_id, kind, practice_set, case_ids, model_id,"
            " started_at) VALUES (?, 'practice', 'all', ?, ?, ?) RETURNING session_id",
            [user_id, json.dumps(case_ids), model_id, start]).fetchone()[0]
        rows, steps = [], []
        for index, case_id in enumerate(case_ids):
            when = start + index * step
            answers = [("unaided", unaided[index])]
            if aided is not None:
                answers.append(("aided", aided[index]))
            for mode, birads in answers:
                rows.append([session_id, user_id, case_id, mode, birads,
                             10.0 * (1 + BIRADS_CATEGORIES.index(birads)), 20.0,
                             model_id if mode == "aided" else None, when])
            steps.append([session_id, case_id, when])
        cur.executemany(
            "INSERT INTO reads (session_id, user_id, case_id, mode, birads, probability,"
            " seconds, model_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        cur.executemany("INSERT INTO quiz_steps (session_id, case_id, step, created_at)"
                        " VALUES (?, ?, 'next', ?)", steps)
    return session_id
