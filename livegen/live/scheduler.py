"""The one thread that owns the MIDI output: sends notes at their clock ticks, never leaves one on.

Other threads never touch the port: they post operations (add a note, cancel the speculated
future, silence, panic) to an inbox. The scheduler keeps a heap of events in ticks and converts a
tick to a monotonic deadline through the clock's current timeline at the moment it waits, so a
tempo change moves every pending event at once. It knows every sounding note: a transport stop, a
lost clock, panic and shutdown all send their note-offs and then CC123 on every channel used.
`pump(now_ns)` is the whole sending logic and is what tests drive with a manual clock.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from livegen.live.clock import Clock
from livegen.music.midi import ALL_NOTES_OFF, CONTROL_CHANGE, NOTE_OFF, NOTE_ON

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.02  # the thread's longest wait: how soon it sees the clock start again
_OFF, _ON = 0, 1  # at equal ticks a note-off goes first, so a repeated pitch re-sounds

Sender = Callable[[list[int]], None]


@dataclass(frozen=True)
class ScheduledNote:
    """A note to play: ticks on the clock's timeline, 0-based channel."""

    on_tick: int
    off_tick: int
    pitch: int
    velocity: int
    channel: int
    # Kept through re-plans: cancel_from and cut pass it by (the vary move's notes, which the
    # performer's rollbacks on every player note would otherwise drop); silence still ends it.
    fixed: bool = False


@dataclass(frozen=True)
class Sent:
    """One message the scheduler sent: for the recorder, the piano roll and the benchmark."""

    tick: int  # the tick it was due at (-1 for panic/silence messages)
    deadline_ns: int  # when it was due (0 for panic/silence messages)
    sent_ns: int
    message: tuple[int, ...]


@dataclass
class SchedulerStats:
    notes_sent: int = 0
    late_notes: int = 0
    dropped_notes: int = 0
    send_errors: int = 0
    silences: int = 0


class Scheduler:
    """Heap of note events in ticks; sends each at `clock.timeline.tick_to_ns(tick)`."""

    def __init__(
        self,
        send: Sender,
        clock: Clock,
        *,
        late_ns: int = 5_000_000,
        drop_ns: int = 60_000_000,
        lead_ns: int = 0,
        early_ns: int = 0,
        log_size: int = 100_000,
    ) -> None:
        self._send_raw = send
        self.clock = clock
        self.late_ns = late_ns
        self.drop_ns = drop_ns
        # send this much before each tick: compensates a known output latency (MIDI transport)
        self.lead_ns = lead_ns
        # Hand messages to the port this much before they are due, with their due time: a port
        # that places each at its frame in the cycle (livegen.live.jack_ports) needs them a
        # period ahead. 0: `send(message)` exactly when due.
        self.early_ns = early_ns
        self.stats = SchedulerStats()
        self.sent_log: collections.deque[Sent] = collections.deque(maxlen=log_size)
        # the same messages for one consumer on another thread (the daemon's roll and recorder)
        self.observed: queue.SimpleQueue[Sent] = queue.SimpleQueue()
        self._inbox: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._heap: list[tuple[int, int, int, int]] = []  # (tick, _OFF/_ON, seq, note id)
        self._notes: dict[int, ScheduledNote] = {}
        self._started: set[int] = set()  # note ids whose note-on went out
        self._keys: dict[object, int] = {}  # caller's key -> note id, for `end`
        self._sounding: dict[tuple[int, int], int] = {}  # (channel, pitch) -> note id
        self._used_channels: set[int] = set()
        self._ids = itertools.count()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._held: tuple | None = None
        self._exit = threading.Event()
        clock.add_listener(self._on_transport)

    # ---- any thread -------------------------------------------------------------------------
    def add(self, note: ScheduledNote, key: object = None) -> None:
        """Plan a note; with a `key`, its end can be moved later by `end(key, tick)`."""
        self._inbox.put(("add", note, key))

    def end(self, key: object, off_tick: int) -> None:
        """Set the end of a note added with `key` (its note-off was decoded after its note-on)."""
        self._inbox.put(("end", key, off_tick))

    def cancel_from(self, tick: int, channel: int | None = None) -> None:
        """Forget planned notes starting at or after `tick` (a re-plan); sounding ones still end."""
        self._inbox.put(("cancel", tick, channel))

    def cut(self, tick: int, channel: int | None = None) -> None:
        """Stop a part at `tick`: planned notes from there go, sounding ones end there."""
        self._inbox.put(("cut", tick, channel))

    def send_now(self, message: list[int]) -> None:
        """Send a message as soon as the scheduler thread gets to it (a part's program change)."""
        self._inbox.put(("raw", tuple(message)))

    def silence(self) -> None:
        """Stop everything pending and end every sounding note (transport stop, pause)."""
        self._inbox.put(("silence",))

    def sounding(self) -> list[tuple[int, int]]:
        """(channel, pitch) of notes sounding now; a snapshot for displays."""
        return list(self._sounding)

    def _on_transport(self, event: str) -> None:
        if event in ("stop", "start", "locate", "continue"):
            self._inbox.put(("silence",))

    # ---- the scheduler thread ---------------------------------------------------------------
    def start(self, priority: Callable[[], None] | None = None) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(priority,), name="livegen-scheduler", daemon=True
        )
        self._thread.start()

    def close(self, timeout_s: float = 2.0) -> None:
        """Silence everything and stop the thread; if it is gone, silence from here."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._inbox.put(("silence",))
            self._inbox.put(("exit",))
            thread.join(timeout_s)
            if not thread.is_alive():
                return
        self._exit.set()
        self._drain()
        self._silence(self.clock.now_ns())

    def _run(self, priority: Callable[[], None] | None) -> None:
        if priority is not None:
            priority()
        try:
            while not self._exit.is_set():
                self._wait_for_work()
                self.pump(self.clock.now_ns())
        except Exception:
            log.exception("scheduler failed; silencing all notes")
            self._silence(self.clock.now_ns())
            raise

    def wait_timeout_s(self, now_ns: int) -> float:
        """How long the thread may wait for a posted operation before the next event is due.

        While the clock is stopped or has gone quiet (an external clock's timeline past its
        expiry) nothing is due, however far behind the plan's first event is: pump sends
        nothing then, and a zero wait would spin a core until the clock came back (measured:
        112% CPU for as long as a DAW that vanished without a Stop stayed away)."""
        timeout_s = IDLE_WAIT_S
        line = self.clock.timeline
        if self._heap and line is not None and line.alive(now_ns):
            due_ns = line.tick_to_ns(self._heap[0][0]) - self.lead_ns - self.early_ns
            timeout_s = min(timeout_s, max(0.0, (due_ns - now_ns) / 1e9))
        return timeout_s

    def _wait_for_work(self) -> None:
        timeout_s = self.wait_timeout_s(self.clock.now_ns())
        try:
            op = self._inbox.get(timeout=timeout_s) if timeout_s > 0 else self._inbox.get_nowait()
        except queue.Empty:
            return
        self._held = op  # applied first by pump, keeping the posting order

    # ---- the sending logic ------------------------------------------------------------------
    def pump(self, now_ns: int) -> int:
        """Apply posted operations and send every event due by `now_ns`; returns messages sent."""
        before = len(self.sent_log)
        self._drain(now_ns)
        line = self.clock.timeline
        if line is None or not line.alive(now_ns):
            if self._sounding:
                # Stopped or lost clock: nothing may keep sounding. The plan stays; notes whose
                # time has passed when the clock returns are dropped as too late.
                self._silence(now_ns, keep_plan=True)
            return len(self.sent_log) - before
        while self._heap:
            tick, kind, _, note_id = self._heap[0]
            deadline_ns = line.tick_to_ns(tick) - self.lead_ns
            if deadline_ns - self.early_ns > now_ns:
                break
            heapq.heappop(self._heap)
            note = self._notes.get(note_id)
            if note is None:
                continue
            if kind == _ON:
                if tick == note.on_tick:
                    self._note_on(note_id, note, deadline_ns, now_ns)
            elif tick == note.off_tick:
                self._note_off(note_id, note, deadline_ns, now_ns)
        return len(self.sent_log) - before

    def _drain(self, now_ns: int | None = None) -> None:
        while True:
            op, self._held = self._held, None
            if op is None:
                try:
                    op = self._inbox.get_nowait()
                except queue.Empty:
                    return
            name = op[0]
            if name == "add":
                self._add(op[1], op[2])
            elif name == "end":
                self._end(op[1], op[2])
            elif name == "cancel":
                self._cancel(op[1], op[2])
            elif name == "cut":
                self._cut(op[1], op[2])
            elif name == "raw":
                self._emit(-1, 0, self.clock.now_ns() if now_ns is None else now_ns, op[1])
            elif name == "silence":
                self._silence(self.clock.now_ns() if now_ns is None else now_ns)
            elif name == "exit":
                self._exit.set()

    def _add(self, note: ScheduledNote, key: object) -> None:
        if note.off_tick <= note.on_tick:
            note = dataclasses.replace(note, off_tick=note.on_tick + 1)
        note_id = next(self._ids)
        self._notes[note_id] = note
        if key is not None:
            self._keys[key] = note_id
        heapq.heappush(self._heap, (note.on_tick, _ON, next(self._seq), note_id))
        heapq.heappush(self._heap, (note.off_tick, _OFF, next(self._seq), note_id))

    def _end(self, key: object, off_tick: int) -> None:
        note_id = self._keys.get(key)
        note = self._notes.get(note_id) if note_id is not None else None
        if note is None or note.off_tick == off_tick:
            return
        note = dataclasses.replace(note, off_tick=max(off_tick, note.on_tick + 1))
        self._notes[note_id] = note  # the old note-off entry no longer matches and is skipped
        heapq.heappush(self._heap, (note.off_tick, _OFF, next(self._seq), note_id))

    def _cancel(self, from_tick: int, channel: int | None) -> None:
        for note_id, note in list(self._notes.items()):
            if note_id in self._started or note.on_tick < from_tick or note.fixed:
                continue
            if channel is None or note.channel == channel:
                del self._notes[note_id]  # its heap entries are skipped when they come up

    def _cut(self, tick: int, channel: int | None) -> None:
        self._cancel(tick, channel)
        for note_id, note in list(self._notes.items()):
            if note.fixed:
                continue
            if (channel is None or note.channel == channel) and note.off_tick > tick:
                note = dataclasses.replace(note, off_tick=max(tick, note.on_tick + 1))
                self._notes[note_id] = note
                heapq.heappush(self._heap, (note.off_tick, _OFF, next(self._seq), note_id))

    def _note_on(self, note_id: int, note: ScheduledNote, deadline_ns: int, now_ns: int) -> None:
        lateness_ns = now_ns - deadline_ns
        if lateness_ns > self.drop_ns:
            self.stats.dropped_notes += 1
            del self._notes[note_id]
            return
        if lateness_ns > self.late_ns:
            self.stats.late_notes += 1
        key = (note.channel, note.pitch)
        previous = self._sounding.get(key)
        if previous is not None:  # same pitch still sounding: end it first, keep on/off balanced
            self._emit(note.on_tick, deadline_ns, now_ns, (NOTE_OFF | note.channel, note.pitch, 0))
            self._finish(previous)
        velocity = max(1, min(127, note.velocity))
        self._emit(
            note.on_tick, deadline_ns, now_ns, (NOTE_ON | note.channel, note.pitch, velocity)
        )
        self._used_channels.add(note.channel)
        self._sounding[key] = note_id
        self._started.add(note_id)
        self.stats.notes_sent += 1

    def _note_off(self, note_id: int, note: ScheduledNote, deadline_ns: int, now_ns: int) -> None:
        key = (note.channel, note.pitch)
        if self._sounding.get(key) == note_id:
            self._emit(note.off_tick, deadline_ns, now_ns, (NOTE_OFF | note.channel, note.pitch, 0))
            del self._sounding[key]
        self._finish(note_id)

    def _finish(self, note_id: int) -> None:
        self._notes.pop(note_id, None)
        if len(self._keys) > 4096:  # keys of notes long gone: forget them
            self._keys = {k: v for k, v in self._keys.items() if v in self._notes}
        self._started.discard(note_id)

    def _silence(self, now_ns: int, *, keep_plan: bool = False) -> None:
        """Note-off for every sounding note, then CC123 on every channel used; drop the plan."""
        for (channel, pitch), note_id in list(self._sounding.items()):
            self._emit(-1, 0, now_ns, (NOTE_OFF | channel, pitch, 0))
            self._finish(note_id)
        for channel in sorted(self._used_channels):
            self._emit(-1, 0, now_ns, (CONTROL_CHANGE | channel, ALL_NOTES_OFF, 0))
        self._sounding.clear()
        if not keep_plan:
            self._keys.clear()
            self._heap.clear()
            self._notes.clear()
            self._started.clear()
        self.stats.silences += 1

    def _emit(self, tick: int, deadline_ns: int, now_ns: int, message: tuple[int, ...]) -> None:
        try:
            if self.early_ns and deadline_ns:
                self._send_raw(list(message), deadline_ns)  # type: ignore[call-arg]
            else:
                self._send_raw(list(message))
        except Exception as err:  # a vanished port must not kill the thread that ends notes
            self.stats.send_errors += 1
            if self.stats.send_errors == 1:
                log.warning("MIDI send failed: %s", err)
        sent = Sent(tick, deadline_ns, now_ns, message)
        self.sent_log.append(sent)
        self.observed.put(sent)
