"""The grouped, stratified train/test split and its cross-validation folds."""
from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from core.cases.library import NewCase, save_cases
from core.errors import UserError
from core.frame_match import FAR_SAME_SCAN_SCORE, SAME_SCAN_SCORE, prepare, similarity
from core.splits import (CANDIDATE_BITS, FAR_BITS, NEAR_DUPLICATE_BITS, find_groups, make_split,
                         near_duplicate_pairs)
from tests.scan_images import scan, with_calipers


def build(store, n_benign=40, n_malignant=30, n_normal=10) -> dict[str, list[int]]:
    """Distinct scans, plus: a near-duplicate pair, a patient with three images, and one
    image filed under both benign and malignant. Returns the case ids of those groups."""
    cases = []
    labels = ["benign"] * n_benign + ["malignant"] * n_malignant + ["normal"] * n_normal
    for index, label in enumerate(labels):
        cases.append(NewCase(f"{label}/{index}.png", label, scan(index)))
    brighter = np.clip(scan(0).astype(int) + 3, 0, 255).astype(np.uint8)
    cases.append(NewCase("benign/near-duplicate-of-0.png", "benign", brighter))
    for k in range(3):
        cases.append(NewCase(f"malignant/patient-{k}.png", "malignant", scan(1000 + k),
                             patient_id="P-7"))
    cases.append(NewCase("malignant/same-as-benign-1.png", "malignant", scan(1)))
    save_cases(store, "toy", "folder", cases)
    with store.read() as cur:
        ids = dict(cur.execute("SELECT source_path, case_id FROM cases").fetchall())
    return {"near": [ids["benign/0.png"], ids["benign/near-duplicate-of-0.png"]],
            "patient": [ids[f"malignant/patient-{k}.png"] for k in range(3)],
            "conflict": [ids["benign/1.png"], ids["malignant/same-as-benign-1.png"]]}


def split_rows(store) -> dict[int, tuple]:
    with store.read() as cur:
        return {r[0]: r[1:] for r in cur.execute(
            "SELECT s.case_id, s.split, s.fold, s.group_id, c.label FROM splits s "
            "JOIN cases c USING (case_id)").fetchall()}


def test_hamming_distance_threshold():
    hashes = ["0000000000000000", f"{(1 << NEAR_DUPLICATE_BITS) - 1:016x}",
              f"{(1 << (NEAR_DUPLICATE_BITS + 1)) - 1:016x}", None]
    assert near_duplicate_pairs(hashes) == [(0, 1, NEAR_DUPLICATE_BITS), (1, 2, 1)]
    assert (0, 2, NEAR_DUPLICATE_BITS + 1) in near_duplicate_pairs(hashes, CANDIDATE_BITS)


def test_groups_chain_through_patients_and_near_duplicates():
    groups = find_groups([5, 6, 7, 8, 9], [None, "P", None, "P", None],
                         ["0000000000000000", "ffffffffffffffff", "000000000000000f",
                          "00000000ffffffff", "00000000000000ff"])
    # 5~7 (4 bits), 7~9 (4 bits): one chain; 6 and 8 share a patient
    assert groups.group_ids == ["g5", "g6", "g5", "g6", "g5"]
    assert groups.candidates == 0 and groups.joined == []  # no pixels: pHash alone


def bits_set(first: int, last: int) -> str:
    """A hex hash with bits ``first`` to ``last`` (exclusive) set."""
    return f"{(1 << last) - (1 << first):016x}"


def test_pixel_test_joins_a_marked_copy_and_not_a_look_alike():
    """Hashes 12-14 bits apart (beyond pHash alone): a copy with calipers and text is joined,
    another scan with a lesion of the same size is not, and is reported if it came close."""
    frames = [scan(1), with_calipers(scan(1)), scan(2), scan(3)]
    hashes = [bits_set(0, 0), bits_set(0, 12), bits_set(6, 20), bits_set(0, 64)]
    grouping = find_groups([1, 2, 3, 4], [None] * 4, hashes, lambda i: prepare(frames[i]))
    assert grouping.group_ids == ["g1", "g1", "g3", "g4"]
    assert [(c.a, c.b, c.bits) for c in grouping.joined] == [(0, 1, 12)]
    assert grouping.candidates == 3  # 0~1, 0~2, 1~2; 3 is too far for a look
    assert all(check.score < grouping.joined[0].score for check in grouping.rejected)
    assert {(c.a, c.b) for c in grouping.rejected} <= {(0, 2), (1, 2)}
    assert grouping.unit_ids[2] == ("g1" if grouping.rejected else "g3")


def test_far_candidates_need_a_higher_score_and_unreadable_images_are_listed():
    frames = [scan(1), with_calipers(scan(1)), None]
    load = lambda i: None if frames[i] is None else prepare(frames[i])  # noqa: E731
    near = find_groups([1, 2], [None] * 2, [bits_set(0, 0), bits_set(0, FAR_BITS)], load)
    assert near.group_ids == ["g1", "g1"] and near.unreadable == []
    far = find_groups([1, 2, 3], [None] * 3,
                      [bits_set(0, 0), bits_set(0, FAR_BITS + 2), bits_set(40, 40 + FAR_BITS)],
                      load)
    score = similarity(prepare(frames[0]), prepare(frames[1]))
    assert score > SAME_SCAN_SCORE
    assert (far.group_ids[1] == "g1") == (score >= FAR_SAME_SCAN_SCORE)
    assert far.unreadable == [2] and far.group_ids[2] == "g3"


def test_a_close_rejected_pair_is_kept_on_one_side_but_not_grouped(store):
    """A frame that only partly matches benign/4 (score 0.30-0.40: maybe that lesion in another
    frame) is filed as malignant with a hash 12 bits away: no conflict, no shared group, yet
    on the same side for every seed."""
    build(store)
    partly = (0.25 * scan(4) + 0.75 * scan(500)).astype(np.uint8)
    save_cases(store, "toy", "folder", [NewCase("malignant/partly-4.png", "malignant", partly)])
    with store.transaction() as cur:
        ids = dict(cur.execute("SELECT source_path, case_id FROM cases").fetchall())
        (phash,) = cur.execute("SELECT phash FROM cases WHERE case_id = ?",
                               [ids["benign/4.png"]]).fetchone()
        cur.execute("UPDATE cases SET phash = ? WHERE case_id = ?",
                    [f"{int(phash, 16) ^ 0xFFF:016x}", ids["malignant/partly-4.png"]])
    pair = [ids["benign/4.png"], ids["malignant/partly-4.png"]]
    for seed in range(5):
        summary = make_split(store, "toy", seed=seed)
        rows = split_rows(store)
        assert rows[pair[0]][2] != rows[pair[1]][2] and len(summary.conflicts) == 1
        assert rows[pair[0]][0] == rows[pair[1]][0] != "excluded"
        assert [p["case_ids"] for p in summary.rejected if p["bits"] == 12] == [pair]


def test_cases_with_patient_ids_are_never_joined_by_pixels():
    frames = [scan(1), with_calipers(scan(1))]
    grouping = find_groups([1, 2], ["P1", "P2"], [bits_set(0, 0), bits_set(0, 12)],
                           lambda i: prepare(frames[i]))
    assert grouping.group_ids == ["g1", "g2"] and grouping.candidates == 0


def test_groups_never_straddle_train_and_test(store):
    special = build(store)
    summary = make_split(store, "toy", seed=3)
    rows = split_rows(store)
    sides = defaultdict(set)
    for split, _, group, _ in rows.values():
        sides[group].add(split)
    assert all(len(s) == 1 for s in sides.values())
    for members in special.values():
        assert len({rows[i][2] for i in members}) == 1  # one group
    assert summary.duplicate_groups == 3
    assert [c["case_ids"] for c in summary.conflicts] == [special["conflict"]]
    assert summary.conflicts[0]["labels"] == ["benign", "malignant"]
    assert {rows[i][0] for i in special["conflict"]} == {"excluded"}


def test_conflicts_are_excluded_unless_kept(store):
    special = build(store)
    excluded = make_split(store, "toy", seed=2)
    assert excluded.counts["excluded"] == {"benign": 1, "malignant": 1, "normal": 10}
    assert excluded.conflicts[0]["split"] == ["excluded"]
    kept = make_split(store, "toy", seed=2, keep_conflicts=True)
    rows = split_rows(store)
    assert kept.counts["excluded"] == {"normal": 10}
    assert len({rows[i][0] for i in special["conflict"]}) == 1
    assert kept.conflicts[0]["split"] in (["test"], ["train"])
    assert sum(kept.counts["test"].values()) + sum(kept.counts["train"].values()) == 75


def test_stratified_shares_and_normals_excluded(store):
    build(store)
    summary = make_split(store, "toy", test_size=0.3, seed=0)
    counts = summary.counts
    assert counts["excluded"] == {"benign": 1, "malignant": 1, "normal": 10}  # + the conflict
    for label in ("benign", "malignant"):
        total = counts["train"][label] + counts["test"][label]
        assert abs(counts["test"][label] - 0.3 * total) <= 3  # within the largest group
    included = make_split(store, "toy", include_normal=True)
    assert included.counts["excluded"] == {"benign": 1, "malignant": 1}  # the conflict only
    assert included.counts["test"]["normal"] == 3


def test_folds_cover_training_only_grouped_and_stratified(store):
    build(store)
    make_split(store, "toy", folds=4, seed=1)
    rows = split_rows(store)
    folds_of_group = defaultdict(set)
    for split, fold, group, _ in rows.values():
        assert (fold is None) == (split != "train")
        if fold is not None:
            folds_of_group[group].add(fold)
    assert all(len(f) == 1 for f in folds_of_group.values())
    per_fold = Counter((fold, label) for split, fold, _, label in rows.values() if fold is not None)
    assert {fold for fold, _ in per_fold} == {0, 1, 2, 3}
    benign = [per_fold[(f, "benign")] for f in range(4)]
    assert max(benign) - min(benign) <= 3


def test_reproducible_per_seed_and_replaced_on_rerun(store):
    build(store)
    make_split(store, "toy", seed=5)
    first = split_rows(store)
    make_split(store, "toy", seed=5)
    assert split_rows(store) == first
    make_split(store, "toy", seed=6)
    second = split_rows(store)
    assert len(second) == len(first)  # replaced, not added to
    assert {k: v[0] for k, v in second.items()} != {k: v[0] for k, v in first.items()}


def test_bad_requests_are_clear(store):
    with pytest.raises(UserError, match="no cases in dataset 'nothing'"):
        make_split(store, "nothing")
    build(store, 4, 3, 0)
    with pytest.raises(UserError, match="between 0 and 1"):
        make_split(store, "toy", test_size=1.5)
    with pytest.raises(UserError, match="too few for 20 folds"):
        make_split(store, "toy", folds=20)
    assert make_split(store, "toy", folds=0).folds == {}


def test_split_command_reports_counts_groups_and_conflicts(store, capsys):
    import json

    from core.cli import main

    build(store)
    db = str(store.path)
    store.close()
    assert main(["split", "--dataset", "toy", "--db", db, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["duplicate_groups"] == 3 and len(printed["conflicts"]) == 1
    assert sum(printed["counts"]["test"].values()) + sum(printed["counts"]["train"].values()) == 73
    assert printed["candidates"] > 0 and printed["seconds"] > 0
    assert main(["split", "--dataset", "toy", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "warning: one image group carries labels benign and malignant (excluded)" in out
    assert "pixel test:" in out and " s)" in out.splitlines()[0]
    assert main(["split", "--dataset", "toy", "--db", db, "--keep-conflicts"]) == 0
    out = capsys.readouterr().out
    assert "benign and malignant (excluded)" not in out
    assert "  excluded     10  (normal 10)" in out
