"""Trading bars through JACK under a DAW's MIDI clock (issue 13, point 2, measured).

The peer plays the DAW: Start, then 0xF8 at 120 BPM from a thread on absolute deadlines, and a
two-bar call on beats 1..8 of bars 2-3, each note released just before the next beat, the last
one 1/12 beat before the bar line of bar 4, trading twos (answer_bars = 2). A musician answers on
that downbeat, not on bar 3's (the call had a bar to go); so must the daemon: its first answer
note at or after the downbeat of bar 4 and at most one bar after the last release.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from livegen.live.jackserver import JackServer

from .jack_peer import ClockSender, Peer, balance, start_serve, stop_serve, wait_until

pytestmark = [pytest.mark.jack, pytest.mark.slow]

BPM = 120.0
RELEASE_BEATS = 11 / 12  # each note is let go this far into its beat


def _sleep_until(t_ns: int) -> None:
    while (left := t_ns - time.monotonic_ns()) > 0:
        time.sleep(min(left / 1e9, 0.001))


def test_a_two_bar_call_is_answered_on_the_next_downbeat_under_external_clock(
    jack_server: JackServer, tiny_model_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    process = start_serve(
        jack_server,
        [
            *("--virtual", "lgtrade", "--model", str(tiny_model_dir)),
            *("--mode", "call", "--clock", "external"),
            *("--set", "output_channel=0", "--set", "answer_bars=2", "--set", "density=4"),
        ],
        log,
    )
    peer = Peer("trade")
    clock = ClockSender(peer, bpm=BPM)
    try:
        peer.connect("lgtrade")
        clock.start()
        beat_ns = 24 * clock.period_ns
        bar_ns = 4 * beat_ns
        last_release_ns = 0
        for beat in range(4, 12):  # beats 1..8 of bars 2-3 (0-based beats 4..11)
            pitch = 60 + (0, 2, 4, 5, 7, 5, 4, 2)[beat - 4]
            _sleep_until(clock.start_ns + beat * beat_ns)
            peer.send(0x90, pitch, 100)
            _sleep_until(clock.start_ns + round((beat + RELEASE_BEATS) * beat_ns))
            peer.send(0x80, pitch, 0)
            last_release_ns = time.monotonic_ns()
        answered = wait_until(lambda: len(peer.note_ons()) >= 1, 2 * bar_ns / 1e9)
        _sleep_until(clock.start_ns + 5 * bar_ns + beat_ns)  # the two-bar answer is over
        clock.stop()
        assert wait_until(lambda: any(r.message == (0xB0, 123, 0) for r in peer.received), 2)
    finally:
        code = stop_serve(process)
        peer.close()
    text = log.read_text(errors="replace")
    assert code == 0, text
    assert answered, f"no answer within two bars of the call\n{text}"
    first_ns = min(r.t_ns for r in peer.note_ons())
    downbeat_ns = clock.start_ns + 3 * bar_ns  # bar 4
    after_release_beats = (first_ns - last_release_ns) / beat_ns
    # the DAW's clock reaches the daemon through one JACK cycle (5.3 ms here): a few ms of slack
    assert first_ns >= downbeat_ns - 10_000_000, (
        f"answered {(downbeat_ns - first_ns) / 1e6:.1f} ms before the downbeat of bar 4"
    )
    assert after_release_beats <= 4.0, (
        f"first answer note {after_release_beats:.2f} beats after the last release (goal <= 1 bar)"
    )
    print(
        f"first answer note {after_release_beats:.3f} beats after the last release, "
        f"{(first_ns - downbeat_ns) / 1e6:+.1f} ms from the downbeat of bar 4"
    )
    assert balance(peer.received) == {}
