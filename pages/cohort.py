"""Cohort (supervisors and admins): every trainee's cases read, last activity, metrics with
95% CIs, the change from unaided to aided, who is struggling; a trainee's curves, trainees
compared, the table as CSV, and the model the quiz shows."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import charts, progress, shown_model
from core.auth import STAFF_ROLES, User
from core.csv_cells import csv_text
from core.errors import UserError
from core.plain_text import plain
from pages import ui

user = ui.require_role(*STAFF_ROLES)
store = ui.get_store()
st.title("Cohort")

COLUMNS = {
    "trainee": st.column_config.TextColumn("Trainee"),
    "cases_read": st.column_config.NumberColumn("Cases read"),
    "last_active": st.column_config.DatetimeColumn("Last active", format="YYYY-MM-DD HH:mm"),
    "unaided_accuracy": st.column_config.NumberColumn("Accuracy", format="%.0f%%"),
    "unaided_accuracy_ci": st.column_config.TextColumn("95% CI"),
    "unaided_sensitivity": st.column_config.NumberColumn("Sensitivity", format="%.0f%%"),
    "unaided_specificity": st.column_config.NumberColumn("Specificity", format="%.0f%%"),
    "unaided_birads_auc_text": st.column_config.TextColumn("BI-RADS AUC (95% CI)"),
    "aided_accuracy": st.column_config.NumberColumn("Accuracy with AI", format="%.0f%%"),
    "accuracy_change": st.column_config.NumberColumn("Change with AI", format="%+.0f%%",
                                                     help="Aided minus unaided accuracy on the "
                                                          "cases read both ways"),
    "helpful_changes": st.column_config.NumberColumn("Helpful changes"),
    "harmful_changes": st.column_config.NumberColumn("Harmful changes"),
    "struggling": st.column_config.CheckboxColumn("Struggling"),
    "flag_reason": st.column_config.TextColumn("Why"),
}


@st.cache_data(max_entries=4, show_spinner="Reading the cohort...")
def cohort_of(store_path: str, changes: int, viewer: User) -> pd.DataFrame:
    """The cohort table, recomputed only when the store has changed."""
    return progress.cohort_table(store, viewer)


@st.cache_data(max_entries=16, show_spinner=False)
def compared(store_path: str, changes: int, viewer: User, user_ids: tuple[int, ...],
             metric: str, mode: str) -> pd.DataFrame:
    return progress.compare(store, viewer, list(user_ids), metric=metric, mode=mode)


def ci_text(table, column: str) -> list[str]:
    return ["-" if pd.isna(lo) else f"{lo:.0%}-{hi:.0%}"
            for lo, hi in zip(table[f"{column}_lo"], table[f"{column}_hi"])]


def cohort_section(table) -> None:
    percents = ["unaided_accuracy", "unaided_sensitivity", "unaided_specificity",
                "aided_accuracy", "accuracy_change"]
    shown = table.assign(unaided_accuracy_ci=ci_text(table, "unaided_accuracy"),
                         **{column: table[column] * 100 for column in percents})
    st.dataframe(shown[list(COLUMNS)], column_config=COLUMNS, hide_index=True,
                 key="cohort_table")
    st.caption(f"Unaided reads unless marked. Struggling: at least {progress.MIN_READS_TO_FLAG}"
               f" cases read and the learning curve signals an error rate near "
               f"{progress.UNACCEPTABLE_ERROR:.0%}, or the 95% CI of accuracy over the last "
               f"{progress.RECENT_READS} cases stays below {progress.ACCURACY_FLOOR:.0%}.")
    st.download_button("Download the table (CSV)", csv_text(table), "cohort.csv",
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
    labels = {None: "The best by cross-validated AUC (default)"}
    labels |= {model_id: f"{model_id} ({arch}, cv AUC {auc:.3f})" if auc is not None
               else f"{model_id} ({arch})" for model_id, arch, auc in models}
    current = shown_model.quiz_model(store)
    st.write(f"Now: **{plain(current.model_id or 'none')}** ({plain(current.reason)}).")
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
