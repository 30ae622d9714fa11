"""Test helpers: the screen as plain text, and the commands the UI queued for the daemon."""

from __future__ import annotations

import io
import queue

from rich.console import Console
from textual.app import App

from livegen.live.control import Command, Control


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


def drain(control: Control) -> list[Command]:
    """Take every queued command, as the daemon's supervisor does."""
    commands = []
    while True:
        try:
            commands.append(control.commands.get_nowait())
        except queue.Empty:
            return commands
