"""Follow mode through JACK: the daemon hears the player's chords and tells the model (issue 14).

The peer is a DAW and a keyboard: Start and 0xF8 at 120 BPM, then C, F and G major triads held
for a bar each (bars 2-4). The daemon runs `chords = follow` with a model that has CHORD tokens;
at exit its stats report the CHORD tokens in the model's context with their beats. Per bar, the
chord in force from beat 2 on must be the held triad (on the bar line itself the estimate can
only know the notes that came before it; the new triad counts from the next beat). The share of
the accompaniment's note-ons that are tones of the held triad is printed (with the tiny
hand-set model it measures nothing; LIVEGEN_FOLLOW_MODEL names a trained folder to measure).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from livegen.live.jackserver import JackServer
from livegen.tokenizer import TokenizerConfig, TokenKind, Vocab

from .jack_peer import ClockSender, Peer, start_serve, stop_serve, wait_until

pytestmark = [pytest.mark.jack, pytest.mark.slow]

BPM = 120.0
TRIADS = {"C": (60, 64, 67), "F": (65, 69, 72), "G": (67, 71, 74)}
FIRST_BAR = 1  # 0-based: bars 2, 3, 4


@pytest.fixture(scope="module")
def chord_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LIVEGEN_FOLLOW_MODEL, or a tiny model with CHORD tokens set by hand to move time and
    play middle-register notes (a random one rarely moves time)."""
    if os.environ.get("LIVEGEN_FOLLOW_MODEL"):
        return Path(os.environ["LIVEGEN_FOLLOW_MODEL"])
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from livegen.export.tiny import make_liking_model_dir

    tokenizer = TokenizerConfig(structure_tokens=True)
    vocab = Vocab(tokenizer)
    liked = [*vocab.ids_of_kind(TokenKind.TIME_SHIFT), *vocab.ids_of_kind(TokenKind.VELOCITY)]
    liked += [vocab.note_on(p) for p in range(55, 80)] + [vocab.note_off(p) for p in range(55, 80)]
    folder = tmp_path_factory.mktemp("f") / "m"
    return make_liking_model_dir(folder, liked, tokenizer.to_dict(), vocab.size)


def _sleep_until(t_ns: int) -> None:
    while (left := t_ns - time.monotonic_ns()) > 0:
        time.sleep(min(left / 1e9, 0.001))


def _in_force(chords: list[list], beat: float) -> str | None:
    """The chord of the last CHORD token at or before `beat`."""
    before = [name for at, name in chords if at <= beat]
    return before[-1] if before else None


def test_follow_mode_feeds_the_players_chord_per_bar(
    jack_server: JackServer, chord_model_dir: Path, tmp_path: Path
) -> None:
    log, stats = tmp_path / "serve.log", tmp_path / "stats.json"
    process = start_serve(
        jack_server,
        [
            *("--virtual", "lgfollow", "--model", str(chord_model_dir)),
            *("--mode", "accompany", "--clock", "external", "--stats-json", str(stats)),
            *("--set", "output_channel=1", "--set", "chords=follow"),
        ],
        log,
    )
    peer = Peer("follow")
    clock = ClockSender(peer, bpm=BPM)
    try:
        peer.connect("lgfollow")
        clock.start()
        bar_ns = 4 * 24 * clock.period_ns
        for index, name in enumerate(TRIADS):
            bar = FIRST_BAR + index
            _sleep_until(clock.start_ns + bar * bar_ns)
            for pitch in TRIADS[name]:
                peer.send(0x90, pitch, 90)
            _sleep_until(clock.start_ns + (bar + 1) * bar_ns - bar_ns // 48)  # just before
            for pitch in TRIADS[name]:
                peer.send(0x80, pitch, 0)
        _sleep_until(clock.start_ns + (FIRST_BAR + 3) * bar_ns + bar_ns // 4)
        clock.stop()
        wait_until(lambda: any(r.message == (0xB1, 123, 0) for r in peer.received), 2)
    finally:
        code = stop_serve(process)
        peer.close()
    text = log.read_text(errors="replace")
    assert code == 0, text
    chords = json.loads(stats.read_text())["chords"]
    for index, name in enumerate(TRIADS):
        bar_beat = 4.0 * (FIRST_BAR + index)
        for offset in (1.0, 2.0, 3.0):
            assert _in_force(chords, bar_beat + offset) == name, (
                f"bar {FIRST_BAR + index + 1} beat {offset + 1:.0f}: chords fed {chords}"
            )
    # the accompaniment's chord-tone share per bar (by note count), against the held triad
    shares = []
    for index, name in enumerate(TRIADS):
        start = clock.start_ns + (FIRST_BAR + index) * bar_ns
        notes = [r for r in peer.note_ons() if start <= r.t_ns < start + bar_ns]
        tones = [r for r in notes if r.message[1] % 12 in {p % 12 for p in TRIADS[name]}]
        shares.append(f"{name}: {len(tones)}/{len(notes)}")
    print(f"chord-tone share of the accompaniment's note-ons per bar: {', '.join(shares)}")
