"""Progress: a trainee's learning curves (rolling accuracy, sensitivity, specificity and
BI-RADS AUC with 95% CIs, unaided and aided, the model's level for reference) and the CUSUM
learning curve. Trainees see their own; supervisors and admins pick any trainee
(``?user=<id>`` opens one directly)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import charts, progress
from core.display_names import model_names
from core.errors import UserError
from core.plain_text import plain
from pages import ui

user = ui.require_role("trainee", "supervisor", "admin")
store = ui.get_store()
st.title("Progress")


def requested_user() -> int | None:
    value = st.query_params.get("user")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def choose_trainee() -> int | None:
    """The trainee whose curves are shown: oneself for a trainee, else picked from the list."""
    if user.role == "trainee":
        return user.user_id
    people = progress.trainees(store, user)
    if not people:
        st.info("There are no trainee accounts yet.")
        return None
    ids = [person.user_id for person in people]
    names = {person.user_id: person.display_name for person in people}
    wanted = requested_user()
    if wanted in ids:  # the address names a trainee (a link from the cohort page)
        st.session_state["progress_trainee"] = wanted
    st.session_state.setdefault("progress_trainee", ids[0])
    return st.selectbox("Trainee", ids, format_func=names.get, key="progress_trainee",
                        on_change=address_follows_choice)


def address_follows_choice() -> None:
    st.query_params["user"] = str(st.session_state["progress_trainee"])


def headline(summaries: dict, level: progress.ModelLevel | None) -> None:
    columns = st.columns(4)
    unaided = summaries.get("unaided")
    columns[0].metric("Cases read", unaided.n if unaided else 0)
    for column, mode in zip(columns[1:3], ("unaided", "aided")):
        phase = summaries.get(mode)
        column.metric(f"Accuracy, {mode}", "-" if phase is None else f"{phase.accuracy.value:.0%}",
                      help=None if phase is None else
                      f"95% CI {phase.accuracy.ci_low:.0%} to {phase.accuracy.ci_high:.0%}")
    if level is not None:
        columns[3].metric("AI model on the same cases", f"{level.accuracy:.0%}",
                          help=f"{model_names(store).get(level.model_id, level.model_id)}, "
                               f"on the {level.n} of these cases it has an "
                               "output it could honestly show for (never one it trained on)")


@st.cache_data(max_entries=32, show_spinner=False)
def curves_of(reads: pd.DataFrame, window: int, by: str) -> pd.DataFrame:
    """Rolling metrics, recomputed only when the reads or the settings change."""
    return progress.curves(reads, window=window, by=by)


def curve_tabs(reads: pd.DataFrame, level: progress.ModelLevel | None) -> None:
    by_date = st.radio("Over", ["cases read", "dates"], horizontal=True,
                       key="progress_axis") == "dates"
    window = st.slider("Window (days)" if by_date else "Window (cases)", 3, 100,
                       14 if by_date else 20, key=f"progress_window_{by_date}")
    frame = curves_of(reads, window, "date" if by_date else "attempt")
    x = "date" if by_date else "position"
    names = {"accuracy": "Accuracy", "sensitivity": "Sensitivity",
             "specificity": "Specificity", "auc": "BI-RADS AUC"}
    tabs = st.tabs([*names.values(), "Learning curve (CUSUM)"])
    for tab, metric in zip(tabs, names):
        reference = None if level is None else getattr(level, metric)
        tab.plotly_chart(charts.rolling_chart(frame, metric, x, reference, "AI model"),
                         key=f"progress_chart_{metric}")
    with tabs[-1]:
        st.plotly_chart(charts.cusum_chart(progress.learning_curve(reads)),
                        key="progress_chart_cusum")
        st.caption(f"The curve rises with each wrong unaided call and falls with each right "
                   f"one. Crossing the red line means an error rate near "
                   f"{progress.UNACCEPTABLE_ERROR:.0%}; the green line, near "
                   f"{progress.ACCEPTABLE_ERROR:.0%} (acceptable). The test restarts after "
                   "each signal.")


if user.role == "trainee" and requested_user() is not None:
    try:
        progress.check_access(user, requested_user())
    except UserError as error:
        st.error(plain(error))
        st.stop()
target = choose_trainee()
reads = progress.trainee_reads(store, user, target) if target is not None else None
if reads is not None and reads.empty:
    st.info("No cases read yet: the curves start with the first quiz session.")
elif reads is not None:
    level = progress.model_level(store, reads)
    headline(progress.phases(reads), level)
    flag = progress.struggling(reads)
    if flag.struggling:
        st.warning(f"Needs attention: {plain(flag.reason)}.")
    curve_tabs(reads, level)
