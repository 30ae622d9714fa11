"""The daemon's wiring without MIDI hardware: fake ports, a manual clock, real threads.

Internal errors, quit, panic and CC mapping all go through the same shutdown that ends every
note; the input path survives garbage. The transport moves only when a test advances the manual
clock, so what has sounded at each step is exact; the threads are awaited on conditions, never
on fixed sleeps.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from livegen.live.clock import EVENT_START, ManualClock
from livegen.live.context import SessionContext
from livegen.live.control import Control
from livegen.live.daemon import Daemon
from livegen.live.ports import InputItem, PortState
from livegen.live.recorder import Recorder
from livegen.live.scheduler import ScheduledNote
from livegen.live.serve_config import load_serve_config
from livegen.music.midi import ALL_NOTES_OFF, NOTE_ON

NOTES = 4  # the performer's notes: ticks 0..3, channels 1 and 2, sounding until tick 10_000


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll until `predicate()` holds (the daemon's threads run on their own)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


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
    gone: str | None = None  # what server_gone() says: set to play a dead MIDI server

    @property
    def names(self) -> tuple[str, str]:
        return "fake:in", "fake:out"

    def check(self) -> bool:
        return True

    def server_gone(self) -> str | None:
        return self.gone

    def close(self) -> None:
        self.closed = True


class NotePlayer:
    """A performer that starts long notes once the transport runs, then fails when told to."""

    def __init__(self) -> None:
        self.transport_started = threading.Event()  # set by the test's clock listener
        self.fail = threading.Event()

    def run(self, context: SessionContext) -> None:
        # the scheduler's start silence is posted before this listener runs (listener order),
        # so it cannot cancel the notes below
        while not self.transport_started.wait(0.01):
            if context.stop_event.is_set():
                return
        for i in range(NOTES):
            context.scheduler.add(ScheduledNote(i, 10_000, 60 + i, 100, 1 + i % 2))
        while not context.stop_event.wait(0.005):
            if self.fail.is_set():
                raise RuntimeError("model exploded")

    def reset_plan(self) -> None:
        pass

    def stats(self) -> dict[str, float]:
        return {}

    def report(self) -> dict[str, object]:
        return {}

    def planned(self) -> tuple:
        return ()


def make_daemon(
    performer: NotePlayer, tmp_path: Path | None = None
) -> tuple[Daemon, FakePorts, ManualClock]:
    config = load_serve_config(None, ["bpm=240", "timing.realtime_priority=false"])
    ports = FakePorts()
    inbox: queue.SimpleQueue[InputItem] = queue.SimpleQueue()
    recorder = Recorder(tmp_path / "jam.mid") if tmp_path else None
    clock = ManualClock(bpm=240)
    daemon = Daemon(
        config, Control(config.knobs), ports, clock, inbox,  # type: ignore[arg-type]
        performer=performer, recorder=recorder,
    )  # fmt: skip
    clock.add_listener(lambda event: event == EVENT_START and performer.transport_started.set())
    return daemon, ports, clock


def run_in_thread(daemon: Daemon) -> threading.Thread:
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    return thread


def note_ons(ports: FakePorts) -> int:
    return sum(1 for m in list(ports.output.sent) if m[0] & 0xF0 == NOTE_ON and m[2])


def play_the_notes(daemon: Daemon, ports: FakePorts, clock: ManualClock) -> None:
    """Move the transport past the start lead and the notes' ticks; all of them sound."""
    assert wait_until(daemon.performer.transport_started.is_set)  # type: ignore[union-attr]
    clock.advance_ns(int(daemon.config.timing.start_lead_ms * 1e6))
    clock.advance_ticks(NOTES - 1)  # onto the last note's tick: the first is 31 ms late, kept
    assert wait_until(lambda: note_ons(ports) == NOTES)


def balanced(sent: list[list[int]]) -> bool:
    count: dict[tuple[int, int], int] = {}
    for m in sent:
        if m[0] & 0xF0 in (0x80, 0x90):
            key = (m[0] & 0x0F, m[1])
            count[key] = count.get(key, 0) + (1 if m[0] & 0xF0 == 0x90 and m[2] else -1)
    return all(v == 0 for v in count.values())


def test_an_internal_error_ends_every_note_and_exits_nonzero(tmp_path: Path) -> None:
    performer = NotePlayer()
    daemon, ports, clock = make_daemon(performer, tmp_path)
    thread = run_in_thread(daemon)
    play_the_notes(daemon, ports, clock)
    performer.fail.set()
    thread.join(5)
    assert not thread.is_alive() and daemon.exit_code == 1
    assert "model exploded" in (daemon.error or "")
    sent = ports.output.sent
    assert note_ons(ports) == NOTES
    assert balanced(sent)
    assert sent[-2:] == [[0xB1, ALL_NOTES_OFF, 0], [0xB2, ALL_NOTES_OFF, 0]]
    assert ports.closed
    assert (tmp_path / "jam.mid").exists()  # the recording is flushed on the way out too


def test_quit_from_the_ui_exits_zero_with_nothing_sounding() -> None:
    daemon, ports, clock = make_daemon(NotePlayer())
    thread = run_in_thread(daemon)
    play_the_notes(daemon, ports, clock)
    daemon.control.send("quit")
    thread.join(5)
    assert not thread.is_alive() and daemon.exit_code == 0
    assert balanced(ports.output.sent)


def test_panic_silences_but_keeps_serving() -> None:
    daemon, ports, clock = make_daemon(NotePlayer())
    thread = run_in_thread(daemon)
    play_the_notes(daemon, ports, clock)
    daemon.control.send("panic")
    assert wait_until(lambda: [0xB2, ALL_NOTES_OFF, 0] in ports.output.sent)
    assert balanced(ports.output.sent) and [0xB1, ALL_NOTES_OFF, 0] in ports.output.sent
    assert thread.is_alive()
    daemon.request_stop()
    thread.join(5)


def test_controllers_move_knobs_through_the_config_mapping() -> None:
    daemon, _, clock = make_daemon(NotePlayer())
    thread = run_in_thread(daemon)
    daemon.inbox.put(
        (clock.now_ns(), (0xB0, 1, 127))
    )  # default.toml maps CC1 (mod wheel) to temperature
    assert wait_until(lambda: daemon.control.knobs.temperature == 2.0)
    daemon.request_stop()
    thread.join(5)


def test_garbage_and_floods_on_the_input_do_not_stop_the_daemon() -> None:
    daemon, ports, clock = make_daemon(NotePlayer())
    thread = run_in_thread(daemon)
    play_the_notes(daemon, ports, clock)
    rng = random.Random(1)
    for _ in range(20_000):
        daemon.inbox.put(
            (clock.now_ns(), tuple(rng.randrange(256) for _ in range(rng.randrange(0, 6))))
        )
    assert wait_until(daemon.inbox.empty, timeout_s=20)
    assert daemon.messages_in >= 1000
    assert thread.is_alive() and daemon.error is None
    daemon.request_stop()
    thread.join(5)
    assert daemon.exit_code == 0
    assert balanced(ports.output.sent)
