"""The live vary move through a real JACK server: `livegen serve` as a subprocess with a
smoke-trained VAE as its vary model, a peer that sends MIDI clock, plays a bar and presses the
vary controller, and records what comes back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from livegen.live.jackserver import JackServer

from .jack_peer import (
    ClockSender,
    Peer,
    balance,
    left_sounding,
    start_serve,
    stop_serve,
    wait_until,
)

pytestmark = [pytest.mark.jack, pytest.mark.slow]

VARY_CC = 80  # configs/serve/default.toml's [vary] cc
VARY_CHANNEL = 5  # the variation's channel here, apart from the accompaniment on channel 0
BEATS_PER_BAR = 4


@pytest.fixture
def peer(jack_server: JackServer):
    p = Peer("varypeer")
    yield p
    p.close()


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def test_a_played_bar_comes_back_varied_from_the_next_bar_line_with_every_note_closed(
    jack_server: JackServer, peer: Peer, tiny_model_dir: Path, variation_model_dir, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    process = start_serve(
        jack_server,
        ["--virtual", "lgvary", "--model", str(tiny_model_dir), "--mode", "accompany",
         "--clock", "external", "--set", "output_channel=0",
         "--set", f"vary_model={str(variation_model_dir('vae'))!r}",
         "--set", f"vary.channel={VARY_CHANNEL}"],
        log,
    )  # fmt: skip
    clock = ClockSender(peer, bpm=150)
    try:
        peer.connect("lgvary")
        clock.start()
        beat_ns = 24 * clock.period_ns
        bar_ns = BEATS_PER_BAR * beat_ns

        def at(beat: float) -> None:
            wait_until(lambda: time.monotonic_ns() >= clock.start_ns + beat * beat_ns, 30, 0.001)

        # bar 2 (the follower has locked on the tempo during bar 1): eight 16th notes
        played_ns = []
        for i, pitch in enumerate((60, 64, 67, 72, 71, 67, 64, 62)):
            at(4 + i / 4)
            peer.send(0x90, pitch, 100)
            played_ns.append(time.monotonic_ns())
            at(4 + i / 4 + 0.125)
            peer.send(0x80, pitch, 0)
        # in bar 2's second half, bar 3's line the nearest: the press varies bar 2, heard in bar
        # 3. Pressed 0.4 beats before the line (160 ms), a CI machine at load left the daemon too
        # little time to vary and schedule it (stop 25: "from bar 4" after 83 missed JACK cycles,
        # three runs of three); the rule that moves it on a bar then is the product's, not tested
        at(6.5)
        peer.send(0xB0, VARY_CC, 127)
        at(6.6)
        peer.send(0xB0, VARY_CC, 0)
        for beat in (8.5, 9.5, 10.5, 11.5):  # playing on: every note re-plans the accompaniment
            at(beat)
            peer.send(0x90, 48, 90)
            at(beat + 0.25)
            peer.send(0x80, 48, 0)
        at(12.5)  # bar 3 is over
        varied = [r for r in peer.note_ons() if r.message[0] & 0x0F == VARY_CHANNEL]
        closed = balance([r for r in peer.received if r.message[0] & 0x0F == VARY_CHANNEL])
        clock.stop()  # transport stop: all notes off on every channel used
        assert wait_until(
            lambda: any(r.message == (0xB0 | VARY_CHANNEL, 123, 0) for r in peer.received), 2
        )
    finally:
        code = stop_serve(process)
    assert code == 0, _log(log)
    assert "come back varied from bar 3" in _log(log), _log(log)
    assert varied, _log(log)
    first = min(r.t_ns for r in varied) - clock.start_ns
    last = max(r.t_ns for r in varied) - clock.start_ns
    assert first >= 2 * bar_ns - 0.03e9, f"variation began at {first / beat_ns:.2f} beats"
    assert last < 3 * bar_ns + 0.03e9, f"variation ran to {last / beat_ns:.2f} beats"
    # same feel ([vary] keep_rhythm): each played note comes back one bar later, pitch varied
    assert len(varied) == 8, [r.message for r in varied]
    for sent, heard in zip(played_ns, sorted(r.t_ns for r in varied), strict=True):
        assert abs(heard - (sent + bar_ns)) < 0.03e9, f"{(heard - sent - bar_ns) / 1e6:.1f} ms off"
    heard = [
        (round((r.t_ns - clock.start_ns) / beat_ns, 3), r.message)
        for r in peer.received
        if r.message[0] & 0x0F == VARY_CHANNEL
    ]
    assert closed == {}, f"left sounding at the end of the bar: {closed}; heard {heard}"
    assert left_sounding(peer.received) == set()


def test_without_a_vary_model_the_controller_gets_one_line_and_nothing_plays(
    jack_server: JackServer, peer: Peer, tiny_model_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    process = start_serve(
        jack_server,
        ["--virtual", "lgnovary", "--model", str(tiny_model_dir), "--mode", "call",
         "--set", f"vary.channel={VARY_CHANNEL}"],
        log,
    )  # fmt: skip
    try:
        peer.connect("lgnovary")
        peer.send(0x90, 60, 100)
        peer.send(0x80, 60, 0)
        peer.send(0xB0, VARY_CC, 127)
        assert wait_until(lambda: "no variation model" in _log(log), 10), _log(log)
    finally:
        code = stop_serve(process)
    assert code == 0, _log(log)
    assert "Traceback" not in _log(log)
    assert not [r for r in peer.note_ons() if r.message[0] & 0x0F == VARY_CHANNEL]
