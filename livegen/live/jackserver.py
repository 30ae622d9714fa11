"""Starts and stops a private JACK server with the dummy driver (demo, tests, live benchmark)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from livegen.errors import PortError
from livegen.live import jack_registry
from livegen.live.child_process import ending_with_parent


@dataclass
class JackServer:
    name: str
    process: subprocess.Popen[bytes] | None  # None: a server that was already running
    log_path: Path | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment for client processes: talk to this server."""
        return {**os.environ, "JACK_DEFAULT_SERVER": self.name}

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def server_running(name: str | None = None) -> bool:
    """Whether a JACK server accepts clients (the default one, or `name`)."""
    jack_lsp = shutil.which("jack_lsp")
    if jack_lsp is None:
        return False
    env = dict(os.environ)
    if name is not None:
        env["JACK_DEFAULT_SERVER"] = name
    result = subprocess.run(
        [jack_lsp], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10
    )
    return result.returncode == 0


def start_dummy_server(
    name: str, *, rate: int = 48000, period: int = 256, timeout_s: float = 15.0
) -> JackServer:
    """Start `jackd -n NAME -d dummy` and wait until it accepts clients.

    When JACK's registry of 8 servers is full of servers that were killed (see `jack_registry`),
    their slots are reclaimed first, so a machine's past crashes do not stop every later start.
    """
    jackd = shutil.which("jackd")
    if jackd is None:
        raise PortError("jackd is not installed; on Debian/Ubuntu: sudo apt install jackd2")
    if jack_registry.registry_is_full():
        reclaim_dead_registry_slots(jackd, rate=rate, period=period)
    return _launch(jackd, name, rate=rate, period=period, timeout_s=timeout_s)


def reclaim_dead_registry_slots(jackd: str, *, rate: int = 48000, period: int = 256) -> list[str]:
    """Free the registry slots of this user's dead servers, by JACK's own rule: a server that
    starts under a dead slot's name takes that slot over, and frees it when it stops cleanly."""
    reclaimed = []
    for name in jack_registry.dead_server_names():
        try:
            _launch(jackd, name, rate=rate, period=period, timeout_s=10.0).stop()
        except PortError:
            continue  # e.g. its PID now belongs to another process; see below
        reclaimed.append(name)
    if jack_registry.registry_is_full() and jack_registry.holds_no_live_server():
        # every slot is dead but not reclaimable by name: the registry describes nothing that
        # runs, and jackd writes a fresh one when it finds none
        jack_registry.REGISTRY_PATH.unlink(missing_ok=True)
    return reclaimed


def _launch(jackd: str, name: str, *, rate: int, period: int, timeout_s: float) -> JackServer:
    log_path = Path(tempfile.gettempdir()) / f"jackd-{name}.log"
    env = {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1"}
    # a private server must not outlive its test, bench or demo: an orphan, later killed by
    # hand, holds one of JACK's 8 registry slots for good (see jack_registry)
    command = ending_with_parent(
        [jackd, "-n", name, "-d", "dummy", "-r", str(rate), "-p", str(period)]
    )
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a Ctrl-C meant for us must not kill it before we clean up
        )
    server = JackServer(name, process, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-500:]
            raise PortError(f"jackd exited with code {process.returncode}: {_first_line(tail)}")
        if server_running(name):
            return server
        time.sleep(0.1)
    server.stop()
    raise PortError(f"jackd did not accept clients within {timeout_s:.0f} s (log: {log_path})")


def _first_line(log_tail: str) -> str:
    """jackd's reason, without the copyright banner it prints after it."""
    lines = [line.strip() for line in log_tail.splitlines() if line.strip()]
    reasons = [
        line
        for line in lines
        if not line.startswith(
            ("jackdmp ", "Copyright", "jackdmp comes", "This is free", "under certain")
        )
    ]
    return "; ".join(reasons[:2]) if reasons else "no output"
