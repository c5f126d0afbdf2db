"""SonoCase: the one router of the Streamlit app.

The first run opens the store (or says which process holds it), creates the job runner (jobs
a killed process left running are marked failed) and, once its page is out, starts the demo's
background training. Nobody logged in: only the login page (or, on a store without users, the
form that creates the first admin, for whoever has the setup token printed in the server's
terminal), under every page's URL so that a deep link opens its page after the login. A
reload or a new tab resumes the login its cookie names (``core.login_sessions``). Logged in
with a one-time password: only the account page, to choose a new one. Otherwise the pages of
the user's role; each page checks the role itself too.
"""
from pathlib import Path

import streamlit as st

from core import auth
from core.errors import UserError
from core.plain_text import plain
from core.server_objects import server_objects
from pages import ui

# file, URL path, title, icon, roles that see it; the navigation keeps this order. No URL path
# equals a file name in pages/: Streamlit would otherwise run that file directly, without this
# router, for a request that reaches a fresh server (or AppTest) before st.navigation is called.
PAGES = (
    ("pages/quiz.py", "practice", "Quiz", ":material/quiz:", ("trainee",)),
    ("pages/reading.py", "study-reading", "Study reading", ":material/visibility:", ("trainee",)),
    ("pages/admin.py", "administration", "Administration", ":material/admin_panel_settings:",
     ("admin",)),
    ("pages/cohort.py", "supervision", "Cohort", ":material/groups:", auth.STAFF_ROLES),
    ("pages/studies.py", "reader-studies", "Reader studies", ":material/science:",
     auth.STAFF_ROLES),
    ("pages/progress.py", "learning-curves", "Progress", ":material/monitoring:",
     ("trainee", "supervisor", "admin")),
    ("pages/models.py", "model-comparison", "Model comparison", ":material/compare:", auth.ROLES),
    ("pages/account.py", "my-account", "Account", ":material/person:", auth.ROLES),
)
ACCOUNT_PAGE = PAGES[-1]


def role_pages(role: str) -> list[st.Page]:
    """The pages of a role, after a hidden default page that opens the first of them.

    Streamlit serves its default page at ``/`` only: a link to that page's own URL would
    show "Page not found" (over the right page). So no page of the menu is the default; the
    hidden one at ``/`` switches to the role's first page, whose URL then works like any
    other's."""
    pages = [st.Page(path, url_path=url, title=title, icon=icon)
             for path, url, title, icon, roles in PAGES if role in roles]

    def home() -> None:
        st.switch_page(pages[0])

    return [st.Page(home, title=pages[0].title, url_path="home", default=True,
                    visibility="hidden"), *pages]


def login_page() -> None:
    st.title("SonoCase")
    st.caption("Breast ultrasound reading practice")
    if ui.ended_message():
        st.warning(ui.ended_message())
    with st.form("login"):
        username = st.text_input("User name", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        try:
            user = auth.authenticate(ui.get_store(), username, password, client=ui.client())
        except UserError as error:
            st.error(plain(error))
            return
        ui.login(user)
        st.rerun()


def first_admin_page() -> None:
    objects = server_objects()
    objects.announce_setup_token()
    st.title("Welcome to SonoCase")
    st.write("This store has no accounts yet. Whoever started the server creates the first "
             "administrator: on the command line (`python -m core user add NAME --role "
             "admin`, with the app stopped), or here with the one-time setup token printed "
             "in the server's terminal. You can add trainees and supervisors afterwards.")
    with st.form("first_admin"):
        token = st.text_input("Setup token (from the server's terminal)", type="password")
        username = st.text_input("User name", autocomplete="username")
        display_name = st.text_input("Display name (optional)")
        password = st.text_input("Password", type="password", autocomplete="new-password",
                                 help=auth.PASSWORD_HELP)
        confirm = st.text_input("Repeat the password", type="password",
                                autocomplete="new-password")
        submitted = st.form_submit_button("Create the administrator", type="primary")
    if submitted:
        if not objects.setup_token_matches(token):
            st.error("That is not the setup token printed in the server's terminal.")
            return
        if password != confirm:
            st.error("The two passwords differ.")
            return
        try:
            user = auth.create_first_admin(ui.get_store(), username, password, display_name)
        except UserError as error:
            st.error(plain(error))
            return
        ui.login(user)
        ui.flash(f"Administrator {user.username} created.")
        st.rerun()


def logged_out_pages(entry) -> list[st.Page]:
    """The login (or first-admin) form under every page's URL too, so that a deep link shows
    the form rather than "Page not found"; after the login's rerun Streamlit finds the page by
    its URL path among the role's pages and opens it (or the role's first page)."""
    return [st.Page(entry, title="Log in", url_path="login", default=True),
            *(st.Page(entry, title="Log in", url_path=url) for _, url, *_ in PAGES)]


def sidebar(user: auth.User) -> None:
    with st.sidebar:
        ui.sync_cookie()
        st.caption(f"Logged in as **{plain(user.display_name)}** ({user.role})")
        if st.button("Log out", icon=":material/logout:"):
            ui.logout()
        ui.job_status_panel()


# A file of the app's own: a ":material/...:" page icon makes the browser fetch the favicon
# from fonts.gstatic.com (fails offline, and tells Google who uses the app).
FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.png"
st.set_page_config(page_title="SonoCase", page_icon=str(FAVICON), layout="wide")
ui.init_session()
ui.start()
user = ui.current_user()
if user is None:
    entry = login_page if auth.has_users(ui.get_store()) else first_admin_page
    page = st.navigation(logged_out_pages(entry), position="hidden")
    ui.sync_cookie()  # a logout's cookie is taken away
elif auth.must_change_password(ui.get_store(), user.user_id):
    path, url, title, icon, _ = ACCOUNT_PAGE
    page = st.navigation([st.Page(path, url_path=url, title=title, icon=icon)],
                         position="hidden")
else:
    page = st.navigation(role_pages(user.role))
if user is not None:  # after st.navigation, so that the sidebar's widgets keep their ids
    sidebar(user)
ui.show_flash()
try:
    page.run()
finally:  # the first page is out before the training's torch import competes for the CPU
    ui.start_autotrain()
