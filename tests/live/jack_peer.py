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

from livegen.live.child_process import ending_with_parent
from livegen.live.jackserver import JackServer


@dataclass
class Received:
    t_ns: int
    message: tuple[int, ...]


@dataclass
class Peer:
    """One JACK client pair: `send` goes to the daemon, `received` fills from the daemon.

    What arrives is polled: rtmidi queues it on its JACK thread and a thread of ours collects it.
    A Python callback on rtmidi's JACK thread needs the GIL inside JACK's cycle (a test flooding
    the daemon from this process made it miss whole cycles), and it crashed the test process in
    a native rtmidi thread (CI, stop 21: a segfault as the callback was cancelled; the live
    bench's listener, 3 of 4 runs with a dense model). Arrival times are not the poll's: rtmidi
    stamps each message with JACK's clock (its delta to the one before), and `received` places
    those on the monotonic clock by the least-delayed sighting, as the live bench does.
    """

    name: str
    out: rtmidi.MidiOut = field(init=False)
    inp: rtmidi.MidiIn = field(init=False)

    def __post_init__(self) -> None:
        self.out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=f"{self.name}-tx")
        self.inp = rtmidi.MidiIn(
            rtapi=rtmidi.API_UNIX_JACK, name=f"{self.name}-rx", queue_size_limit=65536
        )
        self.inp.ignore_types(sysex=False, timing=False, active_sense=False)
        # (seen monotonic ns, JACK seconds since the first message, message)
        self._raw: list[tuple[int, float, tuple[int, ...]]] = []
        self._jack_s = 0.0
        self._polling = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        self._polling.set()
        self._poller = threading.Thread(target=self._poll, name=f"{self.name}-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while self._polling.is_set():
            event = self.inp.get_message()
            if event is None:
                time.sleep(0.0005)
                continue
            message, delta_s = event
            self._jack_s += delta_s
            self._raw.append((time.monotonic_ns(), self._jack_s, tuple(message)))

    @property
    def received(self) -> list[Received]:
        """Everything that arrived so far, at its time of arrival on the monotonic clock."""
        raw = list(self._raw)
        if not raw:
            return []
        anchor_ns = min(seen - jack_s * 1e9 for seen, jack_s, _ in raw)
        return [Received(round(anchor_ns + jack_s * 1e9), message) for _, jack_s, message in raw]

    def drain(self, quiet_s: float = 0.2) -> None:
        """Wait until nothing has arrived for `quiet_s` (the poll collects with a delay)."""
        count, since = -1, time.monotonic()
        while time.monotonic() - since < quiet_s:
            if len(self._raw) != count:
                count, since = len(self._raw), time.monotonic()
            time.sleep(0.01)

    def connect(self, daemon_name: str, timeout_s: float = 90.0) -> None:
        """Wait for the daemon's ports and connect to both (its start-up took over 30 s under
        nice 10 on the 2-core machine at load average 16-18)."""
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
        # under the lock: a ClockSender thread may still be sending when a failed test's
        # teardown closes the peer, and sending on a deleted rtmidi object segfaults
        with self._lock:
            if not self._closed:
                self.out.send_message(list(message))

    def note_ons(self) -> list[Received]:
        return [
            r
            for r in list(self.received)
            if len(r.message) == 3 and r.message[0] & 0xF0 == 0x90 and r.message[2]
        ]

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._polling.clear()
        self._poller.join(1)
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
    """(channel, pitch) -> notes still on, replaying the messages in order; {} when nothing is
    left sounding. A note-off for a key already off counts for nothing: the daemon's JACK client
    writes recent note-offs again after a missed cycle on purpose (jack_ports.NoteOffLedger), so
    a surplus must neither fail a test nor cancel a later note-on."""
    count: dict[tuple[int, int], int] = {}
    for r in received:
        m = r.message
        if len(m) != 3 or m[0] & 0xF0 not in (0x80, 0x90):
            continue
        key = (m[0] & 0x0F, m[1])
        on = m[0] & 0xF0 == 0x90 and m[2] > 0
        count[key] = count.get(key, 0) + 1 if on else max(count.get(key, 0) - 1, 0)
    return {k: v for k, v in count.items() if v}


def left_sounding(received: list[Received]) -> set[tuple[int, int]]:
    """(channel, pitch) still sounding at the end: a note-on not ended by a note-off or by an
    all-notes-off / all-sound-off on its channel after it."""
    sounding: dict[tuple[int, int], int] = {}
    for r in received:
        m = r.message
        if len(m) == 3 and m[0] & 0xF0 == 0xB0 and m[1] in (120, 123):
            sounding = {k: v for k, v in sounding.items() if k[0] != m[0] & 0x0F}
        elif len(m) == 3 and m[0] & 0xF0 in (0x80, 0x90):
            key = (m[0] & 0x0F, m[1])
            on = m[0] & 0xF0 == 0x90 and m[2] > 0
            previous = sounding.get(key, 0)  # a surplus note-off does not cancel a later on
            sounding[key] = previous + 1 if on else max(previous - 1, 0)
    return {k for k, v in sounding.items() if v > 0}


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
    return subprocess.Popen(  # a test process killed with -9 leaves no daemon running
        ending_with_parent([sys.executable, "-m", "livegen", "serve", "--headless", *args]),
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
