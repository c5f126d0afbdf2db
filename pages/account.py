"""Account: the user's own details and password (forced after a one-time password)."""
import streamlit as st

from core import auth
from core.errors import UserError
from core.plain_text import plain
from pages import ui

user = ui.require_role(*auth.ROLES)
store = ui.get_store()
forced = auth.must_change_password(store, user.user_id)

st.title("Account")
st.write(f"**{plain(user.display_name)}** · user name {plain(user.username)} · role {user.role}")
if forced:
    st.warning("You logged in with a one-time password. Choose your own password to continue.")

st.subheader("Change the password")
with st.form("change_password", clear_on_submit=True):
    current = st.text_input("Current password", type="password",
                            autocomplete="current-password")
    new = st.text_input("New password", type="password", autocomplete="new-password",
                        help=auth.PASSWORD_HELP)
    confirm = st.text_input("Repeat the new password", type="password",
                            autocomplete="new-password")
    submitted = st.form_submit_button("Change the password", type="primary")
if submitted:
    if new != confirm:
        st.error("The two new passwords differ.")
    else:
        try:
            auth.change_own_password(store, user.user_id, current, new, client=ui.client())
        except UserError as error:
            st.error(plain(error))
        else:
            ui.keep_session(user)  # the user's other sessions end
            ui.flash("Password changed. Your other sessions have ended.")
            st.rerun()
