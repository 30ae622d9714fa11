"""Virtual ports as ONE native JACK client: `--virtual NAME` gives others NAME:in and NAME:out.

python-rtmidi makes every MidiIn/MidiOut object its own JACK client, so its virtual ports come out
as NAME:in and NAME-01:out. Here one `jack.Client(NAME)` owns both ports. Its process callback
(JACK's real-time thread) stamps incoming events and hands them to the same kind of handler the
rtmidi input callback feeds, and drains what the scheduler thread queued with `send`, writing it at
frame 0 of the cycle, the same latency as rtmidi's JACK backend (which drains a ringbuffer there).
The `jack` package (JACK-Client) is imported lazily: without it or libjack, `available()` is False.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from livegen.music.midi import ACTIVE_SENSING, SYSEX_START

log = logging.getLogger(__name__)

InputHandler = Callable[[int, tuple[int, ...]], None]  # (monotonic ns, raw bytes)

# Messages the input drops, as python-rtmidi's ignore_types(sysex=True, active_sense=True) does.
_IGNORED_STATUS = (SYSEX_START, ACTIVE_SENSING)


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

    def __init__(self, jack: Any, name: str, on_input: InputHandler) -> None:
        self._on_input = on_input
        # The scheduler thread appends, the process callback pops: deque ends are thread-safe.
        self._pending: collections.deque[bytes] = collections.deque()
        self.process_errors = 0
        self.events_in = 0  # MIDI events the input port delivered (before any filtering)
        # cycles this client did not run (it was late): events sent to it then are lost
        self.missed_cycles = 0
        self._last_frame: int | None = None
        self.dropped_out = 0
        self.alive = True
        self.shutdown_reason = ""  # why the server let go of the client (its shutdown callback)
        self._users = 2
        self.rt_priority = 0  # JACK's process thread: SCHED_FIFO priority (0: not real-time)
        self.first_cycle = threading.Event()
        # exact name: the contract is a client named NAME, not a renamed NAME-01
        self.client = jack.Client(name, use_exact_name=True, no_start_server=True)
        self.inport = self.client.midi_inports.register("in")
        self.outport = self.client.midi_outports.register("out")
        self._ns_per_frame = 1e9 / self.client.samplerate
        self.client.set_process_callback(self._process)
        self.client.set_shutdown_callback(self._on_shutdown)
        self.client.activate()
        self.name = self.client.name

    def send(self, message: list[int]) -> None:
        """Queue a message for the next cycle (called by the scheduler thread only)."""
        self._pending.append(bytes(message))

    def _process(self, frames: int) -> None:
        # Runs on JACK's real-time thread: must never raise (JACK-Client would stop the client).
        # It needs the GIL, so it does as little as it can, output first: what the scheduler
        # queued is in the buffer before anything here can wake another Python thread.
        try:
            if not self.first_cycle.is_set():
                self.rt_priority = _thread_fifo_priority()
                self.first_cycle.set()
            # (no xrun callback: JACK-Client runs it on the notification thread, which then needs
            # the GIL, and another client's creation in this process waited on it forever)
            frame = self.client.last_frame_time
            if self._last_frame is not None and frame - self._last_frame > frames:
                self.missed_cycles += (frame - self._last_frame) // frames - 1
            self._last_frame = frame
            self.outport.clear_buffer()
            pending = self._pending
            while pending:
                message = pending.popleft()
                try:
                    self.outport.write_midi_event(0, message)
                except Exception:  # the cycle's buffer is full: the rest goes out next cycle
                    pending.appendleft(message)
                    self.dropped_out += 1
                    break
            start_ns = time.monotonic_ns() - round(
                self.client.frames_since_cycle_start * self._ns_per_frame
            )
            ns_per_frame = self._ns_per_frame
            for offset, data in self.inport.incoming_midi_events():
                self.events_in += 1
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
        try:
            self.client.deactivate()
        finally:
            self.client.close()
        if self.process_errors or self.dropped_out:
            log.warning(
                "JACK client %r: %d process errors, %d deferred sends",
                self.name,
                self.process_errors,
                self.dropped_out,
            )
