"""Widgets of the live screen: knob panel, piano roll, meters, message line."""

from livegen.tui.widgets.key_help import KeyHelp
from livegen.tui.widgets.knobs import KnobPanel, KnobRow
from livegen.tui.widgets.message_line import MessageLine
from livegen.tui.widgets.meters import Meters
from livegen.tui.widgets.piano_roll import PianoRoll, render_roll

__all__ = ["KeyHelp", "KnobPanel", "KnobRow", "MessageLine", "Meters", "PianoRoll", "render_roll"]
