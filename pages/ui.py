"""Streamlit-only helpers shared by the pages: the process's store and job runner, the cached
models, the logged-in user and role checks, the background-job panel.

Everything else lives in ``core``; this module only adapts it to Streamlit. The server process
is the store's only writer: every page reaches the store through :func:`get_store`.
"""
from __future__ import annotations

import json
import logging
import os
import threading

import streamlit as st

from core import auth, login_sessions
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
_TOKEN = "_session_token"
_FORGET_COOKIE = "_forget_cookie"
_ENDED = "_session_ended"
DEACTIVATED = "This account has been deactivated: ask an admin if you need it again."
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
    """The logged-in user, re-read from the store on every run so that a role change or a
    deactivation takes effect on the next rerun.

    A browser session without a user resumes the login its cookie names (a reload, a new tab,
    a deep link). A session whose login ended (logout in another tab, 12 h idle, the user
    deactivated or their password set) is cleared; the login page then says why when the
    account was deactivated.
    """
    store = get_store()
    user = st.session_state.get("user")
    if user is None:
        token = st.context.cookies.get(login_sessions.COOKIE)
        fresh = login_sessions.resume(store, token)
        if fresh is None:
            if login_sessions.was_deactivated(store, token):
                st.session_state[_ENDED] = DEACTIVATED
            return None
        st.session_state["user"], st.session_state[_TOKEN] = fresh, token
        return fresh
    if _TOKEN not in st.session_state:  # a session given its user directly (AppTest)
        keep_session(user)
    token = st.session_state[_TOKEN]
    fresh = login_sessions.resume(store, token)
    if fresh is None:
        deactivated = login_sessions.was_deactivated(store, token)
        st.session_state.clear()
        if deactivated:
            st.session_state[_ENDED] = DEACTIVATED
        return None
    if fresh != user:
        st.session_state["user"] = fresh
    return fresh


def ended_message() -> str | None:
    """Why the last login of this browser ended, when the login page should say so."""
    return st.session_state.get(_ENDED)


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
    """A new login session for this browser (after logging in, or after changing the password
    here, which ended all the user's sessions); the cookie follows on this run or the next."""
    st.session_state[_TOKEN] = login_sessions.start(get_store(), user.user_id)


def sync_cookie() -> None:
    """Give the browser this session's token as a cookie (or take it away after a logout).

    Streamlit reads cookies (``st.context.cookies``, from the request that opened the
    websocket) but has no API to set one, and its components run in a sandboxed iframe
    without the app's cookies; ``st.html`` runs its script in the app's own page, so the
    cookie belongs to the app's origin. SameSite=Strict; Secure when served over HTTPS. Not
    HttpOnly (a script sets it), so the token is 256 random bits, stored only hashed, and
    ends with logout, 12 h idle, deactivation and a password change. A session cookie: it
    lasts while the browser is open (reloads, new tabs).
    """
    token = st.session_state.get(_TOKEN)
    if token is not None and st.context.cookies.get(login_sessions.COOKIE) != token:
        value = token
    elif token is None and st.session_state.pop(_FORGET_COOKIE, False):
        value = ""
    else:
        return
    suffix = "; Max-Age=0" if not value else ""
    st.html(f"<script>document.cookie = {json.dumps(login_sessions.COOKIE + '=' + value)} + "
            f"{json.dumps('; Path=/; SameSite=Strict' + suffix)} + "
            "(location.protocol === 'https:' ? '; Secure' : '');</script>",
            unsafe_allow_javascript=True, width="content")


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
    """End this login everywhere (the cookie's other tabs too) and forget the cookie."""
    login_sessions.end(get_store(), st.session_state.get(_TOKEN))
    st.session_state.clear()
    st.session_state[_FORGET_COOKIE] = True
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
