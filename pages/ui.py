"""Streamlit-only helpers shared by the pages: the one cached store connection.

Everything else lives in ``core``; this module only adapts it to Streamlit.
"""
from __future__ import annotations

import streamlit as st

from core.store import Store


@st.cache_resource
def get_store() -> Store:
    """The server's one store connection (this process is the single writer)."""
    return Store()
