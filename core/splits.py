"""The study's train/test split, grouped so that no patient, scan or lesion straddles it.

Cases are grouped by union-find over (a) shared patient IDs, (b) near-duplicate pairs:
perceptual hashes (64-bit DCT, ``cases.phash``) at most :data:`NEAR_DUPLICATE_BITS` apart, and
(c) candidate pairs up to :data:`CANDIDATE_BITS` apart that the finer pixel test of
:mod:`core.frame_match` confirms as the same scan (calipers, text, a re-crop or the next frame
of one sweep do not hide it), at a higher score beyond :data:`FAR_BITS`; two cases that both
carry a patient ID are never candidates. Candidates it rejects from
:data:`core.frame_match.ONE_SIDE_SCORE` up (possibly one lesion in another frame) are reported
and tie their groups into one unit. Whole units go to train or test, greedily filling per-label
targets, so the test part is ``test_size`` of each label to within a unit. Cross-validation
folds over the training part are grouped by unit and stratified the same way
(``StratifiedGroupKFold``). Groups whose cases carry different labels (BUSI files some scans
under both benign and malignant) are conflicts: ``excluded`` (their truth is unknown) unless
kept on request, and listed. Normal images are ``excluded`` unless asked for. Everything
follows from ``seed``.

Thresholds: on BUSI (780 images), pair distances are 0-6 bits for repeated frames of one scan,
the counts fall to 7 and 9 pairs at 8 and 10 bits (all still the same scan on visual
inspection), and from 12 bits on distinct lesions appear (about a quarter of the pairs at 12,
most at 14; 294 pairs at 16, 904 at 18). 10 bits of 64 joins every duplicate seen and no
distinct lesion without a look at the pixels. Beyond it the same scan with and without
calipers, or the next frame, sits 12-22 bits apart (malignant (4)/(5) against (6)-(9): 12-14;
(106)/(107), a re-cropped copy: 22) among distinct lesions (2968 pairs at 20 bits, 8405 at
22). The candidates stop at 22 bits, the furthest same-scan pair found: each 2 bits more
about triples the pairs to look at (18 416 at 24), and the pixel test costs about 1.2 ms a
pair (12 639 pairs on BUSI).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.errors import UserError
from core.frame_match import (FAR_SAME_SCAN_SCORE, ONE_SIDE_SCORE, SAME_SCAN_SCORE, Frame,
                              prepare, similarity)
from core.images import load_grey
from core.store import Store

NEAR_DUPLICATE_BITS = 10
FAR_BITS = 18           # candidates further apart need FAR_SAME_SCAN_SCORE
CANDIDATE_BITS = 22
SPLITS = ("train", "test", "excluded")


@dataclass(frozen=True)
class PairCheck:
    """A candidate pair (indexes into the cases) with its pHash distance and pixel score."""
    a: int
    b: int
    bits: int
    score: float


@dataclass
class Grouping:
    group_ids: list[str]
    joined: list[PairCheck]         # candidates the pixel test confirmed
    rejected: list[PairCheck]       # best rejected pair per pair of groups, from ONE_SIDE_SCORE
    candidates: int                 # candidate pairs checked
    unreadable: list[int]           # cases whose image could not be read (pHash only)
    unit_ids: list[str]             # groups tied by the rejected pairs: kept on one side


@dataclass
class SplitSummary:
    dataset: str
    seed: int
    counts: dict[str, dict[str, int]]           # split -> label -> cases
    folds: dict[int, dict[str, int]]            # fold -> label -> training cases
    groups: int
    duplicate_groups: int                       # groups with more than one case
    conflicts: list[dict] = field(default_factory=list)
    joined: list[dict] = field(default_factory=list)    # candidate pairs the pixel test joined
    rejected: list[dict] = field(default_factory=list)  # close rejects: kept on one side
    candidates: int = 0                         # candidate pairs the pixel test looked at
    unreadable: list[str] = field(default_factory=list)  # images the pixel test could not read

    def as_dict(self) -> dict:
        return {"dataset": self.dataset, "seed": self.seed, "counts": self.counts,
                "folds": {str(k): v for k, v in self.folds.items()}, "groups": self.groups,
                "duplicate_groups": self.duplicate_groups, "conflicts": self.conflicts,
                "candidates": self.candidates, "joined": self.joined, "rejected": self.rejected,
                "unreadable": self.unreadable}


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
                         ) -> list[tuple[int, int, int]]:
    """``(i, j, bits)``, ``i < j``, for hex hashes that differ in ``bits`` <= ``max_bits``."""
    known = [i for i, h in enumerate(phashes) if h]
    if len(known) < 2:
        return []
    values = np.array([int(phashes[i], 16) for i in known], dtype=np.uint64)
    pairs = []
    for start in range(0, len(values), 256):  # 256 rows at a time: bounded memory
        bits = np.bitwise_count(values[start:start + 256, None] ^ values[None, :])
        rows, cols = np.nonzero(bits <= max_bits)
        keep = rows + start < cols
        pairs += [(known[r + start], known[c], int(bits[r, c]))
                  for r, c in zip(rows[keep], cols[keep])]
    return pairs


def _check_candidates(candidates: list[tuple[int, int, int]],
                      frame: Callable[[int], Frame | None]) -> tuple[list[PairCheck], list[int]]:
    """Pixel scores of the candidate pairs; each image is prepared once, on first use."""
    frames: dict[int, Frame | None] = {}
    checks = []
    for a, b, bits in candidates:
        for index in (a, b):
            if index not in frames:
                frames[index] = frame(index)
        if frames[a] is not None and frames[b] is not None:
            checks.append(PairCheck(a, b, bits, similarity(frames[a], frames[b])))
    return checks, sorted(i for i, f in frames.items() if f is None)


def find_groups(case_ids: list[int], patients: list[str | None], phashes: list[str | None],
                frame: Callable[[int], Frame | None] | None = None) -> Grouping:
    """Group key per case, ``g<smallest case id in its group>``, joining cases that share a
    patient, are near-duplicates, or (given ``frame``, the prepared image of a case index, None
    if unreadable) are candidates the pixel test confirms; directly or through a chain. Two
    cases that both carry a patient ID are never candidates: different IDs are different
    patients. Unit key per case: groups further tied by rejected candidates scoring
    ``ONE_SIDE_SCORE`` or more (possibly one lesion in another frame)."""
    union = _UnionFind(len(case_ids))
    first_of_patient: dict[str, int] = {}
    for index, patient in enumerate(patients):
        if patient:
            union.union(first_of_patient.setdefault(patient, index), index)
    candidates = []
    for a, b, bits in near_duplicate_pairs(phashes, CANDIDATE_BITS if frame else
                                           NEAR_DUPLICATE_BITS):
        if bits <= NEAR_DUPLICATE_BITS:
            union.union(a, b)
        else:
            candidates.append((a, b, bits))
    base = [union.find(i) for i in range(len(case_ids))]
    candidates = [(a, b, bits) for a, b, bits in candidates
                  if base[a] != base[b] and not (patients[a] and patients[b])]
    checks, unreadable = _check_candidates(candidates, frame) if candidates else ([], [])
    joined = [check for check in checks if check.score >= (
        SAME_SCAN_SCORE if check.bits <= FAR_BITS else FAR_SAME_SCAN_SCORE)]
    for check in joined:
        union.union(check.a, check.b)
    closest: dict[tuple[int, int], PairCheck] = {}
    for check in checks:
        roots = tuple(sorted((union.find(check.a), union.find(check.b))))
        if roots[0] != roots[1] and check.score >= ONE_SIDE_SCORE and (
                roots not in closest or check.score > closest[roots].score):
            closest[roots] = check
    group_ids = _keys(case_ids, union)
    for check in closest.values():
        union.union(check.a, check.b)
    return Grouping(group_ids, joined, sorted(closest.values(), key=lambda check: -check.score),
                    len(candidates), unreadable, _keys(case_ids, union))


def _keys(case_ids: list[int], union: _UnionFind) -> list[str]:
    """``g<smallest case id in its set>`` per case."""
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

    groups = {row["unit"] for row in train}
    if len(groups) < folds:
        raise UserError(f"only {len(groups)} groups of training cases: too few for {folds} "
                        "folds (use --folds with a smaller number, or 0 for none)")
    labels = [row["label"] for row in train]
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    assignment = {}
    for fold, (_, held_out) in enumerate(splitter.split(labels, labels,
                                                       [row["unit"] for row in train])):
        for index in held_out:
            assignment[train[index]["case_id"]] = fold
    return assignment


def _load_cases(store: Store, dataset: str) -> list[dict]:
    with store.read() as cur:
        rows = cur.execute("SELECT case_id, label, patient_id, phash, source_path, image_path "
                           "FROM cases "
                           "WHERE dataset = ? ORDER BY case_id", [dataset]).fetchall()
        if not rows:
            known = [d for (d,) in cur.execute("SELECT dataset FROM datasets ORDER BY 1").fetchall()]
            raise UserError(f"no cases in dataset {dataset!r} (datasets: "
                            f"{', '.join(known) or 'none; import some first'})")
    names = ("case_id", "label", "patient_id", "phash", "source_path", "image_path")
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


def _frame_loader(store: Store, cases: list[dict]) -> Callable[[int], Frame | None]:
    def frame(index: int) -> Frame | None:
        try:
            return prepare(load_grey(store, cases[index]["image_path"]))
        except UserError:
            return None
    return frame


def _pair_rows(checks: list[PairCheck], cases: list[dict]) -> list[dict]:
    return [{"case_ids": [cases[c.a]["case_id"], cases[c.b]["case_id"]],
             "source_paths": [cases[c.a]["source_path"], cases[c.b]["source_path"]],
             "bits": c.bits, "score": round(c.score, 3)} for c in checks]


def make_split(store: Store, dataset: str, test_size: float = 0.3, seed: int = 0, folds: int = 5,
               include_normal: bool = False, keep_conflicts: bool = False) -> SplitSummary:
    """Split ``dataset`` into train/test (and folds over train); replaces its previous split.
    Groups carrying two labels are ``excluded`` unless ``keep_conflicts``."""
    if not 0 < test_size < 1:
        raise UserError(f"--test-size must be between 0 and 1 (got {test_size})")
    if folds == 1 or folds < 0:
        raise UserError(f"--folds must be 0 (none) or at least 2 (got {folds})")
    cases = _load_cases(store, dataset)
    grouping = find_groups([c["case_id"] for c in cases], [c["patient_id"] for c in cases],
                           [c["phash"] for c in cases], _frame_loader(store, cases))
    for case, group, unit in zip(cases, grouping.group_ids, grouping.unit_ids):
        case["group_id"], case["unit"] = group, unit
    labels_of = defaultdict(set)
    for case in cases:
        labels_of[case["group_id"]].add(case["label"])
    units: dict[str, Counter] = defaultdict(Counter)
    for case in cases:
        conflicted = len(labels_of[case["group_id"]]) > 1 and not keep_conflicts
        case["split"] = ("excluded" if conflicted or (case["label"] == "normal"
                                                      and not include_normal) else None)
        if case["split"] is None:
            units[case["unit"]][case["label"]] += 1
    test_units = _assign_test(units, test_size, np.random.default_rng(seed)) if units else set()
    for case in cases:
        if case["split"] is None:
            case["split"] = "test" if case["unit"] in test_units else "train"
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
    sizes = Counter(grouping.group_ids)
    return SplitSummary(dataset, seed, counts, fold_counts, len(sizes),
                        sum(1 for n in sizes.values() if n > 1), _conflicts(cases),
                        _pair_rows(grouping.joined, cases), _pair_rows(grouping.rejected, cases),
                        grouping.candidates,
                        [cases[i]["source_path"] for i in grouping.unreadable])
