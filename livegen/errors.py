"""The one error hierarchy: every user mistake reaches the user as one line, no traceback."""


class LivegenError(Exception):
    """Base class: the CLI prints str(err) on one line and exits non-zero."""


class MidiFileError(LivegenError, ValueError):
    """A MIDI file is missing, unreadable, truncated or not MIDI at all."""


class ConfigError(LivegenError, ValueError):
    """A config file or --set value is wrong: names file, section and key."""


class TokenizerMismatchError(LivegenError):
    """A model was trained with a different tokenizer than the runtime's."""


class ModelLoadError(LivegenError):
    """A model folder is missing, incomplete or unreadable."""


class DeviceError(LivegenError):
    """An inference device (e.g. CUDA) was asked for and is not available."""


class PortError(LivegenError, ValueError):
    """A MIDI port name is unknown or ambiguous; lists the ports there are."""
