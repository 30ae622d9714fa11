"""A band through JACK (issue 13, point 4): `serve --set parts=...` as a DAW would hear it.

The peer connects after the daemon started, as a user wiring a DAW does: the program changes
that went out at the stream's start must come again, before any note reaches it."""

from __future__ import annotations

from pathlib import Path

import pytest

from livegen.live.jackserver import JackServer

from .jack_peer import Peer, balance, start_serve, stop_serve, wait_until

pytestmark = [pytest.mark.jack, pytest.mark.slow]


def test_the_band_sends_its_programs_then_plays_only_its_channels(
    jack_server: JackServer, tiny_model_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    process = start_serve(
        jack_server,
        [
            *("--virtual", "lgband", "--model", str(tiny_model_dir), "--mode", "continue"),
            *("--set", "parts=bass:33,drums,keys:1", "--set", "output_channel=1"),
            *("--set", "density=4", "--bpm", "200"),
        ],
        log,
    )
    peer = Peer("band")
    try:
        peer.connect("lgband")
        assert wait_until(lambda: len(peer.note_ons()) >= 30, 30), log.read_text()
    finally:
        code = stop_serve(process)
        peer.close()
    assert code == 0, log.read_text()
    messages = [r.message for r in peer.received]
    programs = [m for m in messages if len(m) == 2 and m[0] & 0xF0 == 0xC0]
    assert programs[:2] == [(0xC1, 32), (0xC2, 0)], messages[:5]  # bass (GM 33), keys (GM 1)
    first_note = next(i for i, m in enumerate(messages) if len(m) == 3 and m[0] & 0xF0 == 0x90)
    assert messages.index((0xC1, 32)) < first_note  # the instruments are set before any note
    channels = {r.message[0] & 0x0F for r in peer.note_ons()}
    assert channels <= {1, 2, 9}, channels  # (which parts the random model picks: test_parts)
    assert balance(peer.received) == {}
