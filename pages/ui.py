"""Streamlit-only helpers shared by the pages: the process's store and job runner, the cached
models, the logged-in user and role checks, the background-job panel.

Everything else lives in ``core``; this module only adapts it to Streamlit. The server process
is the store's only writer: every page reaches the store through :func:`get_store`.
"""
from __future__ import annotations

import logging
import os
import threading

import streamlit as st

from core import auth
from core.auth import User
from core.demo import still_to_train, start_demo_training
from core.errors import StoreLocked
from core.jobs import JobRunner, JobStatus
from core.plain_text import plain
from core.server_objects import server_objects
from core.store import Store

log = logging.getLogger(__name__)

AUTOTRAIN_ENV = "SONOCASE_AUTOTRAIN"
JOB_TITLES = {"train": "Training models", "heatmaps": "Computing heatmaps",
              "import": "Importing cases", "backup": "Writing a backup"}
_FLASH = "_flash"
_STAMP = "_password_stamp"
_JOBS_SEEN = "_jobs_seen_running"


def get_store() -> Store:
    """The server's one store connection (this process is the single writer), held for the
    whole process (``core.server_objects``), never in a cache a browser can clear."""
    return server_objects().store


def get_runner() -> JobRunner:
    """The process's one job runner; creating it marks jobs left running by a killed process
    failed (app.py creates it first thing)."""
    return server_objects().runner


def start() -> None:
    """First thing of every run: the store and the job runner, or, when another process holds
    the store, its message and the run stopped. Nothing is kept then, so a rerun after the
    other process let go opens the store."""
    try:
        get_runner()
    except StoreLocked as error:
        st.error(str(error))
        st.stop()


def start_autotrain() -> threading.Thread | None:
    """Once per server process, called after the first page is out: unless
    ``SONOCASE_AUTOTRAIN=0``, start quick training of the demo models still missing. The
    check imports torch, so it runs in a thread of its own."""
    def starter() -> threading.Thread | None:
        if os.environ.get(AUTOTRAIN_ENV, "1").strip() == "0":
            return None
        thread = threading.Thread(target=_start_demo_training,
                                  args=(get_store(), get_runner()), daemon=True,
                                  name="demo-training-starter")
        thread.start()
        return thread

    return server_objects().once("autotrain", starter)


def _start_demo_training(store: Store, runner: JobRunner) -> None:
    try:
        start_demo_training(store, runner)
    except Exception:  # the app must serve even when training cannot start
        log.exception("could not start the demo training")


def init_session() -> None:
    """Session defaults, set once per browser session."""
    st.session_state.setdefault("user", None)


def current_user() -> User | None:
    """The logged-in user, re-read from the store so that a role change or a deactivation
    takes effect on the next rerun; a deactivated user is logged out, and so is a session
    started before the user's password was changed or reset."""
    user = st.session_state.get("user")
    if user is None:
        return None
    fresh = auth.get_user(get_store(), user.user_id)
    stamp = auth.password_stamp(get_store(), user.user_id)
    if fresh is None or st.session_state.setdefault(_STAMP, stamp) != stamp:
        st.session_state.clear()  # deactivated, or the password changed in another session
        return None
    if fresh != user:
        st.session_state["user"] = fresh
    return fresh


def require_role(*roles: str) -> User:
    """The current user if their role is one of ``roles``; otherwise an error and a stop."""
    user = current_user()
    if user is None:
        st.error("Please log in first.")
        st.stop()
    if user.role not in roles:
        st.error(f"This page is for {' or '.join(roles)} accounts; you are logged in as a "
                 f"{user.role}.")
        st.stop()
    return user


def login(user: User) -> None:
    """Start a fresh session for ``user`` (nothing of a previous session is kept)."""
    st.session_state.clear()
    st.session_state["user"] = user
    keep_session(user)


def keep_session(user: User) -> None:
    """This session goes on with the user's password as it is now (after logging in, or
    after changing it here: the user's other sessions end)."""
    st.session_state[_STAMP] = auth.password_stamp(get_store(), user.user_id)


def client() -> str | None:
    """The browser's address as :func:`core.auth.client_name` records it, for the per-client
    login limit: the connection's address, or (for a connection from this machine, such as
    a reverse proxy's) the first address the proxy forwarded; "local" when neither is known."""
    address = st.context.ip_address
    if address is None:
        forwarded = st.context.headers.get("X-Forwarded-For", "")
        address = forwarded.split(",")[0].strip() or "local"
    return auth.client_name(get_store(), address)


def logout() -> None:
    st.session_state.clear()
    st.rerun()


def flash(message: str) -> None:
    """A success message shown once, after the next rerun."""
    st.session_state[_FLASH] = message


def show_flash() -> None:
    message = st.session_state.pop(_FLASH, None)
    if message:
        st.success(plain(message))


@st.cache_resource(max_entries=6, show_spinner="Loading the model...")
def cached_model(model_id: str, checkpoint_sha256: str | None):
    """The loaded model (``core.models.loading.LoadedModel``), kept on the GPU when there is
    one, else the CPU; loaded again when the model's checkpoint changes (a new SHA-256); a
    cross-fitted fold's SHA-256 loads that fold's checkpoint. The
    ``load_model`` that ``core.heatmaps.case_heatmap`` asks for."""
    import torch

    from core.models.loading import load_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return load_model(get_store(), model_id, device, checkpoint_sha256)


def _show_job(job: JobStatus) -> None:
    title = JOB_TITLES.get(job.kind, job.kind)
    st.progress(job.fraction, text=f"{title}: {job.message}")
    if job.kind == "train" and job.params.get("archs"):
        remaining = still_to_train(get_store(), job.params.get("dataset", ""),
                                   job.params["archs"], job.params.get("profile", "quick"))
        if remaining:
            st.caption("Still to train: " + ", ".join(remaining))


@st.fragment(run_every=2)
def _live_job_panel() -> None:
    active = get_runner().active()
    seen = st.session_state.setdefault(_JOBS_SEEN, set())
    if seen - {job.job_id for job in active}:
        seen.clear()
        st.rerun()  # a job ended: rerun the whole page so it sees the new results
    seen.update(job.job_id for job in active)
    for job in active:
        _show_job(job)


def job_status_panel() -> None:
    """Progress bars of the running background jobs (call it inside ``with st.sidebar:``);
    it refreshes itself every 2 s while a job runs, and reruns the page when one ends."""
    if get_runner().active() or st.session_state.get(_JOBS_SEEN):
        _live_job_panel()
