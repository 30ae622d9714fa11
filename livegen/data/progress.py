"""A tiny stderr progress bar (items/s and ETA) so the runtime needs no tqdm."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints `label  done/total  rate unit/s  ETA` on one line, at most every `min_interval_s`.

    On a terminal the line is rewritten in place; otherwise (logs, CI) a fresh line is written
    at most every `log_interval_s` so logs stay short but still show that work goes on.
    """

    def __init__(
        self,
        total: int,
        label: str,
        *,
        unit: str = "files",
        stream: TextIO | None = None,
        min_interval_s: float = 0.2,
        log_interval_s: float = 10.0,
        enabled: bool = True,
        initial: int = 0,
    ) -> None:
        self.total = total
        self.initial = initial  # work done before this run (a resume): not counted in the rate
        self.label = label
        self.unit = unit
        self.done = initial
        self.extra = ""
        self._stream = stream if stream is not None else sys.stderr
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._interval_s = min_interval_s if self._tty else log_interval_s
        self._start = time.monotonic()
        self._last = 0.0
        self._enabled = enabled
        self._written = -1

    def update(self, n: int = 1, extra: str | None = None) -> None:
        self.done += n
        if extra is not None:
            self.extra = extra
        now = time.monotonic()
        if now - self._last >= self._interval_s or self.done >= self.total:
            self._last = now
            self._write(final=False)

    def line(self) -> str:
        elapsed_s = max(time.monotonic() - self._start, 1e-9)
        rate = (self.done - self.initial) / elapsed_s
        remaining = max(self.total - self.done, 0)
        eta = _fmt_s(remaining / rate) if rate > 0 else "?"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        text = (
            f"{self.label} {self.done}/{self.total} ({pct:4.1f}%) "
            f"{rate:.1f} {self.unit}/s ETA {eta} elapsed {_fmt_s(elapsed_s)}"
        )
        return f"{text} {self.extra}".rstrip()

    def close(self) -> None:
        if self._written != self.done or self._tty:
            self._write(final=True)

    def _write(self, *, final: bool) -> None:
        if not self._enabled:
            return
        self._written = self.done
        if self._tty:
            self._stream.write("\r\x1b[2K" + self.line() + ("\n" if final else ""))
        else:
            self._stream.write(self.line() + "\n")
        self._stream.flush()


def _fmt_s(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
