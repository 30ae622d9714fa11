"""Read what the TUI shows as plain text, so tests can assert on the screen a user sees."""

from __future__ import annotations

import io

from rich.console import Console
from textual.app import App


def screen_text(app: App) -> str:
    """The current screen as plain text lines (the same render `export_screenshot` records).

    Textual has no public text export; this mirrors `App.export_screenshot` with `export_text`.
    """
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), force_terminal=True, record=True
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()
