"""The JACK tests' accounting of what a peer heard: a note is left sounding until ended, and the
surplus note-offs the daemon writes after a missed JACK cycle neither fail a test nor hide a
later stuck note."""

from __future__ import annotations

from .jack_peer import Received, balance, left_sounding


def _heard(*messages: tuple[int, int, int]) -> list[Received]:
    return [Received(i, m) for i, m in enumerate(messages)]


def test_an_ended_note_is_balanced_even_with_its_note_off_written_again() -> None:
    heard = _heard((0x90, 60, 100), (0x80, 60, 0), (0x80, 60, 0), (0x80, 60, 0))
    assert balance(heard) == {}
    assert left_sounding(heard) == set()


def test_a_surplus_note_off_does_not_cancel_a_later_note_on() -> None:
    heard = _heard((0x90, 60, 100), (0x80, 60, 0), (0x80, 60, 0), (0x90, 60, 90))
    assert balance(heard) == {(0, 60): 1}
    assert left_sounding(heard) == {(0, 60)}


def test_a_note_on_with_velocity_zero_ends_a_note_and_all_notes_off_ends_a_channel() -> None:
    assert balance(_heard((0x91, 64, 80), (0x91, 64, 0))) == {}
    assert left_sounding(_heard((0x92, 64, 80), (0x92, 67, 80), (0xB2, 123, 0))) == set()
    assert left_sounding(_heard((0x92, 64, 80), (0xB3, 123, 0))) == {(2, 64)}
