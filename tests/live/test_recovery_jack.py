"""The daemon comes back from garbage: a flood through JACK, then a phrase, must get an answer.

Issue 13's reproduction, exactly: 20,000 messages in about 3 s (60% note-on on random channels and
pitches, velocity 0 or random; 15% note-off; 10% clock; 5% short SysEx; 5% controllers; 5% one to
three random bytes), a note-off for every channel and pitch (16 per 10 ms), then an eight-note
phrase on channel 1 in call mode. Before the fix the daemon never answered again in 3 of 4 runs.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from livegen.live.jackserver import JackServer

from .jack_peer import Peer, balance, start_serve, stop_serve, wait_until

pytestmark = [pytest.mark.jack, pytest.mark.slow]


def _flood(peer: Peer, rng: random.Random, count: int) -> None:
    sent = 0
    while sent < count:
        for _ in range(67):  # ~6,700 a second
            kind = rng.random()
            if kind < 0.60:
                velocity = rng.choice([0, rng.randrange(1, 128)])
                peer.send(0x90 | rng.randrange(16), rng.randrange(128), velocity)
            elif kind < 0.75:
                peer.send(0x80 | rng.randrange(16), rng.randrange(128), rng.randrange(128))
            elif kind < 0.85:
                peer.send(0xF8)
            elif kind < 0.90:
                peer.send(0xF0, *[rng.randrange(128) for _ in range(rng.randrange(1, 8))], 0xF7)
            elif kind < 0.95:
                peer.send(0xB0 | rng.randrange(16), rng.randrange(128), rng.randrange(128))
            else:
                peer.send(*[rng.randrange(256) for _ in range(rng.randrange(1, 4))])
            sent += 1
        time.sleep(0.01)


def test_after_a_flood_the_daemon_answers_the_next_phrase(
    jack_server: JackServer, tiny_model_dir: Path, tmp_path: Path
) -> None:
    log, stats = tmp_path / "serve.log", tmp_path / "stats.json"
    process = start_serve(
        jack_server,
        [
            *("--backend", "jack", "--virtual", "lgflood", "--model", str(tiny_model_dir)),
            *("--mode", "call", "--clock", "internal", "--bpm", "120"),
            *("--stats-json", str(stats)),
        ],
        log,
    )
    peer = Peer("flood")
    try:
        peer.connect("lgflood")
        _flood(peer, random.Random(13), 20_000)
        for index in range(16 * 128):
            peer.send(0x80 | index // 128, index % 128, 0)
            if index % 16 == 15:
                time.sleep(0.01)
        time.sleep(0.5)
        before = len(peer.note_ons())
        for pitch in (60, 62, 64, 65, 67, 65, 64, 62):
            peer.send(0x90, pitch, 90)
            time.sleep(0.2)
            peer.send(0x80, pitch, 0)
            time.sleep(0.05)
        # a note-off lost in the flood is let go after HELD_KEY_LIMIT_S (8 s): answered by then
        answered = wait_until(lambda: len(peer.note_ons()) > before, 20)
        assert process.poll() is None, log.read_text(errors="replace")
    finally:
        code = stop_serve(process)
        peer.close()
    text = log.read_text(errors="replace")
    assert answered, text
    assert code == 0, text
    assert "Traceback" not in text
    assert wait_until(lambda: balance(peer.received) == {}, 2), "a note was left sounding"
    report = json.loads(stats.read_text())
    assert report["tokens"] > 0 and report["notes_sent"] > 0
    assert report["messages_in"] > 15_000  # most of the flood reached the parser
