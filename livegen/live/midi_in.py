"""Turns whatever bytes arrive on an input port into well-formed MIDI messages, never raising.

A port can deliver anything: several messages in one packet, running status, SysEx (also split
across packets), real-time bytes in the middle of a message, stray data bytes, truncated messages.
Whatever came before, every status byte starts afresh: the parser resynchronises there.
`MidiByteParser` is a byte-at-a-time state machine as the MIDI 1.0 spec describes a receiver;
`livegen.music.midi.classify` then names the few messages the daemon acts on.
"""

from __future__ import annotations

from collections.abc import Iterable

from livegen.music.midi import (
    CHANNEL_PRESSURE,
    CLOCK,
    NOTE_OFF,
    PROGRAM_CHANGE,
    SONG_POSITION,
    STATUS_MASK,
    SYSEX_END,
    SYSEX_START,
    SYSTEM,
)

_COMMON_DATA_LEN = {0xF1: 1, SONG_POSITION: 2, 0xF3: 1, 0xF6: 0}  # system common: data bytes


def _channel_data_len(status: int) -> int:
    return 1 if status & STATUS_MASK in (PROGRAM_CHANGE, CHANNEL_PRESSURE) else 2


class MidiByteParser:
    """Reassembles complete messages from a byte stream (one parser per input port)."""

    def __init__(self) -> None:
        self._running: int | None = None  # status byte running status refers to
        self._status: int | None = None  # status of the message being assembled
        self._data: list[int] = []
        self._needed = 0
        self._in_sysex = False

    def feed(self, data: Iterable[int]) -> list[tuple[int, ...]]:
        out: list[tuple[int, ...]] = []
        for raw in data:
            byte = int(raw) & 0xFF
            if byte >= CLOCK:  # real-time: may appear anywhere, even inside other messages
                out.append((byte,))
            elif byte == SYSEX_START:
                self._in_sysex = True
                self._running = self._status = None
            elif byte == SYSEX_END:  # system common: also ends (and cancels) any message
                self._in_sysex = False
                self._running = self._status = None
                self._data = []
            elif byte >= NOTE_OFF:  # a status byte
                self._in_sysex = False
                self._start(byte, out)
            elif self._in_sysex:
                continue  # SysEx payload: ignored
            else:
                self._data_byte(byte, out)
        return out

    def _start(self, status: int, out: list[tuple[int, ...]]) -> None:
        self._data = []  # an unfinished message is abandoned
        if status >= SYSTEM:
            self._running = None  # system common cancels running status
            needed = _COMMON_DATA_LEN.get(status)
            if needed is None:  # 0xF4, 0xF5: undefined
                self._status = None
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
                return  # a data byte with nothing to belong to
            self._status, self._needed = self._running, _channel_data_len(self._running)
        self._data.append(byte)
        if len(self._data) == self._needed:
            out.append((self._status, *self._data))
            self._data = []
            self._status = None
