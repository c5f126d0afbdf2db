"""What the store holds per dataset: cases per label and per split, for the admin page."""
from __future__ import annotations

import pandas as pd

from core.cases.library import LABELS
from core.splits import SPLITS, SplitSummary
from core.store import Store

NOT_SPLIT = "not split"


def dataset_overview(store: Store) -> pd.DataFrame:
    """One row per dataset: kind, source, cases in all, per label and per split (cases with no
    split row count as ``not split``), the split's seed, and when it was imported."""
    label_counts = ", ".join(f"count(*) FILTER (WHERE c.label = '{label}') AS {label}"
                             for label in LABELS)
    split_counts = ", ".join(f"count(*) FILTER (WHERE s.split = '{split}') AS {split}"
                             for split in SPLITS)
    with store.read() as cur:
        return cur.execute(
            f"SELECT d.dataset, d.kind, d.source, count(c.case_id) AS cases, {label_counts}, "
            f"{split_counts}, count(c.case_id) FILTER (WHERE s.case_id IS NULL) AS "
            f"\"{NOT_SPLIT}\", max(s.seed) AS split_seed, d.created_at AS imported "
            "FROM datasets d LEFT JOIN cases c ON c.dataset = d.dataset "
            "LEFT JOIN splits s ON s.case_id = c.case_id "
            "GROUP BY d.dataset, d.kind, d.source, d.created_at ORDER BY d.dataset").df()


def label_split_counts(store: Store, dataset: str) -> pd.DataFrame:
    """Cases of ``dataset`` by label (rows) and split (columns, with ``not split``)."""
    with store.read() as cur:
        rows = cur.execute(
            "SELECT c.label, coalesce(s.split, ?) AS split, count(*) AS cases FROM cases c "
            "LEFT JOIN splits s ON s.case_id = c.case_id WHERE c.dataset = ? "
            "GROUP BY ALL", [NOT_SPLIT, dataset]).df()
    return _label_by_split(rows)


def split_counts(summary: SplitSummary) -> pd.DataFrame:
    """A fresh split's cases by label (rows) and split (columns)."""
    rows = pd.DataFrame([{"label": label, "split": split, "cases": n}
                         for split, labels in summary.counts.items()
                         for label, n in labels.items()], columns=["label", "split", "cases"])
    return _label_by_split(rows)


def _label_by_split(rows: pd.DataFrame) -> pd.DataFrame:
    table = rows.pivot_table(index="label", columns="split", values="cases", aggfunc="sum",
                             fill_value=0)
    columns = [split for split in (*SPLITS, NOT_SPLIT) if split in table.columns]
    table = table.reindex(columns=columns).astype(int)
    table.columns.name = None
    return table.reset_index()


def conflicts_table(summary: SplitSummary) -> pd.DataFrame:
    """The split's groups whose cases carry different labels (one scan filed twice)."""
    return pd.DataFrame([{"group": c["group_id"], "labels": ", ".join(c["labels"]),
                          "case ids": ", ".join(map(str, c["case_ids"])),
                          "files": ", ".join(c["source_paths"]), "split": ", ".join(c["split"])}
                         for c in summary.conflicts],
                        columns=["group", "labels", "case ids", "files", "split"])
