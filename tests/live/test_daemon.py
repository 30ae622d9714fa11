"""The daemon's wiring without MIDI hardware: fake ports, a real clock, real threads.

Internal errors, quit, panic and CC mapping all go through the same shutdown that ends every
note; the input path survives garbage.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from livegen.live.clock import InternalClock
from livegen.live.context import SessionContext
from livegen.live.control import Control
from livegen.live.daemon import Daemon
from livegen.live.ports import InputItem, PortState
from livegen.live.recorder import Recorder
from livegen.live.scheduler import ScheduledNote
from livegen.live.serve_config import load_serve_config
from livegen.music.midi import ALL_NOTES_OFF


@dataclass
class FakeOutput:
    sent: list[list[int]] = field(default_factory=list)
    state: PortState = field(default_factory=lambda: PortState("fake:out"))

    def send(self, message: list[int]) -> None:
        self.sent.append(message)


@dataclass
class FakePorts:
    output: FakeOutput = field(default_factory=FakeOutput)
    backend: str = "fake"
    closed: bool = False

    @property
    def names(self) -> tuple[str, str]:
        return "fake:in", "fake:out"

    def check(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


class NotePlayer:
    """A performer that starts long notes, then (optionally) fails like a crashing model."""

    def __init__(self, fail_after_s: float | None = None) -> None:
        self.fail_after_s = fail_after_s

    def run(self, context: SessionContext) -> None:
        while context.clock.timeline is None:  # notes are planned once the transport runs
            time.sleep(0.01)
        time.sleep(0.05)  # after the start's own silence has gone through the scheduler
        for i in range(4):
            context.scheduler.add(ScheduledNote(i, 10_000, 60 + i, 100, 1 + i % 2))
        started = time.monotonic()
        while not context.stop_event.wait(0.01):
            if self.fail_after_s is not None and time.monotonic() - started > self.fail_after_s:
                raise RuntimeError("model exploded")

    def reset_plan(self) -> None:
        pass

    def stats(self) -> dict[str, float]:
        return {}

    def report(self) -> dict[str, object]:
        return {}

    def planned(self) -> tuple:
        return ()


def make_daemon(performer: NotePlayer, tmp_path: Path | None = None) -> tuple[Daemon, FakePorts]:
    config = load_serve_config(None, ["bpm=240", "timing.realtime_priority=false"])
    ports = FakePorts()
    inbox: queue.SimpleQueue[InputItem] = queue.SimpleQueue()
    recorder = Recorder(tmp_path / "jam.mid") if tmp_path else None
    daemon = Daemon(
        config, Control(config.knobs), ports, InternalClock(240), inbox,  # type: ignore[arg-type]
        performer=performer, recorder=recorder,
    )  # fmt: skip
    return daemon, ports


def run_in_thread(daemon: Daemon) -> threading.Thread:
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    return thread


def balanced(sent: list[list[int]]) -> bool:
    count: dict[tuple[int, int], int] = {}
    for m in sent:
        if m[0] & 0xF0 in (0x80, 0x90):
            key = (m[0] & 0x0F, m[1])
            count[key] = count.get(key, 0) + (1 if m[0] & 0xF0 == 0x90 and m[2] else -1)
    return all(v == 0 for v in count.values())


def test_an_internal_error_ends_every_note_and_exits_nonzero(tmp_path: Path) -> None:
    daemon, ports = make_daemon(NotePlayer(fail_after_s=0.3), tmp_path)
    assert daemon.run() == 1
    assert "model exploded" in (daemon.error or "")
    sent = ports.output.sent
    assert sum(1 for m in sent if m[0] & 0xF0 == 0x90) == 4
    assert balanced(sent)
    assert sent[-2:] == [[0xB1, ALL_NOTES_OFF, 0], [0xB2, ALL_NOTES_OFF, 0]]
    assert ports.closed
    assert (tmp_path / "jam.mid").exists()  # the recording is flushed on the way out too


def test_quit_from_the_ui_exits_zero_with_nothing_sounding() -> None:
    daemon, ports = make_daemon(NotePlayer())
    thread = run_in_thread(daemon)
    time.sleep(0.4)
    daemon.control.send("quit")
    thread.join(5)
    assert not thread.is_alive() and daemon.exit_code == 0
    assert balanced(ports.output.sent)


def test_panic_silences_but_keeps_serving() -> None:
    daemon, ports = make_daemon(NotePlayer())
    thread = run_in_thread(daemon)
    time.sleep(0.4)
    daemon.control.send("panic")
    time.sleep(0.2)
    assert balanced(ports.output.sent) and [0xB1, ALL_NOTES_OFF, 0] in ports.output.sent
    assert thread.is_alive()
    daemon.request_stop()
    thread.join(5)


def test_controllers_move_knobs_through_the_config_mapping() -> None:
    daemon, _ = make_daemon(NotePlayer())
    thread = run_in_thread(daemon)
    now = time.monotonic_ns()
    daemon.inbox.put((now, (0xB0, 1, 127)))  # default.toml maps CC1 (mod wheel) to temperature
    deadline = time.monotonic() + 2
    while daemon.control.knobs.temperature != 2.0 and time.monotonic() < deadline:
        time.sleep(0.01)
    daemon.request_stop()
    thread.join(5)
    assert daemon.control.knobs.temperature == 2.0


def test_garbage_and_floods_on_the_input_do_not_stop_the_daemon() -> None:
    daemon, ports = make_daemon(NotePlayer())
    thread = run_in_thread(daemon)
    rng = random.Random(1)
    now = time.monotonic_ns()
    for _ in range(20_000):
        daemon.inbox.put((now, tuple(rng.randrange(256) for _ in range(rng.randrange(0, 6)))))
    deadline = time.monotonic() + 5
    while daemon.messages_in < 1000 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert thread.is_alive() and daemon.error is None
    daemon.request_stop()
    thread.join(5)
    assert daemon.exit_code == 0
    assert balanced(ports.output.sent)
