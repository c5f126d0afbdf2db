"""Tiny synthetic ultrasound-like cases with a split, for the model and heatmap tests.

Benign: a smooth, wider-than-tall dark ellipse; malignant: a taller-than-wide blob with jagged
edges. Each has a lesion mask. One normal case (no lesion) must be left out by training.
"""
from __future__ import annotations

import numpy as np
import pytest

from core.cases.library import NewCase, save_cases
from core.store import Store

# (label, split, fold) for each case: fold 0 and fold 1 hold both labels, as does the test part.
LAYOUT = [("benign", "train", 0), ("malignant", "train", 0), ("benign", "train", 0),
          ("malignant", "train", 0), ("benign", "train", 1), ("malignant", "train", 1),
          ("benign", "train", 1), ("malignant", "train", 1), ("benign", "test", None),
          ("malignant", "test", None), ("benign", "test", None), ("malignant", "test", None)]


def lesion_image(label: str, rng: np.random.Generator, shape=(40, 48)
                 ) -> tuple[np.ndarray, np.ndarray]:
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width]
    cy, cx = rng.uniform(0.4, 0.6) * height, rng.uniform(0.35, 0.65) * width
    angle = np.arctan2(yy - cy, xx - cx)
    if label == "benign":
        ry, rx, jag = 0.18 * height, 0.3 * width, 0.0
    else:
        ry, rx, jag = 0.3 * height, 0.18 * width, 0.35
    radius = 1 + jag * np.sin(7 * angle + rng.uniform(0, 6))
    mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < radius ** 2
    image = rng.gamma(4.0, 30.0, size=shape)
    image[mask] *= 0.25
    return np.clip(image, 0, 255).astype(np.uint8), mask


def add_tiny_dataset(store: Store, dataset: str = "tiny", seed: int = 0) -> list[int]:
    """Twelve benign/malignant cases and one normal case with splits; returns the case ids of
    the twelve in LAYOUT order."""
    rng = np.random.default_rng(seed)
    cases = []
    for i, (label, _, _) in enumerate(LAYOUT):
        image, mask = lesion_image(label, rng)
        cases.append(NewCase(source_path=f"{label}/{i}.png", label=label, image=image, mask=mask))
    normal = np.clip(rng.gamma(4.0, 30.0, size=(40, 48)), 0, 255).astype(np.uint8)
    cases.append(NewCase(source_path="normal/0.png", label="normal", image=normal))
    save_cases(store, dataset, "test", cases)
    with store.read() as cur:
        ids = dict(cur.execute("SELECT source_path, case_id FROM cases WHERE dataset = ?",
                               [dataset]).fetchall())
    rows = [[ids[f"{label}/{i}.png"], dataset, split, fold, f"g{i}", seed]
            for i, (label, split, fold) in enumerate(LAYOUT)]
    rows.append([ids["normal/0.png"], dataset, "excluded", None, "gn", seed])
    with store.transaction() as cur:
        cur.executemany("INSERT INTO splits (case_id, dataset, split, fold, group_id, seed) "
                        "VALUES (?, ?, ?, ?, ?, ?)", rows)
    return [ids[f"{label}/{i}.png"] for i, (label, _, _) in enumerate(LAYOUT)]


@pytest.fixture(autouse=True, scope="module")
def torch_threads():
    """Threads as training picks them (fewer on a busy machine, where two threads that wait
    on each other run many times slower than one); restored afterwards."""
    import torch

    from core.models.train import cpu_threads

    before = torch.get_num_threads()
    torch.set_num_threads(cpu_threads())
    yield
    torch.set_num_threads(before)
