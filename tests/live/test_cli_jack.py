"""`livegen ports` and `livegen bench --live` through JACK (the benchmark's numbers are not judged
here: timing goals live in the benchmark's report, not in tests)."""

from __future__ import annotations

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
