"""The one error hierarchy: every user mistake reaches the user as one line, no traceback.

Each class also derives from the builtin it refines (as python-rtmidi's InvalidPortError is a
ValueError), so code that catches the builtin catches it too.
"""


class LivegenError(Exception):
    """Base class: the CLI prints str(err) on one line and exits non-zero."""


class MidiFileError(LivegenError, ValueError):
    """A MIDI file is missing, unreadable, truncated or not MIDI at all."""


class ConfigError(LivegenError, ValueError):
    """A config file or --set value is wrong: names file, section and key."""


class TokenizerMismatchError(LivegenError, ValueError):
    """A model was trained with a different tokenizer than the runtime's."""


class ModelLoadError(LivegenError, OSError):
    """A model folder is missing, incomplete or unreadable."""


class DeviceError(LivegenError, RuntimeError):
    """An inference device (e.g. CUDA) was asked for and is not available."""


class PortError(LivegenError, ValueError):
    """A MIDI port name is unknown or ambiguous; lists the ports there are."""


class OutputError(LivegenError, OSError):
    """An output path may not or cannot be written (a folder, an input, a full disk): names it."""
