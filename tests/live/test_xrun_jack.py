"""Note-offs after a missed JACK cycle: what an xrun may have lost is written again.

The ledger's rules with plain frame numbers, then a real native JACK client made to miss cycles:
this process holds the GIL in one long C call, so the client's process callback (Python, needing
the GIL) cannot run for a few hundred ms; the first cycle after writes the note-off again.
"""

from __future__ import annotations

import time

import pytest
import rtmidi

from livegen.live.jack_ports import JackVirtualClient, NoteOffLedger, load_jack
from livegen.live.jackserver import JackServer

OFF = bytes([0x80, 60, 0])
ON = bytes([0x90, 60, 100])
ZERO_VELOCITY_OFF = bytes([0x91, 64, 0])
ALL_NOTES_OFF = bytes([0xB0, 123, 0])


def test_a_gap_owes_the_note_offs_written_just_before_it() -> None:
    ledger = NoteOffLedger(window_frames=4 * 256)
    ledger.written(0, OFF)
    ledger.written(0, bytes([0x90, 62, 90]))  # a note-on on another key: nothing to owe
    ledger.written(2048, ZERO_VELOCITY_OFF)
    ledger.written(2304, ALL_NOTES_OFF)
    assert ledger.owed(2304) == [ZERO_VELOCITY_OFF, ALL_NOTES_OFF]  # frame 0 is too long ago
    assert ledger.owed(10_000) == []


def test_a_key_struck_again_is_not_ended_by_a_resent_note_off() -> None:
    ledger = NoteOffLedger(window_frames=4 * 256)
    ledger.written(0, OFF)
    ledger.written(0, ALL_NOTES_OFF)
    ledger.written(256, ON)  # the same key again: neither may be written again after a gap
    ledger.written(256, bytes([0x81, 60, 0]))  # another channel's note-off stays owed
    assert ledger.owed(256) == [bytes([0x81, 60, 0])]


@pytest.mark.jack
def test_after_missed_cycles_the_client_writes_its_note_off_again(
    jack_server: JackServer,
) -> None:
    jack = load_jack()
    if jack is None:
        pytest.skip("JACK-Client or libjack missing")
    shared = JackVirtualClient(jack, "lgxrun", lambda t_ns, message: None)
    listener = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="xrun-listener")
    try:
        listener.open_port(listener.get_ports().index("lgxrun:out"))
        shared.first_cycle.wait(5)
        time.sleep(0.1)
        shared.send(list(OFF))
        while shared._pending:  # written into a cycle's buffer
            time.sleep(0.0002)
        missed = shared.missed_cycles
        sum(range(10**7))  # one C call: holds the GIL for ~0.3 s, the client's callback waits
        time.sleep(0.2)
        received = []
        while (event := listener.get_message()) is not None:
            received.append(bytes(event[0]))
    finally:
        listener.delete()
        shared._users = 1
        shared.release()
    assert shared.missed_cycles > missed, "the client missed no cycle: nothing was tested"
    assert shared.resent_offs >= 1
    assert received.count(OFF) >= 2, received  # written, then written again after the gap
