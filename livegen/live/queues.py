"""Taking everything a live thread's queue holds right now, without waiting."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import TypeVar

Item = TypeVar("Item")


def drain(source: queue.SimpleQueue[Item] | queue.Queue[Item]) -> Iterator[Item]:
    """Yield the items queued so far; stops at the first empty moment (never blocks)."""
    while True:
        try:
            yield source.get_nowait()
        except queue.Empty:
            return
