"""Thread priorities: each daemon thread that holds the GIL stays below JACK's, in a fixed order."""

from __future__ import annotations

import os
import threading

import pytest

from livegen.live.realtime import (
    FIFO_PRIORITY,
    FIFO_PRIORITY_INFERENCE,
    ThreadPriorities,
    priorities_below,
    real_time_while,
)

_HIGHEST = ThreadPriorities(FIFO_PRIORITY, FIFO_PRIORITY_INFERENCE, FIFO_PRIORITY_INFERENCE - 1)


@pytest.mark.parametrize(
    ("jack_priority", "expected"),
    [
        (None, _HIGHEST),
        (5, ThreadPriorities(4, 3, 2)),  # jackd's default clients
        (70, _HIGHEST),
        (2, ThreadPriorities(1, 0, 0)),  # no room: nice only below the MIDI threads
        (0, ThreadPriorities(0, 0, 0)),  # JACK not real-time: nothing may starve it
    ],
    ids=["no-jack", "jack-5", "jack-70", "jack-2", "jack-not-rt"],
)
def test_priorities_fall_in_order_below_jack(
    jack_priority: int | None, expected: ThreadPriorities
) -> None:
    priorities = priorities_below(jack_priority)
    assert priorities == expected
    if jack_priority:
        assert priorities.midi < jack_priority or priorities.midi == 0


def _scheduling() -> tuple[int, int]:
    return os.sched_getscheduler(0), os.sched_getparam(0).sched_priority


@pytest.mark.skipif(not hasattr(os, "sched_setscheduler"), reason="no POSIX scheduling here")
def test_real_time_while_puts_the_thread_back_as_it_was() -> None:
    seen: dict[str, tuple[int, int]] = {}

    def body() -> None:
        seen["before"] = _scheduling()
        with real_time_while(2):
            seen["inside"] = _scheduling()
        seen["after"] = _scheduling()
        with real_time_while(0):
            seen["zero"] = _scheduling()

    thread = threading.Thread(target=body)  # not this one: a failure must not leave pytest RT
    thread.start()
    thread.join()
    assert seen["after"] == seen["before"]
    assert seen["zero"] == seen["before"]
    # real-time where the OS allows it (root, rtprio limits), else unchanged
    assert seen["inside"] in ((os.SCHED_FIFO, 2), seen["before"])
