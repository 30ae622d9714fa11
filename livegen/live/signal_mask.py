"""Keeps the stop signals (SIGINT, SIGTERM, SIGHUP) out of libjack's requests to its server.

A JACK client talks to its server over a socket, and CPython installs its signal handlers
without SA_RESTART: a stop signal that lands while a thread is inside jack_client_open,
jack_activate or jack_port_register cuts that request short (EINTR), libjack gives the
half-made client up, and the server answers the next client with "JACK server not running?".
Found through `livegen demo` stopped by SIGTERM just as it started: its player client failed to
open and the demo exited 1 (3 of 16 runs on a 2-core EPYC, 3 of 3 in CI). A live `serve` could
lose its server probe the same way and report a live server as dead.

So every place that opens or closes a MIDI client does it inside `stop_signals_held()`: a signal
sent meanwhile waits (pending, not lost) and is handled the moment the block ends. Threads that
libjack or rtmidi start inside the block inherit the mask and never receive the signals at all;
only Python threads started elsewhere (which retry interrupted calls, PEP 475) may.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

STOP_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Block the stop signals in this thread for the duration (no-op where the OS has no
    per-thread signal masks); signals sent meanwhile are delivered when it ends."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks, no JACK socket either
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt in the main thread for the duration, as
    SIGINT does, so a command that started processes (a JACK server, a daemon) stops them in
    its `finally` when a `timeout` or a closed terminal ends it. Python's default for both is
    to die on the spot, which left a benchmark's daemon and jackd running (found: an orphaned
    `serve` spinning a core for 14 minutes after `timeout 120 livegen bench --live`)."""
    names = ("SIGTERM", "SIGHUP")
    previous = {
        name: signal.signal(getattr(signal, name), _interrupt)
        for name in names
        if hasattr(signal, name)
    }
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)
