"""While the TUI owns the terminal, log lines go to its message line instead of stderr.

A log line written straight to stderr would tear the screen; the daemon's threads log freely, so
a handler turns each record into a `DaemonNotice` (post_message is safe from any thread).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from textual.app import App

from livegen.tui.messages import DaemonNotice


class NoticeHandler(logging.Handler):
    """Posts every record at `level` or above to the app as a `DaemonNotice`."""

    def __init__(self, app: App, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.app = app

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):  # a bad format string must not kill a MIDI thread
            text = str(record.msg)
        self.app.post_message(DaemonNotice(text, error=record.levelno >= logging.WARNING))


@contextlib.contextmanager
def logs_to_app(app: App, logger: logging.Logger | None = None) -> Iterator[NoticeHandler]:
    """Swap the logger's terminal handlers for a NoticeHandler, and put them back after."""
    logger = logger or logging.getLogger()
    terminal = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    terminal = [h for h in terminal if not isinstance(h, logging.FileHandler)]
    handler = NoticeHandler(app)
    for old in terminal:
        logger.removeHandler(old)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        for old in terminal:
            logger.addHandler(old)
