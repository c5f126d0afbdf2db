"""The real BUSI download (../shared/data): counts, idempotence, masks, and the split keeping
its known cross-class duplicates (Pawlowska et al. 2023) together on one side."""
from __future__ import annotations

from collections import Counter, defaultdict

from core.cases.importers import import_cases
from core.splits import make_split

# Pairs of one scan filed under both labels (pixel-identical or a few bits apart in pHash).
CROSS_CLASS_DUPLICATES = [("benign (433).png", "malignant (145).png"),
                          ("benign (42).png", "malignant (51).png"),
                          ("benign (399).png", "malignant (93).png"),
                          ("benign (164).png", "malignant (52).png"),
                          ("benign (333).png", "malignant (77).png")]


def test_busi_import_and_split(store, shared_data):
    root = shared_data / "busi" / "Dataset_BUSI_with_GT"
    result = import_cases(store, "busi", root)
    assert result.by_label == {"benign": 437, "malignant": 210, "normal": 133}
    assert result.skipped == []
    again = import_cases(store, "busi", root)
    assert again.imported == 0 and again.already_present == 780

    with store.read() as cur:
        masks = dict(cur.execute("SELECT label, count(mask_path) FROM cases GROUP BY label").fetchall())
        multi = cur.execute("SELECT count(*) FROM cases WHERE "
                            "CAST(attributes->>'mask_files' AS INTEGER) > 1").fetchone()[0]
    assert masks["normal"] == 0 and masks["benign"] > 400 and masks["malignant"] > 200
    assert multi == 17  # the README's 17 images with more than one mask

    summary = make_split(store, "busi", seed=0)
    with store.read() as cur:
        rows = cur.execute("SELECT c.source_path, s.split, s.group_id FROM splits s "
                           "JOIN cases c USING (case_id)").fetchall()
    where = {path.split("/")[-1]: (split, group) for path, split, group in rows}
    sides = defaultdict(set)
    for _, split, group in rows:
        sides[group].add(split)
    assert all(len(s - {"excluded"}) <= 1 for s in sides.values())
    for benign, malignant in CROSS_CLASS_DUPLICATES:
        assert where[benign] == where[malignant], (benign, malignant)
    conflicted = {p.split("/")[-1] for c in summary.conflicts for p in c["source_paths"]}
    assert {name for pair in CROSS_CLASS_DUPLICATES for name in pair} <= conflicted
    in_conflicts = Counter(path.split("/")[0] for c in summary.conflicts
                           for path in c["source_paths"])
    assert summary.counts["excluded"] == {"benign": in_conflicts["benign"],
                                          "malignant": in_conflicts["malignant"], "normal": 133}
    for label in ("benign", "malignant"):
        total = summary.counts["test"][label] + summary.counts["train"][label]
        assert abs(summary.counts["test"][label] - 0.3 * total) <= 7
