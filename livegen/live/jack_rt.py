"""The C process callback (_jack_rt.c) for a JACK-Client client: input and output without the GIL.

`attach` installs it on a client that is not yet active and returns a `NativeCycle`, or None when
the library was not built (no C compiler at install), cannot resolve libjack's functions, or
LIVEGEN_JACK_CALLBACK=python asks for the Python callback (an A/B switch for benchmarks and the
tests that run both). The C side reads what arrived into a ring and writes what `send` queued;
a reader thread here sleeps on an eventfd the callback signals, and hands each message, stamped
on JACK's thread, to the daemon's input handler.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

InputHandler = Callable[[int, tuple[int, ...]], None]  # (monotonic ns, raw bytes)
CALLBACK_ENV = "LIVEGEN_JACK_CALLBACK"  # "python": keep JACK-Client's Python callback
_READ_BATCH = 256
LIBRARY_VERSION = 1  # lg_rt_version() of the _jack_rt.c this module speaks to
# counters in the order lg_rt_stats reports them (the enum in _jack_rt.c)
_STATS = (
    "events_in",
    "missed_cycles",
    "late_callbacks",
    "dropped_out",
    "resent_offs",
    "input_overflow",
    "first_cycle",
    "rt_priority",
    "cycles",
)

_library: ctypes.CDLL | None = None
_library_error: str | None = None


LIBRARY_FILE = "_jack_rt.so.0"  # setup.py names it so: not a Python module's suffix


def library_path() -> Path | None:
    path = Path(__file__).with_name(LIBRARY_FILE)
    return path if path.exists() else None


def load_library() -> ctypes.CDLL | None:
    """The built library with its functions typed, or None (the reason in `unavailable_reason`)."""
    global _library, _library_error
    if _library is not None or _library_error is not None:
        return _library
    path = library_path()
    if path is None:
        _library_error = "not built (no C compiler when livegen was installed)"
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as err:
        _library_error = f"cannot load {path.name}: {err}"
        return None
    lib.lg_rt_resolve.restype = ctypes.c_char_p
    lib.lg_rt_new.restype = ctypes.c_void_p
    lib.lg_rt_new.argtypes = [
        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_double, ctypes.c_uint32
    ]  # fmt: skip
    lib.lg_rt_install.argtypes = [ctypes.c_void_p]
    lib.lg_rt_wake_fd.argtypes = [ctypes.c_void_p]
    lib.lg_rt_send.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int64]
    lib.lg_rt_pending.argtypes = [ctypes.c_void_p]
    lib.lg_rt_read.argtypes = [
        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int
    ]  # fmt: skip
    lib.lg_rt_stats.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    lib.lg_rt_stall_next_cycle.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.lg_rt_free.argtypes = [ctypes.c_void_p]
    missing = lib.lg_rt_resolve()
    if missing:
        _library_error = missing.decode()
        return None
    if not hasattr(lib, "lg_rt_version") or lib.lg_rt_version() != LIBRARY_VERSION:
        _library_error = f"{path.name} is from another version of livegen (reinstall it)"
        return None
    _library = lib
    return lib


def unavailable_reason() -> str | None:
    """Why `attach` would return None, or None when the C callback can run."""
    if os.environ.get(CALLBACK_ENV, "").lower() == "python":
        return f"{CALLBACK_ENV}=python"
    load_library()
    return _library_error


def _address(jack: Any, pointer: Any) -> int:
    return int(jack._ffi.cast("uintptr_t", pointer))


class NativeCycle:
    """The C callback installed on one client: its rings, its counters, its reader thread."""

    def __init__(self, lib: ctypes.CDLL, state: int, on_input: InputHandler) -> None:
        self._lib = lib
        self._state = state
        self._on_input = on_input
        self.message_max = lib.lg_rt_message_max()
        self._stats = (ctypes.c_int64 * len(_STATS))()
        self._final: dict[str, int] | None = None  # the counters when the state was freed
        self._closing = False
        self._reader_setup: Callable[[], object] | None = None
        # the output ring has one producer; a second sender (a shutdown that silences from the
        # main thread while a hung scheduler thread still sends) must wait its turn
        self._send_lock = threading.Lock()
        self._wake_fd = lib.lg_rt_wake_fd(state)
        self._reader = threading.Thread(target=self._read_loop, name="jack-input", daemon=True)

    def start_reading(self) -> None:
        self._reader.start()

    def send(self, message: bytes, due_ns: int) -> bool:
        """Queue for `out`; False when the ring is full or the message too long (SysEx)."""
        with self._send_lock:
            return self._lib.lg_rt_send(self._state, message, len(message), due_ns) == 0

    def run_in_reader(self, setup: Callable[[], object]) -> None:
        """Run `setup` on the reader thread (soon, not after the next input): e.g. raise its
        priority with the daemon's other MIDI threads."""
        self._reader_setup = setup
        os.write(self._wake_fd, (1).to_bytes(8, "little"))

    def pending(self) -> int:
        return self._lib.lg_rt_pending(self._state)

    def stats(self) -> dict[str, int]:
        if self._final is not None:
            return self._final
        self._lib.lg_rt_stats(self._state, self._stats, len(_STATS))
        return dict(zip(_STATS, self._stats, strict=True))

    def stall_next_cycle(self, seconds: float) -> None:
        """Make the callback sleep `seconds` in its next cycle (tests: an overloaded machine)."""
        self._lib.lg_rt_stall_next_cycle(self._state, round(seconds * 1e6))

    def wait_first_cycle(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.stats()["first_cycle"]:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def _read_loop(self) -> None:
        times = (ctypes.c_int64 * _READ_BATCH)()
        lens = (ctypes.c_uint8 * _READ_BATCH)()
        data = (ctypes.c_uint8 * (_READ_BATCH * self.message_max))()
        width = self.message_max
        while True:
            try:
                os.read(self._wake_fd, 8)  # sleeps (GIL released) until a cycle brings input
            except OSError:
                return
            if self._closing:
                return
            if self._reader_setup is not None:
                setup, self._reader_setup = self._reader_setup, None
                setup()
            while count := self._lib.lg_rt_read(self._state, times, lens, data, _READ_BATCH):
                raw = bytes(data)
                for i in range(count):
                    start = i * width
                    try:
                        self._on_input(times[i], tuple(raw[start : start + lens[i]]))
                    except Exception:  # the handler's fault must not end all input
                        log.exception("JACK input handler failed")

    def close(self) -> None:
        """After the client is deactivated (the callback runs no more): stop reading, free."""
        self._closing = True
        os.write(self._wake_fd, (1).to_bytes(8, "little"))
        if self._reader.is_alive():
            self._reader.join(2)
        self._final = self.stats()
        self._lib.lg_rt_free(self._state)


def attach(
    jack: Any, client: Any, inport: Any, outport: Any, window_frames: int, on_input: InputHandler
) -> NativeCycle | None:
    """Install the C callback on `client` (before `activate`); None: keep the Python one."""
    reason = unavailable_reason()
    if reason is not None:
        # asked for (the A/B switch): say it quietly; missing: the user can fix it
        asked = reason.startswith(CALLBACK_ENV)
        (log.info if asked else log.warning)(
            "JACK input through a Python callback, which can miss cycles while Python is busy: "
            "the C one is %s%s",
            reason,
            "" if asked else "; install a C compiler (gcc), then reinstall livegen",
        )
        return None
    lib = _library
    assert lib is not None
    state = lib.lg_rt_new(
        _address(jack, client._ptr),
        _address(jack, inport._ptr),
        _address(jack, outport._ptr),
        float(client.samplerate),
        window_frames,
    )
    if not state:
        log.warning("JACK process callback in Python: the C one could not allocate its state")
        return None
    if lib.lg_rt_install(state) != 0:
        lib.lg_rt_free(state)
        log.warning("JACK process callback in Python: JACK refused the C one")
        return None
    return NativeCycle(lib, state, on_input)
