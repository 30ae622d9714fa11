"""Held keys always come back: a player's CC 123/120 lets go of them, and so does a long silence.

A held key keeps call mode from answering, so a note-off lost in a flood must not hold forever.
The daemon's input thread runs for real; the inbox is fed with chosen arrival times.
"""

from __future__ import annotations

import queue
import threading
import time

import pytest

from livegen.live.clock import ManualClock
from livegen.live.control import Control
from livegen.live.daemon import HELD_KEY_LIMIT_S, Daemon
from livegen.live.ports import InputItem
from livegen.live.serve_config import load_serve_config

from .test_daemon import FakePorts, wait_until


@pytest.fixture
def daemon():
    config = load_serve_config(None, ["timing.realtime_priority=false"])
    inbox: queue.SimpleQueue[InputItem] = queue.SimpleQueue()
    running = Daemon(config, Control(config.knobs), FakePorts(), ManualClock(), inbox)  # type: ignore[arg-type]
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    yield running
    running.request_stop()
    thread.join(5)


def _feed(daemon: Daemon, t_ns: int, *message: int) -> None:
    daemon.inbox.put((t_ns, message))


def _offs(daemon: Daemon) -> set[tuple[int, int]]:
    notes = []
    while True:
        try:
            notes.append(daemon.player_notes.get_nowait())
        except queue.Empty:
            return {(n.channel, n.pitch) for n in notes if n.velocity == 0}


@pytest.mark.parametrize("controller", [123, 120], ids=["all-notes-off", "all-sound-off"])
def test_a_players_all_notes_off_lets_go_of_that_channels_keys(
    daemon: Daemon, controller: int
) -> None:
    now = time.monotonic_ns()
    for channel, pitch in ((0, 60), (0, 64), (3, 67)):
        _feed(daemon, now, 0x90 | channel, pitch, 100)
    assert wait_until(lambda: len(daemon.held_keys) == 3)
    _feed(daemon, now, 0xB0, controller, 0)
    assert wait_until(lambda: daemon.held_keys == {(3, 67)})
    assert _offs(daemon) == {(0, 60), (0, 64)}  # the stream hears the note-offs too
    assert wait_until(lambda: daemon.control.status.held_keys == 1)


def test_a_key_held_past_the_limit_with_no_other_input_stops_counting(daemon: Daemon) -> None:
    now = time.monotonic_ns()
    _feed(daemon, now, 0x90, 60, 100)
    assert wait_until(lambda: daemon.held_keys == {(0, 60)})
    # clock bytes are not the player's input: they do not keep the key alive
    _feed(daemon, now + int((HELD_KEY_LIMIT_S - 1) * 1e9), 0xF8)
    time.sleep(0.05)
    assert daemon.held_keys == {(0, 60)}
    _feed(daemon, now + int((HELD_KEY_LIMIT_S + 1) * 1e9), 0xF8)
    assert wait_until(lambda: not daemon.held_keys)
    assert (0, 60) in _offs(daemon)


def test_other_input_keeps_a_held_key_held(daemon: Daemon) -> None:
    """A pedal tone under a melody: the held key counts as long as the player plays on."""
    now = time.monotonic_ns()
    _feed(daemon, now, 0x90, 36, 100)
    for second in range(1, 3 * int(HELD_KEY_LIMIT_S)):
        t_ns = now + second * 10**9
        _feed(daemon, t_ns, 0x90, 72, 90)
        _feed(daemon, t_ns, 0x80, 72, 0)
    _feed(daemon, now + 3 * int(HELD_KEY_LIMIT_S) * 10**9, 0xF8)
    assert wait_until(lambda: daemon.inbox.empty())
    time.sleep(0.05)
    assert daemon.held_keys == {(0, 36)}
