"""The reader study's printable report: one self-contained HTML file (inline CSS and SVG, no
script, nothing fetched), laid out for A4 paper."""
from __future__ import annotations

from html import escape
import pandas as pd

from core.studies.definitions import StudyReport
from core.studies.figures import roc_svg
from core.studies.tables import display_tables

CSS = """
body { font-family: "Helvetica Neue", Arial, sans-serif; font-size: 10.5pt; color: #111;
       margin: 2em auto; max-width: 1100px; line-height: 1.35; }
h1 { font-size: 17pt; margin-bottom: 0.2em; }
h2 { font-size: 12.5pt; margin: 1.4em 0 0.4em; border-bottom: 1px solid #999; }
p.meta, p.caption { color: #333; margin: 0.3em 0 0.6em; }
p.caption { font-size: 9pt; }
table { border-collapse: collapse; width: 100%; margin: 0.3em 0 0.8em; font-size: 9pt; }
th, td { border: 1px solid #bbb; padding: 3px 5px; text-align: left; vertical-align: top; }
th { background: #eee; }
thead { display: table-header-group; }
tr, svg { break-inside: avoid; page-break-inside: avoid; }
section { break-inside: avoid-page; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 9.5pt; }
  th { background: #eee !important; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; text-decoration: none; }
}
"""


def _table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p class='caption'>No figures yet.</p>"
    head = "".join(f"<th>{escape(str(column))}</th>" for column in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{escape(str(value))}</td>" for value in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _notes(report: StudyReport) -> str:
    missing = [r for r in report.results if r.note]
    if not missing:
        return ""
    items = "".join(f"<li>{escape(r.reader)}: {escape(r.note)}</li>" for r in missing)
    return f"<ul class='caption'>{items}</ul>"


def report_html(report: StudyReport) -> str:
    """The whole report as one HTML document."""
    study = report.study
    readers = sum(1 for r in report.results if r.user_id is not None)
    meta = (f"{len(study.case_ids)} cases, {readers} reader{'s' * (readers != 1)}, washout "
            f"{study.washout_days:g} days, model {study.model_id} (threshold "
            f"{report.ai_threshold:.2f}); set up {study.created_at:%Y-%m-%d}; report generated "
            f"{report.generated_at:%Y-%m-%d %H:%M} UTC.")
    sections = []
    for table in display_tables(report):
        sections.append(f"<section><h2>{escape(table.title)}</h2>{_table(table.frame)}"
                        f"<p class='caption'>{escape(table.caption)}</p></section>")
        if table.key == "summary":
            sections.append(_notes(report))
    figure = (f"<section><h2>ROC curves</h2>{roc_svg(report)}</section>"
              if any(r.unaided for r in report.results) else "")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>Reader study: {escape(study.name)}</title><style>{CSS}</style></head>"
            f"<body><h1>Reader study: {escape(study.name)}</h1><p class='meta'>{escape(meta)}"
            f"</p>{''.join(sections[:1])}{figure}{''.join(sections[1:])}</body></html>")
