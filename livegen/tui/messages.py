"""Messages between the TUI's widgets and its app (dataclasses; Textual calls __post_init__)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass(eq=False)
class KnobSelected(Message):
    """The user clicked a knob row."""

    name: str


@dataclass(eq=False)
class KnobNudged(Message):
    """The user scrolled over a knob row: +1 per step up, -1 per step down."""

    name: str
    steps: int


@dataclass(eq=False)
class DaemonNotice(Message):
    """A line from another thread (the daemon, its runner) to show in the message line."""

    text: str
    error: bool = False
