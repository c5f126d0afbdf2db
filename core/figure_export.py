"""Plotly figures as PNG and SVG files, rendered on the server by kaleido (which drives a
Chrome or Chromium browser). Without a browser the export raises a ``UserError`` saying so;
the figure's own modebar download (in the viewer's browser) still works."""
from __future__ import annotations

import plotly.graph_objects as go

from core.errors import UserError

NO_BROWSER = ("PNG/SVG export needs Chrome or Chromium on the server (Debian: "
              "`apt-get install chromium`; or set BROWSER_PATH). The camera icon on each "
              "chart still downloads a PNG from your own browser.")
PNG_SCALE = 2          # sharp on a projector and in slides
WIDTH = 1100           # layout pixels when the figure sets no width (it fills the page)


def browser_path() -> str | None:
    """The Chrome/Chromium kaleido would use, or None when there is none."""
    try:
        from choreographer.browsers.chromium import Chromium
    except ImportError:
        return None
    try:
        return Chromium.find_browser(skip_local=False)
    except (OSError, RuntimeError):
        return None


def export_available() -> bool:
    """True when server-side export can run (kaleido installed and a browser found)."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return False
    return browser_path() is not None


def _render(fig: go.Figure, fmt: str, scale: float) -> bytes:
    if not export_available():
        raise UserError(NO_BROWSER)
    try:
        return fig.to_image(format=fmt, scale=scale, width=fig.layout.width or WIDTH)
    except RuntimeError as error:  # kaleido's browser errors are RuntimeErrors
        raise UserError(f"the {fmt.upper()} export failed in the server's browser "
                        f"({browser_path()}): {error}. The camera icon on each chart still "
                        "downloads a PNG from your own browser.") from None


def to_png(fig: go.Figure, scale: float = PNG_SCALE) -> bytes:
    """The figure as PNG bytes (``scale`` times its layout size)."""
    return _render(fig, "png", scale)


def to_svg(fig: go.Figure) -> bytes:
    """The figure as SVG bytes."""
    return _render(fig, "svg", 1)
