"""Study reading (trainees): the reader studies you read in. Unaided phase: each case with
BI-RADS, probability and optional lexicon descriptors; after the washout, the aided phase: the
cases again in a new order with the model's probability and Grad-CAM heatmap. No truth and no
feedback during a study; your own results once both phases are done. Every step is recomputed
from the store (``core.studies.protocol``), so a reload or a second tab cannot replay or skip a
case."""
from __future__ import annotations

import zlib

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.heatmaps.stored import marked_region
from core.lexicon import DESCRIPTORS
from core.plain_text import plain
from core.studies import protocol
from core.studies.report import own_result
from core.studies.tables import fmt_ci, fmt_pct
from pages import case_widgets, ui
from pages.case_widgets import ai_panel, case_image, heatmap_of

user = ui.require_role("trainee")
store = ui.get_store()
state = st.session_state
state.setdefault("reading_study", None)


def act(action, *args, **kwargs) -> None:
    """Run a study action for this reader; a refusal is shown at the top of the page."""
    case_widgets.act("reading_error", action, store, *args, **kwargs)


def field(view, name: str) -> str:
    """The widget key of one answer field of one case of one session."""
    return case_widgets.field("reading", view, name)


def seconds_on(view) -> float:
    """Seconds since this case was first shown in this browser session."""
    return case_widgets.seconds_on(field(view, "started"))


def submit(view) -> None:
    """A field whose state an interrupted rerun dropped reads as unanswered (refused with its
    reason, the case drawn again from the store), never as a KeyError."""
    descriptors = {key: state.get(field(view, key)) for key in DESCRIPTORS}
    act(protocol.submit_study_read, view.session_id, user.user_id, view.case_id,
        state.get(field(view, "birads")), state.get(field(view, "probability")), descriptors,
        seconds=seconds_on(view))


def answer_form(view) -> None:
    case_widgets.answer_form(f"reading_form_{view.session_id}_{view.case_id}",
                             lambda name: field(view, name), "Store my read", submit, (view,))


def case_step(view) -> None:
    st.progress((view.position - 1) / view.total,
                text=f"Case {view.position} of {view.total}")
    image_column, form_column = st.columns([3, 2])
    seconds_on(view)
    marked = marked_region(store, view.case_id)
    zoom = marked is not None and image_column.toggle(
        "Zoom to the nodule", key=field(view, "zoom"),
        help="The region an operator would mark around the nodule, enlarged: the same in both "
             "phases of the study.")
    zoom_to = marked if zoom else None
    if isinstance(view, protocol.UnaidedCaseView):
        case_image(image_column, store, view.image_path, zoom_to=zoom_to)
        with form_column:
            answer_form(view)
        return
    heatmap = heatmap_of(store, view.ai.model_id, view.case_id, view.heatmap_method)
    with form_column:
        choice = ai_panel(view.ai, heatmap, lambda name: field(view, name), offer_zoom=False)
        answer_form(view)
    case_image(image_column, store, view.image_path, heatmap, choice, zoom_to)


def own_results(phase: protocol.PhaseView) -> None:
    st.success("You have read every case in both phases. Thank you!")
    result = own_result(store, phase.study_id, user)
    if result.note:
        st.info(f"Your results: {plain(result.note)}.")
    if not result.unaided:
        return
    rows = []
    for name, summary in (("Unaided", result.unaided), ("With the AI", result.aided)):
        metrics = summary["metrics"]
        auc = summary["birads_auc"]
        rows.append({"Phase": name, "BI-RADS AUC (95% CI)": auc.get("too_few")
                     or fmt_ci(auc["auc"], *auc["ci"]),
                     **{title: fmt_pct(metrics[key]["value"], metrics[key]["ci_low"],
                                       metrics[key]["ci_high"], metrics[key]["k"],
                                       metrics[key]["n"])
                        for key, title in (("accuracy", "Accuracy"),
                                           ("sensitivity", "Sensitivity"),
                                           ("specificity", "Specificity"))}})
    st.subheader("Your results")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="reading_results")
    ledger = result.ledger
    st.write(f"With the AI you changed **{ledger['helpful']}** call(s) for the better and "
             f"**{ledger['harmful']}** for the worse (BI-RADS 4A and above = malignant).")


def start(study_id: int) -> None:
    act(protocol.start_or_resume, study_id, user.user_id)


INTRO = {
    "unaided": "Read each case as you would in clinic: BI-RADS, your probability of "
               "malignancy and, if you like, the lexicon descriptors. You will see neither the "
               "truth nor the AI during the study.",
    "aided": "The washout is over. You now read the same cases again, in a new order, each "
             "with the AI's probability and its heatmap. Your earlier reads are not shown.",
}


def phase_page(phase: protocol.PhaseView) -> None:
    st.header(plain(phase.name))
    if phase.phase == "washout":
        st.info(f"Unaided reading done. Washout until {phase.washout_until:%Y-%m-%d %H:%M} UTC: "
                "the aided session opens then.")
        return
    if phase.phase == "done":
        own_results(phase)
        return
    st.caption(f"{'Unaided' if phase.phase == 'unaided' else 'Aided'} phase: "
               f"{phase.read} of {phase.total} cases read.")
    if phase.session_id is None:
        st.write(INTRO[phase.phase])
        st.button("Start reading" if phase.phase == "unaided" else "Start the aided reading",
                  type="primary", key=f"reading_start_{phase.study_id}_{phase.phase}",
                  on_click=start, args=(phase.study_id,))
        return
    try:
        view = protocol.next_study_case(store, phase.session_id, user.user_id)
    except UserError as error:
        st.error(plain(error))
        return
    if isinstance(view, protocol.PhaseDoneView):
        st.info("Every case of this phase is read.")
        return
    case_step(view)


st.title("Study reading")
if message := state.pop("reading_error", None):
    st.error(plain(message))
mine = {phase.study_id: phase for phase in protocol.my_studies(store, user.user_id)}
if not mine:
    st.info("You are not a reader in any study yet; your supervisor sets studies up.")
    st.stop()
if state["reading_study"] not in mine:
    state["reading_study"] = next(iter(mine))
if len(mine) > 1:
    labels = {sid: f"{view.name} ({view.phase})" for sid, view in mine.items()}
    # The labels carry each study's phase, and a selectbox keeps showing the label it was
    # first sent ("(aided)" stayed on screen once the study was done, and the next click sent
    # a label no option had any more): a new key for new labels draws a new selector.
    picker = f"reading_study_{zlib.crc32(repr(labels).encode())}"
    st.selectbox("Study", list(mine), index=list(mine).index(state["reading_study"]),
                 format_func=labels.get, key=picker,
                 on_change=lambda: state.update(reading_study=state[picker]))
phase_page(mine[state["reading_study"]])
