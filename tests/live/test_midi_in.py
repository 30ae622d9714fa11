"""Input parsing: any byte stream becomes well-formed messages or nothing, never an exception."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livegen.live.midi_in import MidiByteParser
from livegen.music.midi import ControlIn, NoteIn, classify


@pytest.mark.parametrize(
    "chunks, expected",
    [
        ([[0x90, 60, 100]], [(0x90, 60, 100)]),
        ([[0x90, 60, 100, 62, 90, 60, 0]], [(0x90, 60, 100), (0x90, 62, 90), (0x90, 60, 0)]),
        ([[0x90, 60], [100, 62, 90]], [(0x90, 60, 100), (0x90, 62, 90)]),  # split packets
        ([[0x90, 60, 0xF8, 100]], [(0xF8,), (0x90, 60, 100)]),  # real-time inside a message
        ([[0xF0, 1, 2, 3], [4, 0xF7, 0x80, 60, 0]], [(0x80, 60, 0)]),  # SysEx split, ignored
        ([[60, 100, 0x90, 61, 1]], [(0x90, 61, 1)]),  # stray data before any status
        ([[0x90, 60, 0xB0, 7, 99]], [(0xB0, 7, 99)]),  # truncated message abandoned
        ([[0xC3, 5, 6]], [(0xC3, 5), (0xC3, 6)]),  # program change: one data byte
        ([[0x90, 60, 100, 0xF2, 8, 0, 64, 64]], [(0x90, 60, 100), (0xF2, 8, 0)]),
        ([[0xF4, 1, 2, 0xFA]], [(0xFA,)]),  # undefined status and its bytes dropped
        ([[0x90, 60, 100, 0xF7, 62, 90]], [(0x90, 60, 100)]),  # stray EOX cancels running status
    ],
)
def test_parser_reassembles_messages(chunks: list[list[int]], expected: list[tuple]) -> None:
    parser = MidiByteParser()
    got = [message for chunk in chunks for message in parser.feed(chunk)]
    assert got == expected


@given(st.lists(st.integers(min_value=0, max_value=255), max_size=400))
def test_parser_never_raises_and_emits_well_formed_messages(stream: list[int]) -> None:
    for message in MidiByteParser().feed(stream):
        assert message[0] >= 0x80
        assert all(b < 0x80 for b in message[1:])


def test_note_on_with_velocity_zero_is_a_note_off() -> None:
    assert classify((0x93, 60, 0)) == NoteIn(3, 60, 0)
    assert classify((0x83, 60, 64)) == NoteIn(3, 60, 0)
    assert classify((0x93, 60, 1)) == NoteIn(3, 60, 1)
    assert classify((0xB1, 64, 127)) == ControlIn(1, 64, 127)
    assert classify((0xE0, 0, 64)) is None


def test_a_flood_of_random_bytes_is_survived() -> None:
    rng = random.Random(5)
    parser = MidiByteParser()
    count = sum(len(parser.feed(rng.randbytes(64))) for _ in range(2_000))
    assert count > 0


def _message(status: int, draw: st.DrawFn) -> tuple[int, ...]:
    data = st.integers(min_value=0, max_value=0x7F)
    if status < 0xF0:
        count = 1 if status & 0xF0 in (0xC0, 0xD0) else 2
    else:
        count = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0}.get(status, 0)
    return (status, *(draw(data) for _ in range(count)))


@st.composite
def messages(draw: st.DrawFn) -> list[tuple[int, ...]]:
    """Well-formed messages, each with its own status byte (no running status to lean on)."""
    statuses = st.one_of(
        st.integers(min_value=0x80, max_value=0xEF),
        st.sampled_from([0xF1, 0xF2, 0xF3, 0xF6, 0xF8, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF]),
    )
    return [_message(status, draw) for status in draw(st.lists(statuses, max_size=20))]


@given(st.lists(st.integers(min_value=0, max_value=255), max_size=200), messages())
def test_any_garbage_resynchronises_at_the_next_status_byte(
    garbage: list[int], wanted: list[tuple[int, ...]]
) -> None:
    """Truncated messages, stray data, unfinished SysEx, undefined status bytes: whatever came
    before, the messages that follow come out whole and exactly."""
    parser = MidiByteParser()
    parser.feed(garbage)
    assert parser.feed([byte for message in wanted for byte in message]) == wanted


@given(st.lists(st.integers(min_value=0, max_value=255), max_size=300), st.data())
def test_how_bytes_are_split_into_packets_does_not_matter(
    stream: list[int], data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    parser = MidiByteParser()
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    split = [message for piece in pieces for message in parser.feed(piece)]
    assert split == MidiByteParser().feed(stream)


@given(st.lists(st.integers(min_value=0, max_value=255), max_size=400))
def test_every_message_has_its_status_length(stream: list[int]) -> None:
    for message in MidiByteParser().feed(stream):
        assert len(message) == len(_message(message[0], lambda _: 0))
