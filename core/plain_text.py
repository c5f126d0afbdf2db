"""Text a user typed (names, study names, manifest fields, messages that quote them) shown as
plain text inside Streamlit's Markdown: every ASCII punctuation character is escaped with a
backslash (CommonMark lets any of them be escaped), so no image, link, autolink, heading,
emphasis, colour directive or formula can come out of it, and line breaks become spaces."""
from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # all ASCII punctuation
_SPACE = re.compile(r"\s+")


def plain(text: object) -> str:
    """``text`` as Markdown that shows exactly its characters, on one line."""
    return _PUNCTUATION.sub(r"\\\1", _SPACE.sub(" ", str(text)).strip())
