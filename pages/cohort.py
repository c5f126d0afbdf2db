"""Cohort (supervisors and admins): every trainee's cases read, last activity, metrics with
95% CIs, the change from unaided to aided, who is struggling; a trainee's curves, trainees
compared, the table as CSV, and the model the quiz shows."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import charts, cohort_view, display_names, progress, shown_model
from core.auth import STAFF_ROLES, User
from core.csv_cells import csv_text
from core.errors import UserError
from core.plain_text import plain
from pages import ui

user = ui.require_role(*STAFF_ROLES)
store = ui.get_store()
st.title("Cohort")

NUMBER, TEXT = st.column_config.NumberColumn, st.column_config.TextColumn
COLUMNS = {  # widths in px: the table fits a 1400 px window beside the sidebar
    cohort_view.TRAINEE: TEXT(width=112),
    cohort_view.PRACTICE: NUMBER(width=68, help="Practice quiz cases read unaided"),
    cohort_view.STUDY: NUMBER(width=54, help="Reads in reader studies, unaided and aided "
                                             "(not counted in the metrics)"),
    cohort_view.LAST_ACTIVE: st.column_config.DatetimeColumn(
        width=88, format="YYYY-MM-DD", help="Last practice read (UTC)"),
    cohort_view.ACCURACY: TEXT(width=100, help="Accuracy of unaided reads (Wilson 95% CI)"),
    cohort_view.SENS_SPEC: TEXT(width=88, help="Sensitivity / specificity of unaided reads"),
    cohort_view.AUC: TEXT(width=116, help="BI-RADS AUC of unaided reads (logit DeLong "
                                          "95% CI)"),
    cohort_view.CHANGE: TEXT(width=100, help="Aided minus unaided accuracy on the cases read "
                                             "both ways, in percentage points"),
    cohort_view.CHANGES: TEXT(width=80, help="Helpful / harmful changes: calls the AI turned "
                                             "right / wrong"),
    cohort_view.ATTENTION: TEXT(width=112, help="Why the trainee is flagged (see the note "
                                                "below the table)"),
}


@st.cache_data(max_entries=4, show_spinner="Reading the cohort...")
def cohort_of(store_path: str, changes: int, viewer: User) -> pd.DataFrame:
    """The cohort table, recomputed only when the store has changed."""
    return progress.cohort_table(store, viewer)


@st.cache_data(max_entries=16, show_spinner=False)
def compared(store_path: str, changes: int, viewer: User, user_ids: tuple[int, ...],
             metric: str, mode: str) -> pd.DataFrame:
    return progress.compare(store, viewer, list(user_ids), metric=metric, mode=mode)


def cohort_section(table) -> None:
    st.dataframe(cohort_view.cohort_view(table), column_config=COLUMNS, hide_index=True,
                 key="cohort_table")
    st.caption(f"Unaided practice reads unless marked; 95% CIs in brackets. Study: reads in "
               f"reader studies, counted apart. Struggling: at least {progress.MIN_READS_TO_FLAG}"
               f" cases read and the learning curve signals an error rate near "
               f"{progress.UNACCEPTABLE_ERROR:.0%}, or the 95% CI of accuracy over the last "
               f"{progress.RECENT_READS} cases stays below {progress.ACCURACY_FLOOR:.0%}.")
    st.download_button("Download the table (CSV)",
                       csv_text(cohort_view.cohort_csv_frame(table)), "cohort.csv",
                       "text/csv", key="cohort_csv")
    names = dict(zip(table["user_id"], table["trainee"]))
    chosen = st.selectbox("Open a trainee's curves", list(names), format_func=names.get,
                          key="cohort_open")
    st.page_link("pages/progress.py", label=f"Curves of {plain(names[chosen])}",
                 icon=":material/monitoring:", query_params={"user": str(chosen)})


def compare_section(table) -> None:
    st.subheader("Compare trainees")
    names = dict(zip(table["user_id"], table["trainee"]))
    st.session_state.setdefault("cohort_compare", list(names)[:3])
    chosen = st.multiselect("Trainees", list(names), format_func=names.get,
                            key="cohort_compare")
    metric = st.selectbox("Metric", ["accuracy", "sensitivity", "specificity", "auc"],
                          format_func=charts.METRIC_TITLES.get, key="cohort_metric")
    mode = st.radio("Reads", ["unaided", "aided"], horizontal=True, key="cohort_mode")
    frame = compared(str(store.path), store.changes, user, tuple(chosen), metric, mode)
    st.plotly_chart(charts.compare_chart(frame, metric), key="cohort_compare_chart")
    st.plotly_chart(charts.cohort_change_chart(table), key="cohort_change_chart")


def quiz_model_section() -> None:
    st.subheader("The model the quiz shows")
    models = shown_model.trained_models(store)
    if not models:
        st.info("No model is trained yet: the quiz goes straight from the answer to the truth.")
        return
    names = display_names.model_names(store)
    labels = {None: "The best by cross-validated AUC (default)"}
    labels |= {model_id: names[model_id] + (f", cross-validated AUC {auc:.3f}"
                                            if auc is not None else "")
               for model_id, _, auc in models}
    current = shown_model.quiz_model(store)
    now = names.get(current.model_id, current.model_id or "none")
    st.write(f"Now: **{plain(now)}** ({plain(current.reason)}).")
    with st.form("cohort_quiz_model"):
        options = list(labels)
        saved = shown_model.saved_quiz_model(store)
        chosen = st.selectbox("Model", options, format_func=labels.get,
                              index=options.index(saved) if saved in options else 0)
        submitted = st.form_submit_button("Use this model in the quiz")
    if submitted:
        try:
            shown_model.set_quiz_model(store, user, chosen)
        except UserError as error:
            st.error(plain(error))
        else:
            ui.flash("The quiz model is saved.")
            st.rerun()


table = cohort_of(str(store.path), store.changes, user)
if table.empty:
    st.info("There are no trainee accounts yet.")
else:
    cohort_section(table)
    compare_section(table)
quiz_model_section()
