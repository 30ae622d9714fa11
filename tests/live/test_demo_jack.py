"""`livegen demo` end to end, as on a fresh machine: no JACK server running beforehand."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import mido
import numpy as np
import pytest

pytestmark = [pytest.mark.jack, pytest.mark.slow]

PROMPT = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi"


# the rtmidi fallback for --virtual (no JACK-Client): its clients outlive the server the demo
# stops, and libjack says so on stderr ("Cannot read socket fd ... CheckRes error ...")
WITHOUT_JACK_CLIENT = (
    "import livegen.live.jack_ports as j; j.load_jack = lambda: None; "
    "from livegen.cli import main; raise SystemExit(main())"
)


def _wav_peak_dbfs(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return 20 * math.log10(np.abs(samples.astype(np.int32)).max() / 32768)


@pytest.mark.parametrize("ports", ["jack-client", "rtmidi-fallback"])
def test_demo_starts_jack_plays_records_and_renders(
    tiny_model_dir: Path, tmp_path: Path, ports: str
) -> None:
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (apt install jackd2)")
    prompt = PROMPT / "piano_bach_score.mid"
    if not prompt.exists():
        pytest.skip(f"test prompt {prompt} not present")
    env = {**os.environ, "JACK_DEFAULT_SERVER": f"nothing-here-{os.getpid()}"}
    out = tmp_path / "demo"
    livegen = ["-m", "livegen"] if ports == "jack-client" else ["-c", WITHOUT_JACK_CLIENT]
    result = subprocess.run(
        [
            sys.executable,
            *livegen,
            "demo",
            "--model",
            str(tiny_model_dir),
            "--prompt",
            str(prompt),
            "--bars",
            "1",
            "--bpm",
            "160",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    report = f"stdout: {result.stdout[-1500:]}\nstderr: {result.stderr[-1500:]}"
    assert result.returncode == 0, report
    assert "started a JACK dummy server" in result.stdout, report
    # stderr is livegen's log and nothing else: no libjack or ALSA lines
    assert all(line.startswith("livegen: ") for line in result.stderr.splitlines()), report
    midi = mido.MidiFile(out / "jam.mid")
    names = [t.name for t in midi.tracks]
    assert names == ["tempo", "player", "livegen"]
    player_ons = [m for m in midi.tracks[1] if m.type == "note_on" and m.velocity]
    assert player_ons, f"the prompt was not played into the daemon\n{report}"
    if shutil.which("fluidsynth") and Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").exists():
        assert (out / "jam.wav").stat().st_size > 44
        assert -1.5 < _wav_peak_dbfs(out / "jam.wav") < -0.5  # normalised: -1 dBFS
        assert sorted(p.name for p in out.iterdir()) == ["jam.mid", "jam.wav"]  # no temp files


def test_demo_without_a_shipped_model_is_one_clear_error(tmp_path: Path) -> None:
    from livegen.inference.model_dir import DEFAULT_MODEL_DIR

    if (DEFAULT_MODEL_DIR / "model.onnx").exists():
        pytest.skip("the default model ships in this checkout")
    result = subprocess.run(
        [sys.executable, "-m", "livegen", "demo", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: the shipped model is missing")
    assert "Traceback" not in result.stderr


def _jackd_pids(server: str) -> list[int]:
    """PIDs of the jackd serving `server` (its command line holds `-n server`)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"jackd") and server.encode() in argv:
            pids.append(int(entry.name))
    return pids


@pytest.mark.parametrize("signame", ["SIGHUP", "SIGTERM"])
def test_a_demo_closed_by_a_signal_stops_the_jackd_it_started(
    tiny_model_dir: Path, tmp_path: Path, signame: str
) -> None:
    """A closed terminal (SIGHUP) stops the demo as SIGTERM does: its own jackd goes too."""
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (apt install jackd2)")
    env = {**os.environ, "JACK_DEFAULT_SERVER": f"nothing-here-{os.getpid()}"}
    args = ["demo", "--model", str(tiny_model_dir), "--bars", "8", "--bpm", "60"]
    demo = subprocess.Popen(
        [sys.executable, "-m", "livegen", *args, "--out", str(tmp_path / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    server = f"livegen-demo-{demo.pid}"
    jackd: list[int] = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:  # click.echo flushes each line
            if line.startswith("playing"):
                break
        jackd = _jackd_pids(server)
        assert len(jackd) == 1, f"no jackd serving {server}"
        demo.send_signal(getattr(signal, signame))
        demo.wait(60)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{jackd[0]}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # reaped by the demo; a leaked one is re-parented and lives on
        assert not _jackd_pids(server), f"{signame} left jackd {jackd[0]} running"
        assert demo.returncode == 0
    finally:
        demo.kill()
        demo.wait(10)
        for pid in _jackd_pids(server):  # what the test started, by PID; SIGTERM lets jackd
            os.kill(pid, signal.SIGTERM)  # leave JACK's registry of servers (8 at most)
