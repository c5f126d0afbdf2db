"""A synthetic store for the model-comparison tests and bench: cases with a 7:3 split, six
fake models (rows and predictions, no training) and trainees' reads. No tests here."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from core.cases.library import NewCase, save_cases
from core.stats.metrics import youden_threshold
from core.store import Store

ARCHS = ("vgg16", "googlenet", "alexnet", "resnet50", "vit_b_16", "densenet121")
# Half the gap between the classes' mean logits (noise sd 1.2): ResNet50's AUC is near the
# paper's 0.937, the others lower.
SEPARATION = {"vgg16": 1.0, "googlenet": 0.9, "alexnet": 0.7, "resnet50": 1.3, "vit_b_16": 0.8,
              "densenet121": 1.1}
DATASET = "synthetic"
TRAINEES = (("ana", "Ana Trainee"), ("ben", "Ben Trainee"), ("cleo", "Cleo Trainee"))
BIRADS_BY_SUSPICION = ("2", "3", "4A", "4B", "4C", "5")


def _case_images(rng: np.random.Generator, n: int, size: int) -> list[NewCase]:
    cases = []
    for i in range(n):
        image = rng.integers(0, 255, (size, size), dtype=np.uint8)
        mask = np.zeros((size, size), bool)
        mask[size // 4: size // 2, size // 4: size // 2] = True
        label = "malignant" if i % 5 < 2 else "benign"      # 40% malignant, as the study
        cases.append(NewCase(f"case_{i:04d}.png", label, image, mask))
    return cases


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def populate(store: Store, n_test: int = 126, n_train: int = 40, archs=ARCHS,
             trainees=TRAINEES, seed: int = 0, image_size: int = 16) -> dict:
    """Fill ``store`` with a synthetic dataset, model rows, test/validation predictions and
    reads (each trainee reads every test case unaided, then aided); returns the ids made."""
    rng = np.random.default_rng(seed)
    save_cases(store, DATASET, "folder", _case_images(rng, n_test + n_train, image_size))
    with store.read() as cur:
        cases = cur.execute("SELECT case_id, label FROM cases WHERE dataset = ? ORDER BY case_id",
                            [DATASET]).fetchall()
    ids = np.array([case_id for case_id, _ in cases])
    truth = np.array([label == "malignant" for _, label in cases], dtype=int)
    test = np.zeros(len(ids), bool)
    test[rng.permutation(len(ids))[:n_test]] = True
    models = {}
    with store.transaction() as cur:
        _insert(cur, "splits", pd.DataFrame({
            "case_id": ids, "dataset": DATASET, "split": np.where(test, "test", "train"),
            "fold": np.where(test, None, ids % 5), "group_id": [f"g{c}" for c in ids],
            "seed": seed}))
        for arch in archs:
            model_id = f"{arch}-quick-{DATASET}-s{seed}"
            prob = _sigmoid(SEPARATION[arch] * (2 * truth - 1) + rng.normal(0, 1.2, len(ids)))
            threshold = youden_threshold(truth[~test], prob[~test])
            cur.execute("INSERT INTO models (model_id, arch, dataset, init, profile, image_size,"
                        " threshold, config) VALUES (?, ?, ?, 'scratch', 'quick', 32, ?, ?)",
                        [model_id, arch, DATASET, threshold, json.dumps({})])
            _insert(cur, "predictions", pd.DataFrame({
                "model_id": model_id, "case_id": ids, "prob_malignant": prob,
                "source": np.where(test, "test", "validation"),
                "fold": np.where(test, None, ids % 5)}))
            models[arch] = model_id
    users = {}
    for username, display_name in trainees:
        users[username] = _add_reads(store, rng, username, display_name, ids[test], truth[test],
                                     models.get("resnet50"))
    return {"dataset": DATASET, "models": models, "users": users,
            "test_cases": [int(c) for c in ids[test]]}


def _insert(cur, table: str, rows: pd.DataFrame) -> None:
    """Insert a frame's rows by column name (one statement: fast, unlike executemany)."""
    if rows.empty:
        return
    cur.register("new_rows", rows)
    cur.execute(f"INSERT INTO {table} ({', '.join(rows.columns)}) "
                f"SELECT {', '.join(rows.columns)} FROM new_rows")
    cur.unregister("new_rows")


def add_user(store: Store, username: str, role: str, display_name: str | None = None) -> int:
    """A user row (the password hash is a placeholder: these users never log in)."""
    with store.transaction() as cur:
        return cur.execute("INSERT INTO users (username, display_name, password_hash, role) "
                           "VALUES (?, ?, 'not-a-hash', ?) RETURNING user_id",
                           [username, display_name or username, role]).fetchone()[0]


def _add_reads(store: Store, rng: np.random.Generator, username: str, display_name: str,
               case_ids: np.ndarray, truth: np.ndarray, model_id: str | None) -> int:
    user_id = add_user(store, username, "trainee", display_name)
    with store.transaction() as cur:
        session_id = cur.execute(
            "INSERT INTO quiz_sessions (user_id, kind, case_ids, model_id) VALUES (?, 'practice',"
            " ?, ?) RETURNING session_id",
            [user_id, json.dumps([int(c) for c in case_ids]), model_id]).fetchone()[0]
        for mode, skill in (("unaided", 0.6), ("aided", 1.6)):
            suspicion = np.clip(np.round(2 + skill * (2 * truth - 1)
                                         + rng.normal(0, 1.2, len(truth))), 0, 5).astype(int)
            _insert(cur, "reads", pd.DataFrame({
                "session_id": session_id, "user_id": user_id, "case_id": case_ids.astype(int),
                "mode": mode, "birads": [BIRADS_BY_SUSPICION[k] for k in suspicion],
                "probability": 20.0 * suspicion}))
    return user_id


def add_trainee_reads(store: Store, username: str, case_ids: list[int], seed: int = 1) -> int:
    """A further trainee who has read only ``case_ids`` (unaided and aided)."""
    with store.read() as cur:
        labels = dict(cur.execute("SELECT case_id, label FROM cases").fetchall())
    truth = np.array([labels[c] == "malignant" for c in case_ids], dtype=int)
    return _add_reads(store, np.random.default_rng(seed), username, username.title(),
                      np.array(case_ids), truth, None)


def store_heatmap(store: Store, model_id: str, case_id: int, method: str = "gradcam") -> None:
    """A stored heatmap of the case for the model: a top-to-bottom ramp."""
    with store.read() as cur:
        height, width = cur.execute("SELECT height, width FROM cases WHERE case_id = ?",
                                    [case_id]).fetchone()
    relative = f"heatmaps/{model_id}/{method}/{case_id}.npy"
    path = store.resolve(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.linspace(0, 1, height * width).reshape(height, width).astype(np.float16))
    with store.transaction() as cur:
        cur.execute("INSERT INTO heatmaps (model_id, case_id, method, path, sha256, pointing_hit,"
                    " energy_inside) VALUES (?, ?, ?, ?, ?, TRUE, 0.4)",
                    [model_id, case_id, method, relative,
                     hashlib.sha256(path.read_bytes()).hexdigest()])
