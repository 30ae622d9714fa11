"""`livegen serve --model HIER_FOLDER` plays in every mode through a real JACK server.

The daemon rolls the engine back on every player note; with a hierarchical model that is the
two-level cache (livegen/inference/hier_runner.py). A peer plays a phrase into the daemon's
virtual port and records what comes out: the model answers, on its channel, and leaves nothing
sounding when stopped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from livegen.live.jackserver import JackServer

from .jack_peer import Peer, balance, start_serve, stop_serve, wait_until

pytestmark = [pytest.mark.jack, pytest.mark.slow]


@pytest.fixture(scope="module")
def hier_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tiny = pytest.importorskip("livegen.export.tiny", reason="export extra (torch) not installed")
    return tiny.make_tiny_hier_model_dir(tmp_path_factory.mktemp("hier") / "model", context=1024)


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


@pytest.mark.parametrize("mode", ["call", "accompany", "continue"])
def test_a_hierarchical_model_plays_in_every_mode(
    mode: str, jack_server: JackServer, hier_model_dir: Path, tmp_path: Path
) -> None:
    name = f"lghier{mode[:3]}"
    peer = Peer(f"peer{name}")
    log, stats = tmp_path / "serve.log", tmp_path / "stats.json"
    # density 4: the tiny random model's one-bar answer has notes whatever its draws
    knobs = ["--set", "output_channel=5", "--set", "answer_bars=1", "--set", "density=4"]
    knobs += ["--stats-json", str(stats)]
    process = start_serve(
        jack_server,
        ["--virtual", name, "--model", str(hier_model_dir), "--mode", mode, "--bpm", "180", *knobs],
        log,
    )
    try:
        assert wait_until(lambda: "serving" in _log(log), 60), _log(log)  # load 10+ here
        peer.connect(name)
        time.sleep(0.3)
        for i in range(24):  # two bars of eighths at 180 BPM, each one a rollback
            pitch = 60 + (i * 7) % 12
            peer.send(0x90, pitch, 90)
            time.sleep(0.08)
            peer.send(0x80, pitch, 0)
            time.sleep(0.08)
        assert wait_until(lambda: len(peer.note_ons()) >= 1, 10), _log(log)
    finally:
        code = stop_serve(process)
        peer.close()
    assert code == 0, _log(log)
    channels = {r.message[0] & 0x0F for r in peer.received if r.message[0] & 0xF0 in (0x80, 0x90)}
    assert channels == {5}
    assert balance(peer.received) == {}, "a note was left sounding"
    assert "Traceback" not in _log(log)
    report = json.loads(stats.read_text())
    if mode == "call":  # the model waits for the phrase's end: nothing written ahead to undo
        assert report["tokens"] >= 1, report
    else:  # it plays along: each player note lands in what it had written, which is rolled back
        assert report["replans"] >= 12 and report["rollback_tokens"] >= 12, report
