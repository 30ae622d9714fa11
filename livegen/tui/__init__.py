"""The live terminal UI: knobs, MIDI learn, piano roll, meters and presets over a `Control`."""

from livegen.tui.app import LivegenApp, make_app, run_tui

__all__ = ["LivegenApp", "make_app", "run_tui"]
