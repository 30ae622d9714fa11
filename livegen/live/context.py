"""What the generator thread may touch: the player's notes and the seven things the daemon lends it.

The daemon builds one `SessionContext` and hands it to its performer (LiveSession); the performer
never sees the daemon itself, so the generator depends on this module, not on the daemon.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Set
from dataclasses import dataclass
from typing import Protocol

from livegen.live.clock import Clock
from livegen.live.control import Control, NoteView
from livegen.live.scheduler import Scheduler


@dataclass(frozen=True)
class PlayerNote:
    """A note (velocity 0 = off) from the player, placed on the clock's timeline."""

    tick: float
    t_ns: int
    channel: int
    pitch: int
    velocity: int


@dataclass(frozen=True)
class SessionContext:
    """The daemon's parts the generator reads (and the scheduler it writes to)."""

    stop_event: threading.Event  # set: the generator loop ends
    control: Control  # the live knobs
    player_notes: queue.SimpleQueue[PlayerNote]  # filled by the input thread
    clock: Clock
    scheduler: Scheduler  # the one owner of the output port
    paused: Callable[[], bool]  # generation paused from the UI
    held_keys: Set[tuple[int, int]]  # the player's (channel, pitch) held now; the daemon updates it


class Performer(Protocol):
    """What the generator thread runs (livegen.live.live_session.LiveSession)."""

    def run(self, context: SessionContext) -> None: ...

    def reset_plan(self) -> None: ...

    def stats(self) -> dict[str, float]: ...

    def report(self) -> dict[str, object]: ...

    def planned(self) -> tuple[NoteView, ...]:
        """Notes scheduled ahead of playback ("planned" views in beats); may include some that
        started a moment ago: the daemon drops those by time."""
        ...
