"""Note-offs after a missed JACK cycle: what an xrun may have lost is written again.

The ledger's rules with plain frame numbers, then a real native JACK client made to miss cycles,
with each process callback: the C one sleeps in its thread for a few hundred ms (an overloaded
machine), the Python one is held off by this thread keeping the GIL; the first cycle after writes
the note-off again.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
import rtmidi

from livegen.live import jack_rt
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


def _jack_with_callback(callback: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """JACK-Client, with the next client's process callback in C or in Python (else skip)."""
    jack = load_jack()
    if jack is None:
        pytest.skip("JACK-Client or libjack missing")
    if callback == "python":
        monkeypatch.setenv(jack_rt.CALLBACK_ENV, "python")
    elif jack_rt.unavailable_reason() is not None:
        pytest.skip(f"the C process callback is {jack_rt.unavailable_reason()}")
    return jack


@pytest.mark.jack
@pytest.mark.parametrize("callback", ["c", "python"])
def test_after_missed_cycles_the_client_writes_its_note_off_again(
    jack_server: JackServer, callback: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    jack = _jack_with_callback(callback, monkeypatch)
    shared = JackVirtualClient(jack, "lgxrun", lambda t_ns, message: None)
    assert shared.callback == callback
    listener = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="xrun-listener")
    try:
        listener.open_port(listener.get_ports().index("lgxrun:out"))
        shared.wait_first_cycle(5)
        time.sleep(0.1)
        shared.send(list(OFF))
        while shared.pending_out():  # written into a cycle's buffer
            time.sleep(0.0002)
        missed = shared.missed_cycles
        shared.stall_next_cycle(0.3)
        time.sleep(0.4)
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


SENDER = """
import sys, time, rtmidi
out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="lgbusy-tx")
out.open_virtual_port("out")
print("ready", flush=True)
sys.stdin.readline()
for index in range(int(sys.argv[1])):
    out.send_message([0x90 | index % 16, index % 128, 1 + index % 127])
    if index % 16 == 15:
        time.sleep(0.01)
time.sleep(0.1)
"""


@pytest.mark.jack
@pytest.mark.parametrize("callback", ["c", "python"])
def test_input_arrives_whole_while_python_is_busy_only_with_the_c_callback(
    jack_server: JackServer, callback: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's Python threads hold the GIL for milliseconds at a time (decoding, sampling,
    planning). The Python process callback must wait for it in every JACK cycle, and a cycle it
    misses loses its input; the C callback does not wait. Here this process holds the GIL in
    0.3 s stretches while another process sends 1,200 notes (16 per 10 ms) into the client."""
    import subprocess
    import sys

    jack = _jack_with_callback(callback, monkeypatch)
    arrived: list[tuple[int, tuple[int, ...]]] = []
    shared = JackVirtualClient(
        jack, "lgbusy", lambda t_ns, message: arrived.append((t_ns, message))
    )
    count = 1200
    sender = subprocess.Popen(
        [sys.executable, "-c", SENDER, str(count)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=jack_server.env,
    )  # fmt: skip
    try:
        assert sender.stdout is not None and sender.stdout.readline().strip() == "ready"
        shared.client.connect("lgbusy-tx:out", "lgbusy:in")
        shared.wait_first_cycle(5)
        assert sender.stdin is not None
        sender.stdin.write("go\n")
        sender.stdin.flush()
        while sender.poll() is None:
            sum(range(10**7))  # one C call: this process's GIL, held for ~0.3 s
        time.sleep(0.3)
    finally:
        sender.kill()
        sender.wait(5)
        shared._users = 1
        shared.release()
    if callback == "c":
        assert shared.events_in == count
        assert len(arrived) == count
        assert [m for _, m in arrived] == [
            (0x90 | i % 16, i % 128, 1 + i % 127) for i in range(count)
        ], "messages arrived out of order or changed"
        assert all(a[0] <= b[0] for a, b in itertools.pairwise(arrived))
    else:  # the limitation the C callback exists for
        assert shared.missed_cycles > 0
        assert len(arrived) < count
