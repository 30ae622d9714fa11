"""livegen: an AI co-performer that streams generated MIDI in time with a DAW."""

__version__ = "0.1.0"
