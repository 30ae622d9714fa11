"""One line under the panels for confirmations and rejected values (errors start with ✗)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class MessageLine(Static):
    """Shows the last message; errors carry a ✗ glyph as well as the error colour."""

    DEFAULT_CSS = """
    MessageLine { height: 1; padding: 0 1; color: $text-muted; }
    MessageLine.-error { color: $error; text-style: bold; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.text = ""

    def say(self, text: str, *, error: bool = False) -> None:
        self.text = text
        self.set_class(error, "-error")
        self.update(Text(f"✗ {text}" if error else f"› {text}"))
