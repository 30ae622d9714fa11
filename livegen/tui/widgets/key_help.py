"""Every key with a one-line meaning; shown under the meters when the terminal is wide."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

KEYS: tuple[tuple[str, str], ...] = (
    ("↑ ↓", "pick a knob (or click it)"),
    ("← →", "turn it (or scroll the mouse wheel)"),
    ("⇧← ⇧→ PgUp PgDn", "turn it in coarse steps"),
    ("⏎", "type a value"),
    ("l / u", "MIDI learn the knob / unbind it"),
    ("p", "panic: all notes off"),
    ("v", "vary: your last bar(s) back varied"),
    ("1 … 8", "mute / unmute a part of the band"),
    ("space", "pause / resume generation"),
    ("r", "record on / off"),
    ("s / o", "save / load a preset"),
    ("q  ^c", "quit (notes off, ports closed)"),
)


def render_keys() -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    width = max(len(key) for key, _ in KEYS) + 2
    for key, meaning in KEYS:
        text.append(f"{key:<{width}}", style="bold")
        text.append(meaning + "\n")
    text.rstrip()
    return text


class KeyHelp(Static):
    """The full key list (the footer has room only for the main keys)."""

    DEFAULT_CSS = """
    KeyHelp { height: auto; border: round $panel; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(render_keys(), **kwargs)
        self.border_title = "Keys"
