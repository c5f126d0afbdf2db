"""Reader studies (supervisors and admins): set up a study (case set, readers, washout, model),
follow each reader's progress, and read the report: the paper's reader beside ours, ROC
curves, per-reader and pooled statistics, the multi-reader analysis; CSV and a printable HTML
report to download. The logic lives in the ``core.studies`` package."""
from __future__ import annotations

from functools import partial

import streamlit as st

from core import shown_model
from core.auth import STAFF_ROLES, User
from core.csv_cells import csv_text
from core.display_names import model_names, readable_columns
from core.errors import UserError
from core.plain_text import plain
from core.studies import definitions, protocol
from core.studies.figures import roc_figure
from core.studies.printable import report_html
from core.studies.report import StudyReport, study_report
from core.studies.tables import display_tables, report_frames
from pages import ui

VIEWS = ("Studies", "Set up a study")

user = ui.require_role(*STAFF_ROLES)
store = ui.get_store()
state = st.session_state
state.setdefault("studies_view", VIEWS[0])
state.setdefault("studies_open", None)


@st.cache_data(max_entries=8, show_spinner="Computing the report...")
def report_of(store_path: str, changes: int, study_id: int, viewer: User) -> StudyReport:
    """The study's report, recomputed only when the store has changed."""
    return study_report(store, study_id, viewer)


# ---- set-up --------------------------------------------------------------------------------

def chosen_cases() -> list[int]:
    """The case set the set-up's choices give (raises UserError when they give none)."""
    return protocol.choose_cases(
        store, state["study_dataset"][0], state.get("study_readers", []),
        int(state["study_subset_size"]) if state.get("study_use_subset") else None,
        int(state.get("study_subset_seed", 0)), bool(state.get("study_leave_out")))


def create() -> None:
    try:
        study_id = protocol.create_study(
            store, user, state["study_name"], chosen_cases(), state["study_readers"],
            state["study_washout"], state["study_model"], int(state["study_seed"]))
    except UserError as error:
        state["studies_error"] = str(error)
        return
    state["studies_open"] = study_id
    state["studies_view"] = VIEWS[0]
    ui.flash(f"Study {state['study_name'].strip()!r} set up: its readers can start now.")


def reader_warnings(readers: dict[int, User], dataset: str) -> None:
    """Per chosen reader: the study's cases they read in practice (truth shown) and earlier
    studies on the same cases; the offer to leave the practised cases out."""
    test_split = protocol.study_case_set(store, dataset)
    histories = protocol.reader_histories(store, state.get("study_readers", []), test_split)
    for history in histories:
        name = plain(readers[history.user_id].display_name)
        if history.practised:
            st.warning(f"{name} has read {len(history.practised)} of these {len(test_split)} "
                       "cases in practice, where the truth is shown after each answer.")
        for study_name, shared in history.studies:
            st.warning(f"{name} was a reader of the study {plain(study_name)}, which shares "
                       f"{shared} of these cases.")
    practised = {c for history in histories for c in history.practised}
    if practised:
        st.checkbox(f"Leave out the {len(practised)} cases a reader has read in practice "
                    f"({len(test_split) - len(practised)} remain)", key="study_leave_out")
    else:
        state["study_leave_out"] = False


def case_choice(datasets: list, readers: dict[int, User]) -> None:
    """Cases and readers: outside the form, so the warnings follow each choice."""
    st.selectbox("Cases: the test split of", datasets, key="study_dataset",
                 format_func=lambda option: f"{option[0]} ({option[1]} nodules)")
    st.multiselect("Readers (trainees)", list(readers), key="study_readers",
                   format_func=lambda uid: f"{readers[uid].display_name} "
                                           f"({readers[uid].username})")
    dataset, total = state["study_dataset"]
    reader_warnings(readers, dataset)
    subset = st.columns([2, 1, 1], vertical_alignment="bottom")
    subset[0].checkbox("Read a subset of the cases (stratified by label)",
                       key="study_use_subset")
    state.setdefault("study_subset_size", min(total, 40))
    subset[1].number_input("Cases in the subset", min_value=2 * protocol.MIN_PER_CLASS,
                           max_value=max(total, 2 * protocol.MIN_PER_CLASS), step=1,
                           key="study_subset_size", disabled=not state.get("study_use_subset"))
    subset[2].number_input("Seed of the subset", min_value=0, value=0, step=1,
                           key="study_subset_seed", disabled=not state.get("study_use_subset"))
    try:
        st.caption(f"The study's case set: {len(chosen_cases())} cases.")
    except UserError as error:
        st.error(plain(error))


def setup_form() -> None:
    datasets = protocol.study_datasets(store)
    readers = {reader.user_id: reader for reader in protocol.eligible_readers(store)}
    models = [model_id for model_id, _, _ in shown_model.trained_models(store)]
    missing = [what for what, found in (("a dataset with a test split", datasets),
                                        ("an active trainee", readers),
                                        ("a trained model", models)) if not found]
    if missing:
        st.info("A study needs " + ", ".join(missing) + ". Ask an admin to import and split "
                "cases, add trainees or train a model (Administration).")
        return
    default_model = shown_model.quiz_model(store).model_id
    case_choice(datasets, readers)
    with st.form("study_setup"):
        st.text_input("Study name", max_chars=protocol.MAX_NAME_LENGTH, key="study_name")
        st.number_input("Washout (days)", min_value=0.0, max_value=protocol.MAX_WASHOUT_DAYS,
                        value=protocol.DEFAULT_WASHOUT_DAYS, step=1.0, format="%.1f",
                        key="study_washout",
                        help="Counted from each reader's last unaided read; 0 opens the aided "
                             "session at once.")
        names = model_names(store)
        st.selectbox("Model shown in the aided phase", models, key="study_model",
                     index=models.index(default_model) if default_model in models else 0,
                     format_func=lambda m: names.get(m, m))
        st.number_input("Seed of the reading orders", min_value=0, value=0, step=1,
                        key="study_seed")
        st.form_submit_button("Set up the study", type="primary", on_click=create)
    st.caption("Each reader reads every case unaided in their own random order; after the "
               "washout, the aided session shows the cases again in a new order with the "
               "model's probability and heatmap. Readers see no truth during the study.")


# ---- progress and report -------------------------------------------------------------------

def downloads(report: StudyReport, study: definitions.Study) -> None:
    stem = f"study_{study.study_id}"
    row = st.container(horizontal=True)
    row.download_button("Printable report (HTML)", partial(report_html, report),
                        f"{stem}_report.html", "text/html", key="study_html", on_click="ignore",
                        type="primary", icon=":material/print:")
    for name, frame in report_frames(report).items():
        row.download_button(f"{name}.csv", csv_text(frame).encode(),
                            f"{stem}_{name}.csv", "text/csv", key=f"study_csv_{name}",
                            on_click="ignore", icon=":material/table:")


def show_report(study: definitions.Study) -> None:
    report = report_of(str(store.path), store.changes, study.study_id, user)
    st.subheader("Report")
    downloads(report, study)
    for result in report.results:
        if result.note:
            st.info(f"{plain(result.reader)}: {plain(result.note)}.")
    for table in display_tables(report):
        st.markdown(f"#### {plain(table.title)}")
        if table.frame.empty:
            st.caption(table.caption)
            continue
        st.table(table.frame, hide_index=True)
        st.caption(table.caption)
        if table.key == "published" and any(r.unaided for r in report.results):
            st.plotly_chart(roc_figure(report), key="study_roc", theme=None)


def study_page(study: definitions.Study) -> None:
    st.header(plain(study.name))
    model = model_names(store).get(study.model_id, study.model_id)
    st.caption(f"{len(study.case_ids)} cases · washout {study.washout_days:g} days · model "
               f"{plain(model)} · set up {study.created_at:%Y-%m-%d %H:%M} UTC")
    progress = protocol.reader_progress(store, study.study_id, user)
    st.dataframe(readable_columns(progress.drop(columns="user_id")), hide_index=True,
                 key="study_progress", column_config={
                     "Washout until (UTC)": st.column_config.DatetimeColumn(
                         format="YYYY-MM-DD HH:mm")})
    show_report(study)


def studies_list() -> None:
    found = {study.study_id: study for study in protocol.list_studies(store, user)}
    if not found:
        st.info("No reader study yet: set one up.")
        return
    if state["studies_open"] not in found:
        state["studies_open"] = next(iter(found))
    chosen = st.selectbox("Study", list(found), key="studies_open",
                          format_func=lambda sid: f"{found[sid].name} (#{sid})")
    study_page(found[chosen])


st.title("Reader studies")
if message := state.pop("studies_error", None):
    st.error(plain(message))
st.radio("View", VIEWS, horizontal=True, key="studies_view", label_visibility="collapsed")
if state["studies_view"] == VIEWS[0]:
    studies_list()
else:
    setup_form()
