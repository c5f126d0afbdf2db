"""Text a user typed (names, study names, manifest fields, messages that quote them) shown as
plain text inside Streamlit's Markdown. Every character that can open a Markdown construct is
escaped with a backslash (CommonMark lets any ASCII punctuation be escaped): images, links and
HTML (``! [ ] ( ) < >``), GFM autolinks (the ``:`` of ``http://``, the ``@`` of an address, the
dot after ``www``), emphasis and code (``* _ ~ `` `), tables (``|``), headings (``#``),
Streamlit's colour and icon directives (``:``) and formulas (``$``), entities (``&``), and a
list marker at the start; line breaks become spaces. Hyphens and full stops elsewhere stay as
they are, so messages read (and compare) as written."""
from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~:$@&])|(?<=www)(\.)", re.IGNORECASE)
_LIST_MARKER = re.compile(r"^([-=])|^(\d+)([.)])")
_SPACE = re.compile(r"\s+")


def _escape_marker(match: re.Match) -> str:
    return "\\" + match.group(1) if match.group(1) else match.group(2) + "\\" + match.group(3)


def plain(text: object) -> str:
    """``text`` as Markdown that shows exactly its characters, on one line."""
    line = _SPACE.sub(" ", str(text)).strip()
    line = _SPECIAL.sub(lambda match: "\\" + (match.group(1) or match.group(2)), line)
    return _LIST_MARKER.sub(_escape_marker, line)
