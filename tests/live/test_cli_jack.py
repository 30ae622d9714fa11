"""`livegen ports` and `livegen bench --live` through JACK (the benchmark's numbers are not judged
here: timing goals live in the benchmark's report, not in tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rtmidi
from click.testing import CliRunner

from livegen.bench.live_bench import LiveBenchOptions, onset_offsets_ms, run_live_bench
from livegen.cli import cli
from livegen.live.jackserver import JackServer
from livegen.machine import cpu_info

pytestmark = pytest.mark.jack


def test_ports_lists_both_directions(jack_server: JackServer) -> None:
    keys = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="lglist")
    keys.open_virtual_port("keys")
    try:
        result = CliRunner().invoke(cli, ["ports", "--backend", "jack"])
    finally:
        keys.delete()
    assert result.exit_code == 0, result.output
    inputs, _ = result.output.split("outputs")
    assert "lglist:keys" in inputs  # a keyboard's output is an input for livegen


def test_onset_offsets_are_measured_from_the_nearest_tick() -> None:
    ticks = [0, 10_000_000, 20_000_000]
    offsets = onset_offsets_ms(ticks, [1_000_000, 9_000_000, 26_000_000])
    assert list(offsets) == [1.0, -1.0, 6.0]


@pytest.mark.slow
def test_live_bench_reports_every_number(jack_server: JackServer, tiny_model_dir: Path) -> None:
    options = LiveBenchOptions(
        model=str(tiny_model_dir), seconds=3, gil_seconds=0.5, server=jack_server.name
    )
    result = run_live_bench(options, echo=lambda _: None)
    assert result["player_notes"] > 0
    daemon = result["daemon"]
    for key in ("late_notes", "dropped_notes", "send_lateness_ms", "note_to_ready_ms"):
        assert key in daemon
    assert daemon["note_to_ready_ms"]["n"] > 0  # every player note was re-planned around
    assert result["gil"]["decode_steps"] > 0
    assert result["machine"]["describe"] == cpu_info().describe()


@pytest.mark.slow
def test_a_live_bench_ended_by_sigterm_stops_its_daemon_and_its_jack_server(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    # `timeout` ends a command with SIGTERM: the bench must take its daemon and its private
    # jackd with it (Python's default for SIGTERM is to die on the spot, leaving both running)
    log = tmp_path / "bench.log"
    with log.open("wb") as out:
        bench = subprocess.Popen(
            [sys.executable, "-m", "livegen", "bench", "--live", "--seconds", "60",
             "--model", str(tiny_model_dir)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while b"bench: 60 s" not in log.read_bytes() and time.monotonic() < deadline:
            assert bench.poll() is None, log.read_text(errors="replace")
            time.sleep(0.1)
        children = _children(bench.pid)
        assert {"jackd", "python"} <= {name for _, name in children}, children
        bench.send_signal(signal.SIGTERM)
        code = bench.wait(30)
    finally:
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
    left = [(pid, name) for pid, name in children if _alive(pid)]
    for pid, _ in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], log.read_text(errors="replace")
    assert code == 130, log.read_text(errors="replace")
    assert "Traceback" not in log.read_text(errors="replace")


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command name) of `pid`'s child processes, from /proc."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append((int(status.parent.name), fields["Name"].strip()))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
