"""Raises the priority of the threads that touch MIDI, and says so plainly when the OS refuses.

Measured on a busy 2-core machine: a JACK client at default priority stalled 90-100 ms in 2 of 3
runs; at raised priority the worst case stayed at 1.6-16 ms. So the MIDI-facing threads ask for
SCHED_FIFO, then for a negative nice value, and report what they got.

Under JACK they stay BELOW JACK's own threads (`priorities_below`): everything they do waits on
the JACK server's cycle. Measured (issue 13): jackd's default priority is 10 and its clients' 5;
with the input thread at 40 parsing a flood and the generator at 10 on a 2-core machine, the
server missed its cycle 264 times in 5 s and the daemon lost 260 of the events sent to it (among
them note-offs, so keys stayed held); below JACK, 21 missed cycles and none lost.

Every thread of the daemon that runs Python holds the GIL, which the JACK client's process
callback needs each cycle: one left at normal priority is a priority inversion. The supervisor
(status, piano roll, port checks) was: preempted by other processes while holding the GIL, it
made the process callback miss its cycle and lose the events in it (issue 13's lead (a), measured
on the loaded 2-core machine: 100 random notes and a note-off for every key, 16 per 10 ms, lost
4-78 of 2,164 events in 6 of 6 runs and left keys held in 4; with the supervisor real-time below
the generator, 10 of 10 runs got every event). It runs real-time too, lowest of all.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

FIFO_PRIORITY = 40  # below JACK's own real-time threads (typically 70+), above everything else
# The inference thread holds the GIL between onnxruntime calls. At normal priority, other busy
# processes can preempt it while it holds the GIL and so stall the MIDI threads behind it
# (priority inversion, measured: 11 ms late sends on a loaded 2-core machine). Real-time too,
# but below the MIDI threads, it always gets to release the GIL promptly.
FIFO_PRIORITY_INFERENCE = 10
NICE_RAISED = -10


@dataclass(frozen=True)
class ThreadPriorities:
    """SCHED_FIFO priorities of the daemon's threads; 0 means not real-time."""

    midi: int  # input and scheduler threads
    inference: int  # the generator thread
    supervisor: int  # the thread that publishes status and checks ports (rests 50 ms a loop)


def priorities_below(jack_priority: int | None) -> ThreadPriorities:
    """The daemon's priorities under a JACK client thread running at `jack_priority` (0: JACK is
    not real-time; None: no native JACK client), each below the one before. 0 means no
    SCHED_FIFO (nice only): a real-time thread would starve a JACK that is not one."""
    if jack_priority is None:
        midi, inference = FIFO_PRIORITY, FIFO_PRIORITY_INFERENCE
    else:
        midi = max(0, min(FIFO_PRIORITY, jack_priority - 1))
        inference = max(0, min(FIFO_PRIORITY_INFERENCE, midi - 1))
    return ThreadPriorities(midi, inference, max(0, inference - 1))


def raise_thread_priority(fifo_priority: int = FIFO_PRIORITY) -> tuple[bool, str]:
    """Raise the calling thread's priority (SCHED_FIFO when `fifo_priority` > 0, else nice);
    returns (raised, what happened in words)."""
    problems = []
    if hasattr(os, "sched_setscheduler") and fifo_priority > 0:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(fifo_priority))
            return True, f"SCHED_FIFO priority {fifo_priority}"
        except (PermissionError, OSError) as err:
            problems.append(f"SCHED_FIFO: {err.strerror or err}")
    if hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE_RAISED)
            return True, f"nice {NICE_RAISED}"
        except (PermissionError, OSError) as err:
            problems.append(f"nice {NICE_RAISED}: {err.strerror or err}")
    if sys.platform == "win32":
        problems.append("not supported on Windows")
    return False, "; ".join(problems) or "no way to raise priority on this OS"


def inference_thread_priority(fifo_priority: int = FIFO_PRIORITY_INFERENCE) -> None:
    """Real-time below the MIDI threads where allowed (see FIFO_PRIORITY_INFERENCE), else as is.
    Also for the supervisor, at a priority below the inference thread's."""
    if hasattr(os, "sched_setscheduler") and fifo_priority > 0:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(fifo_priority))


@contextlib.contextmanager
def real_time_while(fifo_priority: int) -> Iterator[None]:
    """The calling thread at SCHED_FIFO `fifo_priority` inside (where allowed; 0: unchanged),
    and as it was after: the supervisor is the main thread when there is no TUI."""
    if fifo_priority <= 0 or not hasattr(os, "sched_setscheduler"):
        yield
        return
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(fifo_priority))
    except OSError:
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, policy, param)


PRIORITY_HINT = (
    "MIDI threads run at normal priority ({why}); timing may slip on a busy machine. On Linux, "
    "allow real-time scheduling (e.g. add your user to the 'audio' group with rtprio 95 in "
    "/etc/security/limits.d/audio.conf) and log in again"
)


class DutyCycle:
    """Makes a real-time busy loop rest now and then, so the kernel never throttles RT threads.

    Linux lets real-time threads use at most 95% of a CPU per second (sched_rt_runtime_us); a
    real-time inference loop that never waits would hit that and stall every real-time thread on
    its CPU, the MIDI scheduler included, for the rest of the second (measured: 53 ms). Resting
    `rest_s` after each `busy_s` of uninterrupted work keeps it far below the limit.
    """

    def __init__(self, busy_s: float = 0.02, rest_s: float = 0.003) -> None:
        self.busy_ns = int(busy_s * 1e9)
        self.rest_s = rest_s
        self._since_ns: int | None = None

    def idle(self) -> None:
        """The loop waited on its own: the busy stretch is over."""
        self._since_ns = None

    def work(self) -> None:
        """Call after each unit of work."""
        now = time.monotonic_ns()
        if self._since_ns is None:
            self._since_ns = now
        elif now - self._since_ns >= self.busy_ns:
            time.sleep(self.rest_s)
            self._since_ns = None
