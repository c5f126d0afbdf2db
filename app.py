"""SonoCase: the one router of the Streamlit app."""
import streamlit as st

from pages.ui import get_store


def home() -> None:
    st.title("SonoCase: breast ultrasound reading practice")
    with get_store().read() as cur:
        cases = cur.execute("SELECT count(*) FROM cases").fetchone()[0]
    st.write(f"The case library holds {cases} cases.")


st.set_page_config(page_title="SonoCase", layout="wide")
st.navigation([st.Page(home, title="Home", default=True)]).run()
