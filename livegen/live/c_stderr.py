"""Keeps the C libraries' own stderr chatter (libjack, ALSA) out of a command's output.

libjack prints "Cannot connect to server socket", "JackShmReadWritePtr ..." or "Cannot read
socket fd ... CheckRes error" and ALSA "ALSA lib seq_hw.c: ... failed" straight to file
descriptor 2, from any thread, around outcomes livegen already reports in one line of its own.
`quiet_c_stderr()` points descriptor 2 at /dev/null for the duration and gives Python's
`sys.stderr` (logging, click, livegen's own errors) a private copy of the real one, so only
livegen's words reach the user. `keep=True` (`--verbose`) leaves everything as it is.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

STDERR_FD = 2
# Python's stderr streams handed out while fd 2 was silenced; kept open for good (see below).
_handed_out: list[object] = []


def _writes_to_fd2(stream: object) -> bool:
    try:
        return stream.fileno() == STDERR_FD  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # pytest capture, click's CliRunner, closed
        return False


@contextlib.contextmanager
def quiet_c_stderr(keep: bool = False) -> Iterator[None]:
    """Silence what C code writes to descriptor 2 while Python's stderr stays visible."""
    if keep:
        yield
        return
    python_stderr = sys.stderr
    own = _writes_to_fd2(python_stderr)
    if own:
        python_stderr.flush()
    saved_fd = os.dup(STDERR_FD)
    devnull_fd = os.open(os.devnull, os.O_WRONLY)
    private = None
    try:
        if own:
            private = os.fdopen(
                os.dup(saved_fd),
                "w",
                buffering=1,
                encoding=python_stderr.encoding,
                errors="backslashreplace",
            )
            sys.stderr = private
        os.dup2(devnull_fd, STDERR_FD)
        yield
    finally:
        os.dup2(saved_fd, STDERR_FD)
        os.close(saved_fd)
        os.close(devnull_fd)
        if private is not None:
            private.flush()
            if sys.stderr is private:
                sys.stderr = python_stderr
            # kept open: a logging handler made meanwhile may still hold it, and it still writes
            # to the real stderr, as that handler was meant to
            _handed_out.append(private)
