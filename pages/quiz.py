"""Quiz: read a case, commit an answer, see the AI's probability and heatmap, maybe revise, see
the truth; at the end, the session's summary. Every step is recomputed from the store
(``core.quiz``), so a reload, the back button or a second tab cannot replay or skip one.
Buttons act in callbacks, before the page is drawn, so each click draws the page once."""
from __future__ import annotations

import streamlit as st

from core.errors import UserError
from core.stats.metrics import percent_text
from core.stats.roc import MIN_PER_CLASS, auc_text
from core.heatmaps import method_title
from core.heatmaps.contours import draw_outlines, hottest_area, legend_html
from core.images import load_grey, stored_png
from core.lexicon import BIRADS_CATEGORIES, DESCRIPTORS
from core.models.framing import lesion_box
from core.plain_text import plain
from core.quiz import flow, scoring, selection
from pages import case_widgets, ui
from pages.case_widgets import ai_panel, answer_form, around, case_image, heatmap_of, \
    show_image

user = ui.require_role("trainee")
store = ui.get_store()
session_state = st.session_state
session_state.setdefault("quiz_session", None)


def act(action, *args, **kwargs) -> None:
    """Run a quiz action on the open session; a refusal is shown at the top of the step the
    store says."""
    case_widgets.act("quiz_error", action, store, session_state.get("quiz_session"),
                     user.user_id, *args, **kwargs)


def seconds_on(step: str, view) -> float:
    """Seconds since this step of this case was first shown in this browser session."""
    return case_widgets.seconds_on(case_widgets.field("quiz_started", view, step))


def field(step: str, view, name: str) -> str:
    """The widget key of one answer field of one step of one case."""
    return case_widgets.field(f"quiz_{step}", view, name)


def case_title(view) -> None:
    st.subheader(f"Case {view.position} of {view.total}")


# ---- starting a session --------------------------------------------------------------------

def start() -> None:
    try:
        session_state["quiz_session"] = flow.start_session(
            store, user.user_id, session_state["quiz_set"], int(session_state["quiz_length"]))
    except UserError as error:
        session_state["quiz_error"] = str(error)


def setup_form() -> None:
    st.title("Quiz")
    options = selection.practice_set_options(store, user.user_id)
    if not options:
        st.info("The case library holds no nodules yet. Ask an admin to import cases or "
                "create the demo.")
        return
    share = selection.honest_share(store)
    if share.text:
        st.info(share.text)
    with st.form("quiz_setup"):
        labels = {option.code: option.text for option in options}
        st.selectbox("Practice set", list(labels), format_func=labels.get, key="quiz_set",
                     help=selection.SET_HELP)
        st.number_input("Cases in this session", min_value=1, max_value=flow.MAX_SESSION_LENGTH,
                        value=10, step=1, key="quiz_length")
        st.form_submit_button("Start", type="primary", on_click=start)
    st.caption("Cases you called wrong come back: in your next session, then 3 and 7 "
               "sessions after each right answer.")


# ---- the three steps of a case -------------------------------------------------------------

def end_button(view) -> None:
    st.button("End the session now", key=f"quiz_end_{view.session_id}_{view.case_id}",
              help="Your stored reads stay; the summary covers the cases you read.",
              on_click=act, args=(flow.end_session,))


def answer(step: str, view) -> dict[str, object]:
    """What the step's answer fields hold now; a field whose state an interrupted rerun
    dropped reads as unanswered (the store then refuses the answer with its reason and the
    step is drawn again from the store), never as a KeyError."""
    return {name: session_state.get(field(step, view, name))
            for name in ("birads", "probability", *DESCRIPTORS)}


def submit_unaided(view: flow.PresentView) -> None:
    given = answer("present", view)
    descriptors = {key: given[key] for key in DESCRIPTORS}
    act(flow.submit_unaided, view.case_id, given["birads"], given["probability"], descriptors,
        seconds=seconds_on("present", view))


def present_step(view: flow.PresentView) -> None:
    case_title(view)
    image_column, form_column = st.columns([3, 2])
    case_image(image_column, store, view.image_path)
    seconds_on("present", view)
    with form_column:
        answer_form(f"quiz_unaided_{view.session_id}_{view.case_id}",
                    lambda name: field("present", view, name), "Submit my read",
                    submit_unaided, (view,))
        end_button(view)


def submit_aided(view: flow.AIView) -> None:
    given = answer("ai", view)
    act(flow.submit_aided, view.case_id, given["birads"], given["probability"],
        seconds=seconds_on("ai", view))


def ai_step(view: flow.AIView) -> None:
    case_title(view)
    image_column, form_column = st.columns([3, 2])
    heatmap = heatmap_of(store, view.ai.model_id, view.case_id)
    seconds_on("ai", view)
    with form_column:
        choice = ai_panel(view.ai, heatmap, lambda name: field("ai", view, name),
                          offer_hottest=True)
        st.write(f"Your first read: BI-RADS **{view.unaided.birads}**, "
                 f"**{view.unaided.probability:.0f}%**")
        with st.form(f"quiz_aided_{view.session_id}_{view.case_id}"):
            st.radio("BI-RADS after seeing the AI", BIRADS_CATEGORIES, horizontal=True,
                     index=BIRADS_CATEGORIES.index(view.unaided.birads),
                     key=field("ai", view, "birads"))
            st.slider("Probability of malignancy (%)", 0, 100,
                      int(round(view.unaided.probability)), key=field("ai", view, "probability"))
            st.form_submit_button("Store my read and show the truth", type="primary",
                                  on_click=submit_aided, args=(view,))
    case_image(image_column, store, view.image_path, heatmap, choice)


def training_progress() -> None:
    for job in ui.get_runner().active():
        if job.kind == "train":
            st.progress(job.fraction, text=f"Training: {job.message}")


def descriptor_table(view: flow.TruthView) -> str | None:
    """The reference descriptors next to the trainee's, as a markdown table."""
    yours = view.unaided.descriptors or {}
    keys = [key for key in DESCRIPTORS if key in view.descriptors or key in yours]
    if not keys:
        return None
    lines = ["| Descriptor | Reference | Yours |", "| --- | --- | --- |"]
    for key in keys:
        reference, mine = view.descriptors.get(key, "-"), yours.get(key, "-")
        agreed = " ✓" if key in yours and mine == reference else ""
        lines.append(f"| {key.replace('_', ' ')} | {plain(reference)} | {plain(mine)}{agreed} |")
    return "\n".join(lines)


def truth_image(view: flow.TruthView, heatmap, hottest, with_colours: bool, zoom: bool):
    """The case with the lesion's outline and the line around the AI's hottest 20% (where
    there is a map), over the AI's heatmap if asked, around the lesion if asked."""
    if not view.mask_path and heatmap is None:
        return stored_png(store, view.image_path)
    from core.heatmaps.colour_overlay import overlay

    shown = load_grey(store, view.image_path)
    if heatmap is not None and with_colours:
        shown = overlay(shown, heatmap.cam, 0.45, heatmap.region)
    mask = None
    if view.mask_path:
        mask = heatmap.mask if heatmap is not None else load_grey(store, view.mask_path) > 127
    line = None if hottest is None else hottest.mask
    if zoom and mask is not None and mask.any():  # zoom first: the lines stay thin
        square = lesion_box(mask)
        shown, mask = around(shown, square), around(mask, square)
        line = None if line is None else around(line, square)
    return draw_outlines(shown, lesion=mask, hottest=line)


def truth_picture(column, view: flow.TruthView, with_colours: bool, zoom: bool) -> None:
    """The truth step's image, the legend of its lines and, with the heatmap's colours, their
    scale."""
    heatmap = heatmap_of(store, view.ai.model_id, view.case_id) if view.ai else None
    hottest = None if heatmap is None else hottest_area(heatmap.cam, heatmap.region)
    show_image(column, truth_image(view, heatmap, hottest, with_colours, zoom))
    if view.mask_path or heatmap is not None:
        column.html(legend_html(lesion=bool(view.mask_path),
                                hottest=hottest is not None and hottest.mask.any()))
    if heatmap is not None and with_colours:
        from core.heatmaps.colour_overlay import colour_scale_html

        column.html(colour_scale_html(method_title(heatmap.method),
                                      grey_outside=heatmap.region is not None))
    if hottest is not None and hottest.note:
        column.caption(hottest.note)


def truth_step(view: flow.TruthView) -> None:
    case_title(view)
    image_column, text_column = st.columns([3, 2])
    with text_column:
        colour = "red" if view.label == "malignant" else "green"
        st.markdown(f"### :{colour}[{view.label.capitalize()}]")
        st.markdown("\n".join(f"- {plain(line)}" for line in view.verdicts))
        if view.birads_ref:
            st.write(f"Reference BI-RADS: **{view.birads_ref}**")
        table = descriptor_table(view)
        if table:
            st.markdown(table)
        with_colours = view.ai is not None and st.toggle(
            "Show the AI heatmap under the outlines", key=field("truth", view, "overlay"))
        zoom = bool(view.mask_path) and st.toggle("Zoom to the nodule",
                                                  key=field("truth", view, "zoom"))
        if view.ai is None:
            st.info(f"AI: {plain(view.no_ai_reason)}. No read after the AI was stored for this case.")
            training_progress()
        last = view.position == view.total
        st.button("See the summary" if last else "Next case", type="primary",
                  key=f"quiz_next_{view.session_id}_{view.case_id}", on_click=act,
                  args=(flow.advance, view.case_id))
        if not last:
            end_button(view)
    truth_picture(image_column, view, with_colours, zoom)


# ---- the summary ---------------------------------------------------------------------------

def counted(estimate) -> str:
    return "no cases" if estimate.n == 0 else f"{estimate.k} of {estimate.n}"


def new_session() -> None:
    session_state["quiz_session"] = None


def summary_step(view: flow.SummaryView) -> None:
    st.title("Session summary")
    summary = scoring.session_summary(store, view.session_id, user.user_id)
    if summary is None:
        st.info("No case was read in this session.")
    else:
        phases = {"Before the AI": summary.unaided}
        if summary.aided:
            phases["After the AI"] = summary.aided
        for title, phase in phases.items():
            st.subheader(title)
            columns = st.columns(5)
            columns[0].metric("Correct calls", percent_text(phase.accuracy),
                              help=f"{phase.correct} of {phase.n}")
            columns[1].metric("Sensitivity", percent_text(phase.sensitivity),
                              help=f"malignant cases called malignant: "
                                   f"{counted(phase.sensitivity)}")
            columns[2].metric("Specificity", percent_text(phase.specificity),
                              help=f"benign cases called benign: {counted(phase.specificity)}")
            columns[3].metric("BI-RADS AUC", auc_text(phase.birads_auc, 2),
                              help=f"Needs {MIN_PER_CLASS} malignant and {MIN_PER_CLASS} "
                                   "benign cases.")
            columns[4].metric("Median time", "-" if phase.median_seconds is None
                              else f"{phase.median_seconds:.0f} s")
            st.caption(f"{phase.correct} of {phase.n} calls correct. In brackets: 95% "
                       "confidence intervals (Wilson; the AUC's: logit DeLong).")
        if summary.aided:
            st.write(f"Changes after the AI: **{summary.helpful} helpful**, "
                     f"**{summary.harmful} harmful**.")
        if summary.no_ai:
            st.info(f"The AI was not shown for {summary.no_ai} case(s) "
                    f"({plain('; '.join(summary.no_ai_reasons))}): no read after the AI was stored "
                    "for them.")
        if summary.median_seconds_per_case is not None:
            st.caption(f"Median time per case: {summary.median_seconds_per_case:.0f} s.")
    st.button("Start a new session", type="primary", key="quiz_new_session",
              on_click=new_session)


# ---- the page ------------------------------------------------------------------------------

if message := session_state.pop("quiz_error", None):
    st.error(plain(message))
if session_state["quiz_session"] is None:
    session_state["quiz_session"] = flow.unfinished_session(store, user.user_id)
if session_state["quiz_session"] is None:
    setup_form()
else:
    match flow.state(store, session_state["quiz_session"], user.user_id):
        case flow.PresentView() as view:
            present_step(view)
        case flow.AIView() as view:
            ai_step(view)
        case flow.TruthView() as view:
            truth_step(view)
        case flow.SummaryView() as view:
            summary_step(view)
