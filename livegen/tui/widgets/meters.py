"""Meters: clock and position, inference speed, context fill, late/dropped notes, ports, state."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from livegen.live.control import Status

FILL_WIDTH = 10


def bar(fraction: float, width: int) -> str:
    """A text gauge `████░░░░` (shape, not colour, carries the value)."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def render_meters(status: Status) -> Text:
    """The meter block as short lines (they fit the 32 columns left at 80x24)."""
    text = Text(no_wrap=True, overflow="ellipsis")

    def label(name: str) -> None:
        text.append(f"{name:<8}", style="dim")

    label("clock")
    text.append(status.clock_source, style="bold")
    text.append("\n")
    label("tempo")
    text.append(f"{status.bpm:.1f} bpm  ")
    text.append("▶ " if status.running else "■ ", style="bold")
    text.append(f"{status.bar}:{status.beat}", style="bold")
    text.append("\n")

    label("model")
    text.append(f"{status.ms_per_token:.1f} ms/tok  {status.tokens_per_s:.0f} tok/s")
    text.append("\n")
    label("context")
    text.append(
        bar(status.context_fill, FILL_WIDTH), style="bold red" if status.context_fill > 0.9 else ""
    )
    text.append(f" {status.context_fill * 100:.0f}%")
    text.append("\n")

    label("timing")
    text.append(f"late {status.late_notes}", style="bold red" if status.late_notes else "")
    text.append("  ")
    text.append(f"dropped {status.dropped_notes}", style="bold red" if status.dropped_notes else "")
    text.append("\n")
    label("ahead")  # notes go out this early for the MIDI path (livegen calibrate measures it)
    text.append(f"{status.latency_ms:g} ms")
    text.append("\n")

    mark, mark_style = ("✓", "bold green") if status.port_ok else ("✗", "bold red")
    for name, port in (("in", status.in_port), ("out", status.out_port)):
        label(name)
        text.append(f"{mark} ", style=mark_style)
        text.append(port or "-")
        text.append("\n")

    if status.parts:
        label("parts")
        text.append(status.parts)
        text.append("\n")

    label("held")
    text.append(f"{status.held_keys} keys", style="bold" if status.held_keys else "")
    text.append("\n")

    label("state")
    if status.paused:
        text.append("⏸ paused", style="bold yellow")
    else:
        text.append("▶ generating", style="bold green")
    if status.recording:
        text.append("  ● REC", style="bold red")
    return text


class Meters(Static):
    """The meter panel; `show` redraws only when the status snapshot changes."""

    DEFAULT_CSS = """
    Meters { height: auto; border: round $secondary; border-title-style: bold; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.border_title = "Status"
        self.status: Status | None = None
        self.text = Text()

    def show(self, status: Status) -> None:
        if status is self.status:
            return
        self.status = status
        text = render_meters(status)
        if text != self.text:  # most snapshots change only the position, not what is shown
            self.text = text
            self.update(text)
