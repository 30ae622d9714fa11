"""A test's side of a JACK session with the daemon: sends into its `in`, records its `out`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import rtmidi

from livegen.live.jackserver import JackServer


@dataclass
class Received:
    t_ns: int
    message: tuple[int, ...]


@dataclass
class Peer:
    """One JACK client pair: `send` goes to the daemon, `received` fills from the daemon."""

    name: str
    out: rtmidi.MidiOut = field(init=False)
    inp: rtmidi.MidiIn = field(init=False)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=f"{self.name}-tx")
        self.inp = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=f"{self.name}-rx")
        self.inp.ignore_types(sysex=False, timing=False, active_sense=False)
        self.inp.set_callback(self._on_message)

    def _on_message(self, event: tuple[list[int], float], _: object = None) -> None:
        self.received.append(Received(time.monotonic_ns(), tuple(event[0])))

    def connect(self, daemon_name: str, timeout_s: float = 30.0) -> None:
        """Wait for the daemon's ports and connect to both."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            outs = [p for p in self.out.get_ports() if p == f"{daemon_name}:in"]
            ins = [p for p in self.inp.get_ports() if p == f"{daemon_name}:out"]
            if outs and ins:
                self.out.open_port(self.out.get_ports().index(outs[0]))
                self.inp.open_port(self.inp.get_ports().index(ins[0]))
                return
            time.sleep(0.1)
        raise TimeoutError(f"daemon ports {daemon_name}:in/out did not appear")

    def send(self, *message: int) -> None:
        self.out.send_message(list(message))

    def note_ons(self) -> list[Received]:
        return [
            r
            for r in list(self.received)
            if len(r.message) == 3 and r.message[0] & 0xF0 == 0x90 and r.message[2]
        ]

    def close(self) -> None:
        self.inp.cancel_callback()
        self.out.delete()
        self.inp.delete()


def wait_until(predicate, timeout_s: float = 10.0, period_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period_s)
    return False


def balance(received: list[Received]) -> dict[tuple[int, int], int]:
    """(channel, pitch) -> note-ons minus note-offs; all zero when nothing is left sounding."""
    count: dict[tuple[int, int], int] = {}
    for r in received:
        m = r.message
        if len(m) != 3 or m[0] & 0xF0 not in (0x80, 0x90):
            continue
        key = (m[0] & 0x0F, m[1])
        on = m[0] & 0xF0 == 0x90 and m[2] > 0
        count[key] = count.get(key, 0) + (1 if on else -1)
    return {k: v for k, v in count.items() if v}


class ClockSender:
    """Sends MIDI clock (24 ppqn) from a thread on absolute deadlines, like a DAW."""

    def __init__(self, peer: Peer, bpm: float) -> None:
        self.peer = peer
        self.period_ns = round(60e9 / (bpm * 24))
        self.tick_times: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.peer.send(0xFA)
        self.start_ns = time.monotonic_ns()
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            deadline = self.start_ns + n * self.period_ns
            delay = deadline - time.monotonic_ns()
            if delay > 0:
                time.sleep(delay / 1e9)
            self.peer.send(0xF8)
            self.tick_times.append(time.monotonic_ns())
            n += 1

    def tick_ns(self, tick: int) -> int:
        return self.start_ns + tick * self.period_ns

    def stop(self, send_stop: bool = True) -> None:
        self._stop.set()
        self._thread.join()
        if send_stop:
            self.peer.send(0xFC)


def start_serve(server: JackServer, args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    env = {**server.env, "PYTHONUNBUFFERED": "1"}
    log = log_path.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "livegen", "serve", "--headless", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )


def stop_serve(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 20
) -> int:
    if process.poll() is None:
        os.kill(process.pid, sig)
    try:
        return process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
        raise
