"""Musical clocks: internal, MIDI-clock follower and manual (tests), behind one interface.

Musical time is an integer tick count at `TICKS_PER_BEAT` (24 per quarter note: MIDI clock's own
resolution and the tokenizer's time grid). Ticks become monotonic nanoseconds in exactly one place,
`Timeline.tick_to_ns`. A timeline is anchored at a fixed (tick, time) pair and a period, so a run of
deadlines is `anchor + n * period`: nothing is accumulated by relative sleeps and nothing drifts.
Clocks publish timelines by reference swap; readers never lock.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from livegen.music.midi import CLOCK, CONTINUE, SONG_POSITION, START, STOP

TICKS_PER_BEAT = 24
NS_PER_S = 1_000_000_000
NS_PER_MIN = 60 * NS_PER_S

TICKS_PER_SPP_UNIT = 6  # a Song Position Pointer unit is a sixteenth note = 6 MIDI clocks
# At most this many clock ticks are taken as lost in one gap of the input (missed JACK cycles);
# a longer gap is the DAW's doing, not the transport's.
MAX_LOST_TICKS = 3

# Transport events clocks announce to listeners.
EVENT_START = "start"
EVENT_STOP = "stop"
EVENT_CONTINUE = "continue"
EVENT_LOCATE = "locate"
EVENT_TEMPO = "tempo"

Listener = Callable[[str], None]


def ns_per_tick_for(bpm: float) -> float:
    return NS_PER_MIN / (bpm * TICKS_PER_BEAT)


@dataclass(frozen=True)
class Timeline:
    """Where ticks fall on the monotonic clock while the transport runs."""

    anchor_tick: float
    anchor_ns: int
    ns_per_tick: float
    # After this monotonic time the prediction is not trusted (an external clock went quiet).
    expires_ns: int | None = None

    def tick_to_ns(self, tick: float) -> int:
        return self.anchor_ns + round((tick - self.anchor_tick) * self.ns_per_tick)

    def ns_to_tick(self, t_ns: int) -> float:
        return self.anchor_tick + (t_ns - self.anchor_ns) / self.ns_per_tick

    @property
    def bpm(self) -> float:
        return NS_PER_MIN / (self.ns_per_tick * TICKS_PER_BEAT)

    def alive(self, now_ns: int) -> bool:
        return self.expires_ns is None or now_ns <= self.expires_ns


class Clock:
    """Interface shared by all clocks: a current timeline (None while stopped) and listeners."""

    source = "clock"

    def __init__(self, now_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.now_ns = now_ns
        self._timeline: Timeline | None = None
        self._listeners: list[Listener] = []
        self.last_bpm = 120.0

    @property
    def timeline(self) -> Timeline | None:
        return self._timeline

    @property
    def running(self) -> bool:
        line = self._timeline
        return line is not None and line.alive(self.now_ns())

    def position_ticks(self) -> float | None:
        """The transport position now, or None while stopped."""
        line = self._timeline
        if line is None:
            return None
        return line.ns_to_tick(self.now_ns())

    def add_listener(self, listener: Listener) -> None:
        """`listener(event)` is called on transport changes; it must only set flags or enqueue."""
        self._listeners.append(listener)

    def _publish(self, line: Timeline | None, event: str | None) -> None:
        self._timeline = line
        if line is not None:
            self.last_bpm = line.bpm
        if event is not None:
            for listener in self._listeners:
                listener(event)


class InternalClock(Clock):
    """Free-running clock at a set tempo; a tempo change re-anchors at the current tick."""

    source = "internal"

    def __init__(self, bpm: float, now_ns: Callable[[], int] = time.monotonic_ns) -> None:
        super().__init__(now_ns)
        self.last_bpm = bpm
        self._lock = threading.Lock()  # only the rare control calls take it, never readers

    def start(self, lead_ns: int = 50_000_000) -> None:
        """Start at tick 0, `lead_ns` from now so the first events are not already late."""
        with self._lock:
            line = Timeline(0, self.now_ns() + lead_ns, ns_per_tick_for(self.last_bpm))
            self._publish(line, EVENT_START)

    def stop(self) -> None:
        with self._lock:
            self._publish(None, EVENT_STOP)

    def set_bpm(self, bpm: float) -> None:
        with self._lock:
            line = self._timeline
            if line is None:
                self.last_bpm = bpm
                return
            if abs(line.bpm - bpm) < 1e-9:
                return
            now = self.now_ns()
            anchor_tick = line.ns_to_tick(max(now, line.anchor_ns))
            self._publish(
                Timeline(anchor_tick, line.tick_to_ns(anchor_tick), ns_per_tick_for(bpm)),
                EVENT_TEMPO,
            )


class ManualClock(InternalClock):
    """An internal clock whose `now` is advanced by the test: exact, repeatable tick counts."""

    source = "manual"

    def __init__(self, bpm: float = 120.0, start_ns: int = 0) -> None:
        self._now = start_ns
        super().__init__(bpm, now_ns=lambda: self._now)

    def start(self, lead_ns: int = 0) -> None:
        super().start(lead_ns)

    def advance_ns(self, delta_ns: int) -> None:
        self._now += delta_ns

    def advance_ticks(self, ticks: float) -> None:
        line = self._timeline
        assert line is not None, "advance_ticks needs a running clock"
        target = line.ns_to_tick(self._now) + ticks
        if abs(target - round(target)) < 1e-6:  # land on the tick itself, not a hair before it
            target = round(target)
        self._now = line.tick_to_ns(target)


class MidiClockFollower(Clock):
    """Follows a DAW's MIDI clock: 0xF8 at 24 ppqn, Start, Stop, Continue, Song Position Pointer.

    Tempo and phase come from a least-squares line through the last `window_ticks` clock arrival
    times: the fit averages out transport jitter and, with a window of one beat, follows a tempo
    change within a beat. Clock without Start (a DAW that streams clock while stopped) is tolerated:
    if no transport message was ever seen, the follower starts by itself after `free_run_ticks`.
    """

    source = "external"

    def __init__(
        self,
        now_ns: Callable[[], int] = time.monotonic_ns,
        *,
        window_ticks: int = TICKS_PER_BEAT,
        free_run_ticks: int = TICKS_PER_BEAT,
        timeout_ticks: int = 2 * TICKS_PER_BEAT,
        min_timeout_ns: int = 300_000_000,
    ) -> None:
        super().__init__(now_ns)
        self.window_ticks = window_ticks
        self.free_run_ticks = free_run_ticks
        self.timeout_ticks = timeout_ticks
        self.min_timeout_ns = min_timeout_ns
        self._arrivals: collections.deque[tuple[int, int]] = collections.deque(maxlen=window_ticks)
        self._transport_seen = False
        self._running = False
        self._next_tick = 0  # position the next 0xF8 stands for
        self._ticks_without_transport = 0
        self.ticks_received = 0
        self.ticks_lost = 0  # counted from the arrival gap after input was lost (see feed)

    def feed(
        self, data: bytes | list[int] | tuple[int, ...], t_ns: int, *, input_lost: bool = False
    ) -> bool:
        """Feed one MIDI message received at `t_ns`; True if it was a clock/transport message.

        `input_lost`: the input dropped messages since the last one (a missed JACK cycle). Each
        0xF8 is counted as the next tick, so a lost one put the whole timeline a tick (14 ms at
        180 BPM) late for good, the fit sliding over for a beat (measured: 35 notes in a row
        5-7 ms off); then the gap since the last arrival says how many went missing.
        """
        if not data:
            return False
        status = data[0]
        if status == CLOCK:
            self._on_tick(t_ns, input_lost)
        elif status == START:
            self._transport_seen = True
            self._running = True
            self._next_tick = 0
            self._arrivals.clear()
            self._publish(None, EVENT_START)
        elif status == CONTINUE:
            self._transport_seen = True
            self._running = True
            self._arrivals.clear()
            self._publish(None, EVENT_CONTINUE)
        elif status == STOP:
            self._transport_seen = True
            self._running = False
            self._publish(None, EVENT_STOP)
        elif status == SONG_POSITION:
            if len(data) < 3 or data[1] > 0x7F or data[2] > 0x7F:
                return True  # malformed pointer: ignore rather than jump somewhere random
            self._next_tick = ((data[2] << 7) | data[1]) * TICKS_PER_SPP_UNIT
            self._arrivals.clear()
            self._publish(None, EVENT_LOCATE)
        else:
            return False
        return True

    def _on_tick(self, t_ns: int, input_lost: bool = False) -> None:
        self.ticks_received += 1
        if not self._transport_seen and not self._running:
            self._ticks_without_transport += 1
            if self._ticks_without_transport >= self.free_run_ticks:
                self._running = True
                self._next_tick = 0
                self._arrivals.clear()
                self._publish(None, EVENT_START)
            else:
                return
        if not self._running:
            return
        tick = self._next_tick
        line = self._timeline
        if input_lost and line is not None and self._arrivals:
            gap_ticks = round((t_ns - self._arrivals[-1][1]) / line.ns_per_tick)
            lost = min(MAX_LOST_TICKS, max(0, gap_ticks - 1))
            tick += lost
            self.ticks_lost += lost
        self._next_tick = tick + 1
        self._arrivals.append((tick, t_ns))
        if len(self._arrivals) < 2:
            return  # one tick gives a phase but no tempo yet
        line = self._fit(self._arrivals)
        timeout_ns = max(self.min_timeout_ns, int(self.timeout_ticks * line.ns_per_tick))
        line = Timeline(line.anchor_tick, line.anchor_ns, line.ns_per_tick, t_ns + timeout_ns)
        self._publish(line, None)

    @staticmethod
    def _fit(points: collections.deque[tuple[int, int]]) -> Timeline:
        """Least-squares tick -> time line, anchored at the newest tick."""
        n = len(points)
        t0 = points[0][1]
        mean_x = sum(x for x, _ in points) / n
        mean_y = sum(t - t0 for _, t in points) / n
        sxx = sum((x - mean_x) ** 2 for x, _ in points)
        sxy = sum((x - mean_x) * (t - t0 - mean_y) for x, t in points)
        slope = sxy / sxx if sxx else 0.0
        if slope <= 0:  # duplicate timestamps (a burst): fall back to the span
            slope = max(1.0, (points[-1][1] - points[0][1]) / max(1, points[-1][0] - points[0][0]))
        last_tick = points[-1][0]
        anchor_ns = t0 + round(mean_y + slope * (last_tick - mean_x))
        return Timeline(last_tick, anchor_ns, slope)
