"""Virtual ports as ONE native JACK client: `--virtual NAME` gives others NAME:in and NAME:out.

python-rtmidi makes every MidiIn/MidiOut object its own JACK client, so its virtual ports come out
as NAME:in and NAME-01:out. Here one `jack.Client(NAME)` owns both ports. Its process callback
(JACK's real-time thread) stamps incoming events and hands them to the same kind of handler the
rtmidi input callback feeds, and drains what the scheduler thread queued with `send`, writing it at
frame 0 of the cycle, the same latency as rtmidi's JACK backend (which drains a ringbuffer there).
The `jack` package (JACK-Client) is imported lazily: without it or libjack, `available()` is False.

The process callback is C where livegen was built with a compiler (`jack_rt`, `_jack_rt.c`): the
Python one below waits for the GIL every cycle, and cycles missed that way lose their input. The
Python callback stays as the fallback, with the same behaviour.

The program changes written (a band's instruments, sent at the stream's start) are written again
when the `out` port gains a connection: a DAW wired after the daemon started still hears each
part on its instrument.

A missed cycle (an xrun) can lose what the graph's buffers held, a note-off among it, and leave a
note stuck on the synth: the note-offs written in the cycles just before a gap are written again
in the first cycle after it (`NoteOffLedger`). A second note-off for a key already off is harmless.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from livegen.live import jack_rt
from livegen.music.midi import (
    ACTIVE_SENSING,
    ALL_NOTES_OFF,
    ALL_SOUND_OFF,
    CONTROL_CHANGE,
    PROGRAM_CHANGE,
    SYSEX_START,
    is_note_off,
    is_note_on,
)

log = logging.getLogger(__name__)

InputHandler = Callable[[int, tuple[int, ...]], None]  # (monotonic ns, raw bytes)

# Messages the input drops, as python-rtmidi's ignore_types(sysex=True, active_sense=True) does.
_IGNORED_STATUS = (SYSEX_START, ACTIVE_SENSING)


# How far back before a gap a written note-off may have been lost with it: the graph's buffers
# of the cycle in flight and, on an overloaded server, the one before.
RESEND_WINDOW_CYCLES = 4


def _ends_sound(message: bytes) -> bool:
    """A note-off, or all-notes-off / all-sound-off: what a stuck note waits for."""
    if len(message) == 3 and message[0] & 0xF0 == CONTROL_CHANGE:
        return message[1] in (ALL_NOTES_OFF, ALL_SOUND_OFF)
    return is_note_off(message)


def _would_end(message: bytes, channel: int, pitch: int) -> bool:
    """Whether note-off or all-notes-off `message` ends a note `pitch` on `channel`."""
    if message[0] & 0x0F != channel:
        return False
    return message[0] & 0xF0 == CONTROL_CHANGE or message[1] == pitch


class NoteOffLedger:
    """The note-offs written in recent cycles (by the frame time of their cycle), so that those
    a missed cycle may have lost can be written again. Costs a deque append per note-off."""

    def __init__(self, window_frames: int) -> None:
        self.window_frames = window_frames
        self._written: collections.deque[tuple[int, bytes]] = collections.deque()

    def written(self, frame: int, message: bytes) -> None:
        if is_note_on(message):
            if self._written:  # written again, an earlier note-off would end this new note
                channel, pitch = message[0] & 0x0F, message[1]
                self._written = collections.deque(
                    (f, m) for f, m in self._written if not _would_end(m, channel, pitch)
                )
        elif _ends_sound(message):
            self._written.append((frame, message))
        while self._written and self._written[0][0] < frame - self.window_frames:
            self._written.popleft()

    def owed(self, last_frame: int) -> list[bytes]:
        """What to write again after a gap that followed the cycle at `last_frame`."""
        return [m for f, m in self._written if f >= last_frame - self.window_frames]


def load_jack() -> Any | None:
    """The `jack` module, or None when JACK-Client or libjack is missing."""
    try:
        import jack
    except (ImportError, OSError) as err:  # OSError: the package is there, libjack is not
        log.debug("JACK-Client unavailable: %s", err)
        return None
    return jack


def _thread_fifo_priority() -> int:
    """The calling thread's SCHED_FIFO priority; 0 when it is not real-time."""
    if not hasattr(os, "sched_getscheduler"):
        return 0
    try:
        if os.sched_getscheduler(0) != os.SCHED_FIFO:
            return 0
        return os.sched_getparam(0).sched_priority
    except OSError:
        return 0


class JackVirtualClient:
    """One active JACK client with MIDI ports `in` and `out`; closed when both users let go."""

    def __init__(
        self, jack: Any, name: str, on_input: InputHandler, *, exact_name: bool = True
    ) -> None:
        self._on_input = on_input
        # The scheduler thread appends, the process callback pops: deque ends are thread-safe.
        # (message, due monotonic ns or 0 for "now")
        self._pending: collections.deque[tuple[bytes, int]] = collections.deque()
        self.process_errors = 0
        self._events_in = 0  # MIDI events the input port delivered (before any filtering)
        # cycles this client did not run (it was late): events sent to it then are lost
        self._missed_cycles = 0
        self._late_callbacks = 0  # cycles whose callback began after the cycle was over
        self._last_frame: int | None = None
        self._dropped_out = 0
        self._resent_offs = 0  # note-offs written again after a missed cycle
        self._owed_again: list[bytes] = []
        self._programs: dict[int, bytes] = {}  # channel -> the last program change written
        self._listeners = 0  # connections of `out` in the last cycle
        self.alive = True
        self.shutdown_reason = ""  # why the server let go of the client (its shutdown callback)
        self._users = 2
        self._rt_priority = 0  # JACK's process thread: SCHED_FIFO priority (0: not real-time)
        self._first_cycle = threading.Event()
        # exact name: the contract of --virtual NAME is a client named NAME, not a renamed
        # NAME-01 (named ports: our own name matters less than starting)
        self.client = jack.Client(name, use_exact_name=exact_name, no_start_server=True)
        self.inport = self.client.midi_inports.register("in")
        self.outport = self.client.midi_outports.register("out")
        self._ns_per_frame = 1e9 / self.client.samplerate
        window = RESEND_WINDOW_CYCLES * self.client.blocksize
        self._offs = NoteOffLedger(window)
        self._native = jack_rt.attach(
            jack, self.client, self.inport, self.outport, window, on_input
        )
        if self._native is None:
            self.client.set_process_callback(self._process)
        self.client.set_shutdown_callback(self._on_shutdown)
        self.client.activate()
        if self._native is not None:
            self._native.start_reading()
        self.name = self.client.name

    @property
    def callback(self) -> str:
        """Which process callback runs: "c" (no GIL) or "python"."""
        return "python" if self._native is None else "c"

    def _counter(self, key: str, python_value: int) -> int:
        return python_value if self._native is None else self._native.stats()[key]

    @property
    def events_in(self) -> int:
        return self._counter("events_in", self._events_in)

    @property
    def missed_cycles(self) -> int:
        return self._counter("missed_cycles", self._missed_cycles)

    @property
    def late_callbacks(self) -> int:
        return self._counter("late_callbacks", self._late_callbacks)

    @property
    def dropped_out(self) -> int:
        return self._counter("dropped_out", self._dropped_out)

    @property
    def resent_offs(self) -> int:
        return self._counter("resent_offs", self._resent_offs)

    @property
    def input_overflow(self) -> int:
        """Input the C callback's ring had no room for (the reader thread fell 8k behind)."""
        return self._counter("input_overflow", 0)

    @property
    def rt_priority(self) -> int:
        return self._counter("rt_priority", self._rt_priority)

    def wait_first_cycle(self, timeout_s: float) -> bool:
        """Whether the client's process callback has run (JACK started calling it)."""
        if self._native is not None:
            return self._native.wait_first_cycle(timeout_s)
        return self._first_cycle.wait(timeout_s)

    def run_in_reader(self, setup: Callable[[], object]) -> bool:
        """Run `setup` on the thread that hands the C callback's input on; False: there is
        none (the Python callback runs on JACK's own thread)."""
        if self._native is None:
            return False
        self._native.run_in_reader(setup)
        return True

    def pending_out(self) -> int:
        """Messages queued by `send` and not yet written into a cycle's buffer."""
        return len(self._pending) if self._native is None else self._native.pending()

    def stall_next_cycle(self, seconds: float) -> None:
        """Tests: make the process callback miss cycles, as an overloaded machine would (the C
        callback sleeps; the Python one is held off by this thread keeping the GIL)."""
        if self._native is not None:
            self._native.stall_next_cycle(seconds)
            return
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sum(range(10**6))  # one C call at a time: the GIL stays here

    def send(self, message: list[int], due_ns: int = 0) -> None:
        """Queue a message (called by the scheduler thread only): at `due_ns`, its frame in the
        cycle that holds that time (it must come a period ahead); without one, at the next
        cycle's start. Frame 0 for everything put each note up to a period (1.3 ms at 64
        frames) late, half a period on average."""
        if self._native is None:
            self._pending.append((bytes(message), due_ns))
        elif not self._native.send(bytes(message), due_ns):
            log.warning("JACK client %r: output ring full, message dropped", self.name)

    def _process(self, frames: int) -> None:
        # Runs on JACK's real-time thread: must never raise (JACK-Client would stop the client).
        # It needs the GIL, so it does as little as it can, output first: what the scheduler
        # queued is in the buffer before anything here can wake another Python thread.
        try:
            if not self._first_cycle.is_set():
                self._rt_priority = _thread_fifo_priority()
                self._first_cycle.set()
            # (no xrun callback: JACK-Client runs it on the notification thread, which then needs
            # the GIL, and another client's creation in this process waited on it forever)
            frame = self.client.last_frame_time
            pending = self._pending
            if self._owed_again:
                pending.extendleft((m, 0) for m in reversed(self._owed_again))
                self._owed_again = []
            if self._last_frame is not None and frame - self._last_frame > frames:
                self._missed_cycles += (frame - self._last_frame) // frames - 1
                owed = self._offs.owed(self._last_frame)
                self._resent_offs += len(owed)
                pending.extendleft((m, 0) for m in reversed(owed))  # due before the rest
                # this cycle may be the late one whose buffer the server no longer takes
                # (measured: written here only, the note-off never arrived): the next one too
                self._owed_again = owed
            self._last_frame = frame
            if self._programs:  # counted every cycle: before any note reaches the newcomer
                listeners = self.outport.number_of_connections
                if listeners > self._listeners:  # someone new: tell them the instruments
                    pending.extendleft((m, 0) for m in reversed(self._programs.values()))
                self._listeners = listeners
            self.outport.clear_buffer()
            ns_per_frame = self._ns_per_frame
            since = self.client.frames_since_cycle_start
            if since > frames:
                self._late_callbacks += 1
            start_ns = time.monotonic_ns() - round(since * ns_per_frame)
            offset = 0  # events go into a cycle's buffer in time order
            while pending:
                message, due_ns = pending[0]
                if due_ns:
                    at = round((due_ns - start_ns) / ns_per_frame)
                    if at >= frames:
                        break  # a later cycle's
                    offset = max(offset, at)
                pending.popleft()
                try:
                    self.outport.write_midi_event(offset, message)
                except Exception:  # the cycle's buffer is full: the rest goes out next cycle
                    pending.appendleft((message, 0))
                    self._dropped_out += 1
                    break
                self._offs.written(frame, message)
                if message[0] & 0xF0 == PROGRAM_CHANGE:
                    self._programs[message[0] & 0x0F] = message
            for offset, data in self.inport.incoming_midi_events():
                self._events_in += 1
                raw = bytes(data)
                if raw and raw[0] not in _IGNORED_STATUS:
                    self._on_input(start_ns + round(offset * ns_per_frame), tuple(raw))
        except Exception:
            self.process_errors += 1

    def _on_shutdown(self, status: object, reason: str) -> None:
        # JACK's notification thread: only note it; the daemon's port check reports and stops
        self.shutdown_reason = reason or "no reason given"
        self.alive = False

    def release(self) -> None:
        """One user (input or output) is done; the last one deactivates and closes the client."""
        self._users -= 1
        if self._users > 0:
            return
        self.close()

    def close(self) -> None:
        """Deactivate and close the client now, whoever still holds it (a failed opening)."""
        self._users = 0
        deadline = time.monotonic() + 0.25
        while self.alive and self.pending_out() and time.monotonic() < deadline:
            time.sleep(0.002)  # the last note-offs go out before the ports do
        try:
            self.client.deactivate()
        finally:
            if self._native is not None:  # the callback runs no more: free its state
                self._native.close()
            self.client.close()
        if self.process_errors or self.dropped_out:
            log.warning(
                "JACK client %r: %d process errors, %d deferred sends",
                self.name,
                self.process_errors,
                self.dropped_out,
            )
        if self.resent_offs:
            log.info(
                "JACK client %r: %d note-offs written again after %d missed cycles",
                self.name,
                self.resent_offs,
                self.missed_cycles,
            )
