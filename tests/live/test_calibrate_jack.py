"""`livegen calibrate` through a real JACK server: a loopback the user wires, the stored send-ahead.

The command runs as a subprocess with its own virtual ports; the test plays the user, wiring
NAME:out back to NAME:in with jack_connect. Without the wire it must end in one line saying how.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from livegen.live.jackserver import JackServer
from livegen.live.serve_config import CONFIG_DIR, load_serve_config

pytestmark = [pytest.mark.jack, pytest.mark.slow]


def _calibrate(server: JackServer, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "livegen", "calibrate", "--backend", "jack", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**server.env, "PYTHONUNBUFFERED": "1"},
    )


def _wire(server: JackServer, source: str, destination: str, timeout_s: float = 30.0) -> None:
    """jack_connect, retried until the command's ports exist."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["jack_connect", source, destination], env=server.env, capture_output=True
        )
        if done.returncode == 0:
            return
        time.sleep(0.1)
    raise TimeoutError(f"could not connect {source} to {destination}")


def test_calibrate_times_the_jack_loopback_and_stores_it_keeping_the_comments(
    jack_server: JackServer, tmp_path: Path
) -> None:
    if shutil.which("jack_connect") is None:
        pytest.skip("jack_connect is not installed")
    config = tmp_path / "studio.toml"
    shutil.copy(CONFIG_DIR / "default.toml", config)
    process = _calibrate(
        jack_server, "--virtual", "lgcal", "--config", str(config), "--probes", "20"
    )
    try:
        _wire(jack_server, "lgcal:out", "lgcal:in")
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    latency_ms = tomllib.loads(config.read_text())["timing"]["latency_ms"]
    # JACK delivers a message written in one cycle in the next: the dummy driver's 256 frames at
    # 48 kHz are 5.3 ms, so the loop takes up to two periods
    assert 0.0 < latency_ms <= 2 * 256 / 48 + 5, output
    assert f"timing.latency_ms = {latency_ms:.1f} stored in {config}" in output
    assert "# mod wheel" in config.read_text()  # the file's comments are still there
    assert load_serve_config(str(config)).timing.latency_ms == latency_ms  # serve reads it


def test_calibrate_without_a_loopback_is_one_line_saying_how_to_wire_it(
    jack_server: JackServer, tmp_path: Path
) -> None:
    config = tmp_path / "new.toml"
    process = _calibrate(
        jack_server, "--virtual", "lgnoloop", "--config", str(config), "--wait", "1"
    )
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1, output
    assert "Traceback" not in output
    error = output.strip().splitlines()[-1]
    assert error.startswith("error: no loopback answered within 1 s"), output
    assert "jack_connect 'lgnoloop:out' 'lgnoloop:in'" in error
    assert not config.exists()  # nothing stored
