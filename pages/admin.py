"""Administration: accounts (add, reset password, role, deactivate) and background jobs."""
import pandas as pd
import streamlit as st

from core import auth
from core.demo import has_demo_dataset, start_demo_training
from core.errors import UserError
from core.jobs import recent_jobs
from pages import ui

admin = ui.require_role("admin")
store = ui.get_store()
runner = ui.get_runner()


def show_one_time_password(username: str, password: str) -> None:
    st.success(f"One-time password for **{username}**, shown only now: hand it over in "
               "person. They must choose their own password at their first login.")
    st.code(password, language=None)


def add_user_form() -> None:
    with st.form("add_user", clear_on_submit=True):
        st.markdown("**Add a user**")
        username = st.text_input("User name", help="2-32 characters: a-z 0-9 _ . -")
        display_name = st.text_input("Display name (optional)")
        role = st.selectbox("Role", auth.ROLES)
        submitted = st.form_submit_button("Add the user")
    if submitted:
        password = auth.one_time_password()
        try:
            created = auth.create_user(store, username, password, role, display_name,
                                       must_change_password=True)
        except UserError as error:
            st.error(str(error))
        else:
            show_one_time_password(created.username, password)


def manage_user(accounts: list[auth.Account]) -> None:
    st.markdown("**Change a user**")
    by_name = {account.username: account for account in accounts}
    name = st.selectbox("User", list(by_name), key="manage_user")
    account = by_name[name]
    role_column, reset_column, active_column = st.columns(3)
    with role_column:
        role = st.selectbox("Role", auth.ROLES, index=auth.ROLES.index(account.role),
                            key=f"role_{account.user_id}")
        if st.button("Save the role", disabled=role == account.role):
            try:
                auth.set_role(store, account.user_id, role)
            except UserError as error:
                st.error(str(error))
            else:
                ui.flash(f"{account.username} is now a {role}.")
                st.rerun()
    with reset_column:
        if st.button("Reset the password"):
            password = auth.one_time_password()
            auth.set_password(store, account.user_id, password, must_change=True)
            show_one_time_password(account.username, password)
    with active_column:
        own = account.user_id == admin.user_id
        label = "Deactivate" if account.active else "Reactivate"
        if st.button(label, disabled=own, help="You cannot deactivate yourself." if own else None):
            try:
                auth.set_active(store, account.user_id, not account.active)
            except UserError as error:
                st.error(str(error))
            else:
                ui.flash(f"{account.username} {label.lower()}d.")
                st.rerun()


def users_tab() -> None:
    accounts = auth.list_users(store)
    st.dataframe(pd.DataFrame(
        [{"user name": a.username, "display name": a.display_name, "role": a.role,
          "active": a.active, "must change password": a.must_change_password,
          "created": a.created_at} for a in accounts]), hide_index=True)
    add_user_form()
    manage_user(accounts)


def jobs_tab() -> None:
    active = runner.active()
    for job in active:
        st.progress(job.fraction, text=f"{job.kind}: {job.message}")
        if st.button("Cancel", key=f"cancel_{job.job_id}", disabled=job.cancel_requested):
            runner.cancel(job.job_id)
            st.rerun()
    if not active:
        st.write("No background job is running.")
        if has_demo_dataset(store) and st.button("Train the demo models still missing"):
            try:
                started = start_demo_training(store, runner)
            except UserError as error:
                st.error(str(error))
            else:
                ui.flash("Training started." if started else "Every demo model is trained.")
                st.rerun()
    history = recent_jobs(store)
    if history:
        st.markdown("**Recent jobs**")
        st.dataframe(pd.DataFrame(
            [{"job": j.job_id, "kind": j.kind, "status": j.status, "progress": j.fraction,
              "message": j.message, "started": j.started_at, "finished": j.finished_at}
             for j in history]), hide_index=True,
            column_config={"progress": st.column_config.ProgressColumn(min_value=0, max_value=1)})


st.title("Administration")
users, jobs = st.tabs(["Users", "Background jobs"])
with users:
    users_tab()
with jobs:
    jobs_tab()
