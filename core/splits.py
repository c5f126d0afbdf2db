"""The study's train/test split, grouped so that no patient or near-duplicate image straddles it.

Cases are grouped by union-find over (a) shared patient IDs and (b) near-duplicate pairs:
perceptual hashes (64-bit DCT, ``cases.phash``) at most :data:`NEAR_DUPLICATE_BITS` apart.
Whole groups go to train or test, greedily filling per-label targets, so the test part is
``test_size`` of each label to within a group. Cross-validation folds over the training part
are grouped and stratified the same way (``StratifiedGroupKFold``). Groups whose cases carry
different labels (BUSI files some scans under both benign and malignant) are reported as
conflicts. Normal images are ``excluded`` unless asked for. Everything follows from ``seed``.

Threshold: on BUSI (780 images), pair distances are 0-6 bits for repeated frames of one scan,
the counts fall to 7 and 9 pairs at 8 and 10 bits (all still the same scan on visual
inspection), and from 12 bits on distinct lesions appear (about a quarter of the pairs at 12,
most at 14; 294 pairs at 16, 904 at 18). 10 bits of 64 keeps every duplicate seen and no
distinct lesion.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from core.errors import UserError
from core.store import Store

NEAR_DUPLICATE_BITS = 10
SPLITS = ("train", "test", "excluded")


@dataclass
class SplitSummary:
    dataset: str
    seed: int
    counts: dict[str, dict[str, int]]           # split -> label -> cases
    folds: dict[int, dict[str, int]]            # fold -> label -> training cases
    groups: int
    duplicate_groups: int                       # groups with more than one case
    conflicts: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"dataset": self.dataset, "seed": self.seed, "counts": self.counts,
                "folds": {str(k): v for k, v in self.folds.items()}, "groups": self.groups,
                "duplicate_groups": self.duplicate_groups, "conflicts": self.conflicts}


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def near_duplicate_pairs(phashes: list[str | None], max_bits: int = NEAR_DUPLICATE_BITS
                         ) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, whose hex hashes differ in at most ``max_bits`` bits."""
    known = [i for i, h in enumerate(phashes) if h]
    if len(known) < 2:
        return []
    values = np.array([int(phashes[i], 16) for i in known], dtype=np.uint64)
    pairs = []
    for start in range(0, len(values), 256):  # 256 rows at a time: bounded memory
        bits = np.bitwise_count(values[start:start + 256, None] ^ values[None, :])
        rows, cols = np.nonzero(bits <= max_bits)
        rows = rows + start
        keep = rows < cols
        pairs += [(known[r], known[c]) for r, c in zip(rows[keep], cols[keep])]
    return pairs


def find_groups(case_ids: list[int], patients: list[str | None], phashes: list[str | None],
                max_bits: int = NEAR_DUPLICATE_BITS) -> list[str]:
    """Group key per case: ``g<smallest case id in its group>``, joining cases that share a
    patient or are near-duplicates (directly or through a chain)."""
    union = _UnionFind(len(case_ids))
    first_of_patient: dict[str, int] = {}
    for index, patient in enumerate(patients):
        if patient:
            union.union(first_of_patient.setdefault(patient, index), index)
    for a, b in near_duplicate_pairs(phashes, max_bits):
        union.union(a, b)
    smallest: dict[int, int] = {}
    for index, case_id in enumerate(case_ids):
        root = union.find(index)
        smallest[root] = min(smallest.get(root, case_id), case_id)
    return [f"g{smallest[union.find(i)]}" for i in range(len(case_ids))]


def _assign_test(groups: dict[str, Counter], test_size: float, rng: np.random.Generator
                 ) -> set[str]:
    """Whole groups to test, largest first (random order among equals), each to the side
    whose per-label target is proportionally furthest from met."""
    totals = sum(groups.values(), Counter())
    target = {label: test_size * n for label, n in totals.items()}
    have = {"test": Counter(), "train": Counter()}
    want = {"test": target, "train": {label: totals[label] - target[label] for label in totals}}
    names = list(groups)
    rng.shuffle(names)
    names.sort(key=lambda g: -sum(groups[g].values()))
    chosen = set()
    for name in names:
        need = {side: sum(n * (want[side][label] - have[side][label]) / max(want[side][label], 1e-9)
                          for label, n in groups[name].items()) for side in have}
        side = "test" if need["test"] > need["train"] else "train"
        have[side].update(groups[name])
        if side == "test":
            chosen.add(name)
    return chosen


def _assign_folds(train: list[dict], folds: int, seed: int) -> dict[int, int]:
    """case_id -> fold, grouped and stratified by label."""
    from sklearn.model_selection import StratifiedGroupKFold

    groups = {row["group_id"] for row in train}
    if len(groups) < folds:
        raise UserError(f"only {len(groups)} groups of training cases: too few for {folds} "
                        "folds (use --folds with a smaller number, or 0 for none)")
    labels = [row["label"] for row in train]
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    assignment = {}
    for fold, (_, held_out) in enumerate(splitter.split(labels, labels,
                                                       [row["group_id"] for row in train])):
        for index in held_out:
            assignment[train[index]["case_id"]] = fold
    return assignment


def _load_cases(store: Store, dataset: str) -> list[dict]:
    with store.read() as cur:
        rows = cur.execute("SELECT case_id, label, patient_id, phash, source_path FROM cases "
                           "WHERE dataset = ? ORDER BY case_id", [dataset]).fetchall()
        if not rows:
            known = [d for (d,) in cur.execute("SELECT dataset FROM datasets ORDER BY 1").fetchall()]
            raise UserError(f"no cases in dataset {dataset!r} (datasets: "
                            f"{', '.join(known) or 'none; import some first'})")
    names = ("case_id", "label", "patient_id", "phash", "source_path")
    return [dict(zip(names, row)) for row in rows]


def _conflicts(cases: list[dict]) -> list[dict]:
    by_group = defaultdict(list)
    for case in cases:
        by_group[case["group_id"]].append(case)
    return [{"group_id": group, "labels": sorted({c["label"] for c in members}),
             "case_ids": [c["case_id"] for c in members],
             "source_paths": [c["source_path"] for c in members],
             "split": sorted({c["split"] for c in members})}
            for group, members in sorted(by_group.items(), key=lambda item: item[1][0]["case_id"])
            if len({c["label"] for c in members}) > 1]


def make_split(store: Store, dataset: str, test_size: float = 0.3, seed: int = 0, folds: int = 5,
               include_normal: bool = False) -> SplitSummary:
    """Split ``dataset`` into train/test (and folds over train); replaces its previous split."""
    if not 0 < test_size < 1:
        raise UserError(f"--test-size must be between 0 and 1 (got {test_size})")
    if folds == 1 or folds < 0:
        raise UserError(f"--folds must be 0 (none) or at least 2 (got {folds})")
    cases = _load_cases(store, dataset)
    group_ids = find_groups([c["case_id"] for c in cases], [c["patient_id"] for c in cases],
                            [c["phash"] for c in cases])
    groups: dict[str, Counter] = defaultdict(Counter)
    for case, group in zip(cases, group_ids):
        case["group_id"] = group
        if include_normal or case["label"] != "normal":
            groups[group][case["label"]] += 1
    test_groups = _assign_test(groups, test_size, np.random.default_rng(seed)) if groups else set()
    for case in cases:
        if case["label"] == "normal" and not include_normal:
            case["split"] = "excluded"
        else:
            case["split"] = "test" if case["group_id"] in test_groups else "train"
    train = [c for c in cases if c["split"] == "train"]
    fold_of = _assign_folds(train, folds, seed) if folds and train else {}
    with store.transaction() as cur:
        cur.execute("DELETE FROM splits WHERE dataset = ?", [dataset])
        cur.executemany("INSERT INTO splits (case_id, dataset, split, fold, group_id, seed) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [[c["case_id"], dataset, c["split"], fold_of.get(c["case_id"]),
                          c["group_id"], seed] for c in cases])
    counts = {split: dict(sorted(Counter(c["label"] for c in cases if c["split"] == split).items()))
              for split in SPLITS}
    fold_counts = {fold: dict(sorted(Counter(c["label"] for c in train
                                             if fold_of.get(c["case_id"]) == fold).items()))
                   for fold in range(folds if fold_of else 0)}
    sizes = Counter(group_ids)
    return SplitSummary(dataset, seed, counts, fold_counts, len(sizes),
                        sum(1 for n in sizes.values() if n > 1), _conflicts(cases))
