"""Turns whatever bytes arrive on an input port into well-formed MIDI messages, never raising.

A port can deliver anything: several messages in one packet, running status, SysEx (also split
across packets), real-time bytes in the middle of a message, stray data bytes, truncated messages.
`MidiByteParser` is a byte-at-a-time state machine as the MIDI 1.0 spec describes a receiver;
`classify` names the few messages the daemon acts on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SYSEX_START = 0xF0
SYSEX_END = 0xF7
_COMMON_DATA_LEN = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0}


def _channel_data_len(status: int) -> int:
    return 1 if status & 0xF0 in (0xC0, 0xD0) else 2


class MidiByteParser:
    """Reassembles complete messages from a byte stream (one parser per input port)."""

    def __init__(self) -> None:
        self._running: int | None = None  # status byte running status refers to
        self._status: int | None = None  # status of the message being assembled
        self._data: list[int] = []
        self._needed = 0
        self._in_sysex = False
        self.dropped_bytes = 0

    def feed(self, data: Iterable[int]) -> list[tuple[int, ...]]:
        out: list[tuple[int, ...]] = []
        for raw in data:
            byte = int(raw) & 0xFF
            if byte >= 0xF8:  # real-time: may appear anywhere, even inside other messages
                out.append((byte,))
            elif byte == SYSEX_START:
                self._in_sysex = True
                self._running = self._status = None
            elif byte == SYSEX_END:
                self._in_sysex = False
            elif byte >= 0x80:
                self._in_sysex = False
                self._start(byte, out)
            elif self._in_sysex:
                continue  # SysEx payload: ignored
            else:
                self._data_byte(byte, out)
        return out

    def _start(self, status: int, out: list[tuple[int, ...]]) -> None:
        if self._status is not None and self._data:
            self.dropped_bytes += 1 + len(self._data)  # an unfinished message is abandoned
        self._data = []
        if status >= 0xF0:
            self._running = None  # system common cancels running status
            needed = _COMMON_DATA_LEN.get(status)
            if needed is None:  # 0xF4, 0xF5: undefined
                self._status = None
                self.dropped_bytes += 1
                return
            self._status, self._needed = status, needed
            if needed == 0:
                out.append((status,))
                self._status = None
            return
        self._running = self._status = status
        self._needed = _channel_data_len(status)

    def _data_byte(self, byte: int, out: list[tuple[int, ...]]) -> None:
        if self._status is None:
            if self._running is None:
                self.dropped_bytes += 1  # a data byte with nothing to belong to
                return
            self._status, self._needed = self._running, _channel_data_len(self._running)
        self._data.append(byte)
        if len(self._data) == self._needed:
            out.append((self._status, *self._data))
            self._data = []
            self._status = None


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
    kind, channel = status & 0xF0, status & 0x0F
    if kind == 0x90:
        return NoteIn(channel, first, second)
    if kind == 0x80:
        return NoteIn(channel, first, 0)
    if kind == 0xB0:
        return ControlIn(channel, first, second)
    return None
