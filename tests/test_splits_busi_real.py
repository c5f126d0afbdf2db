"""On the real BUSI download (../shared/data): sets of images of one lesion that pHash alone
leaves apart (12-22 bits: other frames of a sweep, calipers and text drawn or not, re-cropped
or zoomed copies; each set checked by eye) sit in one group, so on one side of the split for
every seed; other frames that the pixel test cannot tell from look-alikes stay on one side
too; distinct lesions as close in pHash stay in separate groups."""
from __future__ import annotations

from core import splits
from core.cases.importers import import_cases
from core.frame_match import FAR_SAME_SCAN_SCORE, SAME_SCAN_SCORE

B, M = "benign ({}).png".format, "malignant ({}).png".format
SAME_LESION = [
    [M(k) for k in range(4, 10)],                     # the example: (4)/(5) vs (6)-(9)
    [B(238), B(240), B(255), B(277), B(300)],          # "RT UOQ", with and without calipers
    [B(204), B(206), B(249), B(282), B(303)],          # "RT8", calipers drawn in turn
    [M(77), M(78), B(333)],                            # re-cropped; filed under both labels
    [M(95), M(96), M(97)], [M(98), M(99)], [M(65), M(66)],  # sector frame and its zoomed copy
    [M(106), M(107)], [M(80), M(81)], [B(64), B(141)],       # re-cropped
    [M(120), M(122)], [M(69), M(70)],                  # with and without calipers / next frame
]
# Other frames of one lesion that score like look-alike lesions: not joined, kept on one side.
ANOTHER_FRAME = [(M(83), M(84)), (B(399), B(406)), (B(433), B(435))]
DISTINCT_LESIONS = [(M(103), M(187)), (B(354), M(79)), (M(20), M(32)), (B(219), M(118)),
                    (B(62), B(80)), (B(49), B(98)), (B(174), B(326))]
SEEDS = (0, 1, 2, 3, 7)


def test_same_lesion_sets_stay_on_one_side_for_any_seed(store, shared_data, monkeypatch):
    import_cases(store, "busi", shared_data / "busi" / "Dataset_BUSI_with_GT")
    grouped = {}

    def group_once(*args):  # the grouping does not depend on the seed: look at the pixels once
        if "result" not in grouped:
            grouped["result"] = find_groups(*args)
        return grouped["result"]

    find_groups = splits.find_groups
    monkeypatch.setattr(splits, "find_groups", group_once)
    for seed in SEEDS:
        summary = splits.make_split(store, "busi", seed=seed)
        with store.read() as cur:
            rows = cur.execute("SELECT c.source_path, s.split, s.group_id FROM splits s "
                               "JOIN cases c USING (case_id)").fetchall()
        where = {path.split("/")[-1]: (split, group) for path, split, group in rows}
        for members in SAME_LESION:
            assert len({where[name] for name in members}) == 1, (seed, members)
        for a, b in DISTINCT_LESIONS:
            assert where[a][1] != where[b][1], (a, b)
        for a, b in ANOTHER_FRAME:
            assert len({where[a][0], where[b][0]} - {"excluded"}) <= 1, (seed, a, b)
        sides = {}
        for _, split, group in rows:
            assert sides.setdefault(group, split) == split
    assert len(summary.conflicts) == 8  # the same scan under two labels: excluded
    assert {split for c in summary.conflicts for split in c["split"]} == {"excluded"}
    joined = [{path.split("/")[-1] for path in p["source_paths"]} for p in summary.joined]
    assert any(pair & {M(4), M(5)} and pair & {M(k) for k in range(6, 10)} for pair in joined)
    assert all(p["score"] < (SAME_SCAN_SCORE if p["bits"] <= splits.FAR_BITS
                             else FAR_SAME_SCAN_SCORE) for p in summary.rejected)

