"""MIDI 1.0 numbers by name, and the one classification of a channel message the daemon acts on."""

from __future__ import annotations

from dataclasses import dataclass

# channel voice messages (high nibble of the status byte)
NOTE_OFF = 0x80
NOTE_ON = 0x90
POLY_PRESSURE = 0xA0
CONTROL_CHANGE = 0xB0
PROGRAM_CHANGE = 0xC0
CHANNEL_PRESSURE = 0xD0
PITCH_BEND = 0xE0
STATUS_MASK = 0xF0
CHANNEL_MASK = 0x0F

# system messages
SYSTEM = 0xF0  # status bytes from here on are system messages (no channel)
SYSEX_START = 0xF0
SONG_POSITION = 0xF2
SYSEX_END = 0xF7
CLOCK = 0xF8  # 24 per quarter note; real-time bytes are 0xF8 and up
START = 0xFA
CONTINUE = 0xFB
STOP = 0xFC
ACTIVE_SENSING = 0xFE

# controllers
ALL_SOUND_OFF = 120
ALL_NOTES_OFF = 123


def kind(status: int) -> int:
    """The message kind of a channel status byte (NOTE_ON, CONTROL_CHANGE, ...)."""
    return status & STATUS_MASK


def is_note_on(message: tuple[int, ...] | list[int]) -> bool:
    """A note-on that starts a note (a note-on with velocity 0 is a note-off)."""
    return len(message) == 3 and message[0] & STATUS_MASK == NOTE_ON and message[2] > 0


def is_note_off(message: tuple[int, ...] | list[int]) -> bool:
    """A note-off, or a note-on with velocity 0."""
    return len(message) == 3 and (
        message[0] & STATUS_MASK == NOTE_OFF
        or (message[0] & STATUS_MASK == NOTE_ON and message[2] == 0)
    )


def is_note(message: tuple[int, ...] | list[int]) -> bool:
    """A note-on or note-off of any velocity."""
    return len(message) == 3 and message[0] & STATUS_MASK in (NOTE_ON, NOTE_OFF)


@dataclass(frozen=True)
class NoteIn:
    channel: int
    pitch: int
    velocity: int  # 0 = note-off (note-on with velocity 0 is a note-off)


@dataclass(frozen=True)
class ControlIn:
    channel: int
    control: int
    value: int


def classify(message: tuple[int, ...]) -> NoteIn | ControlIn | None:
    """A note or controller message the daemon acts on; None for everything else."""
    if len(message) != 3:
        return None
    status, first, second = message
    kind_, channel = status & STATUS_MASK, status & CHANNEL_MASK
    if kind_ == NOTE_ON:
        return NoteIn(channel, first, second)
    if kind_ == NOTE_OFF:
        return NoteIn(channel, first, 0)
    if kind_ == CONTROL_CHANGE:
        return ControlIn(channel, first, second)
    return None
