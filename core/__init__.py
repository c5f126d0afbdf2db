"""SonoCase core: everything but the Streamlit pages. Never imports streamlit.

Usable from the command line: ``python -m core --help``.
"""
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
__version__ = "0.1.0"
