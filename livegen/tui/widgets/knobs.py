"""The knob panel: one row per knob with its value, a range gauge and its MIDI-learn binding."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.containers import Vertical
from textual.widget import Widget

from livegen.live.knobs import Knobs
from livegen.tui.knobspec import KNOB_SPECS, KnobSpec, format_value, gauge_fraction
from livegen.tui.messages import KnobNudged, KnobSelected

LABEL_WIDTH = 12
VALUE_WIDTH = 10
CC_WIDTH = 7


@dataclass(frozen=True)
class RowState:
    """Everything a row draws; rows redraw only when this changes."""

    value: str
    fraction: float | None
    cc: int | None
    learning: bool
    selected: bool


class KnobRow(Widget):
    """One knob: `▸ label  value  ━━━━──  CC21`; click selects, the mouse wheel turns it."""

    DEFAULT_CSS = """
    KnobRow { height: 1; width: 1fr; }
    KnobRow.-selected { background: $boost; text-style: bold; }
    KnobRow.-learning { background: $warning 30%; }
    """

    def __init__(self, spec: KnobSpec) -> None:
        super().__init__(id=f"knob-{spec.name}")
        self.spec = spec
        self.state = RowState("", None, None, False, False)

    def show(self, state: RowState) -> None:
        if state != self.state:
            self.state = state
            self.set_class(state.selected, "-selected")
            self.set_class(state.learning, "-learning")
            self.refresh()

    def render(self) -> Text:
        state = self.state
        marker = "▸ " if state.selected else "  "
        if state.learning:
            cc = "learn…"
        elif state.cc is not None:
            cc = f"CC{state.cc}"
        else:
            cc = ""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(marker, style="bold")
        text.append(f"{self.spec.label:<{LABEL_WIDTH}}")
        text.append(f"{state.value:>{VALUE_WIDTH}} ", style="bold")
        gauge_width = self.size.width - len(marker) - LABEL_WIDTH - VALUE_WIDTH - 1 - CC_WIDTH - 1
        if gauge_width >= 4 and state.fraction is not None:
            filled = round(state.fraction * gauge_width)
            text.append("━" * filled, style="bold")
            text.append("─" * (gauge_width - filled), style="dim")
        elif gauge_width > 0:
            text.append(" " * gauge_width)
        text.append(f" {cc:>{CC_WIDTH}}", style="italic" if state.learning else "")
        return text

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(KnobSelected(self.spec.name))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.post_message(KnobNudged(self.spec.name, +1))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.post_message(KnobNudged(self.spec.name, -1))


class KnobPanel(Vertical):
    """All knobs in `Knobs` field order; `sync` redraws from the control's current state."""

    DEFAULT_CSS = """
    KnobPanel { height: auto; border: round $primary; border-title-style: bold; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "Knobs"

    def compose(self):
        for spec in KNOB_SPECS:
            yield KnobRow(spec)

    def sync(
        self, knobs: Knobs, bindings: dict[int, str], learn_target: str | None, selected: str
    ) -> None:
        cc_for = {knob: cc for cc, knob in sorted(bindings.items())}
        for row in self.query(KnobRow):
            name = row.spec.name
            value = getattr(knobs, name)
            row.show(
                RowState(
                    value=format_value(name, value),
                    fraction=gauge_fraction(name, value),
                    cc=cc_for.get(name),
                    learning=learn_target == name,
                    selected=selected == name,
                )
            )
