"""Recognises the daemon's own messages coming back on its input (a shared bus, a loop).

With one bus for both directions (`--port "IAC Bus 1"`), or the output patched back to the input,
everything the daemon sends returns as if the player had played it: the model would accompany
itself and the recording would hold every note twice. The daemon knows what it sent and when, so
an input message with exactly the bytes of one it sent within `ECHO_WINDOW_NS` (either side, as
the two timestamps come from different threads and transport cycles) is its echo and is
dropped. Each sent message absorbs at most one echo, so the player's own notes still pass; the
only ones mistaken are a player's message identical to one just sent (same channel, pitch and
velocity within the window), which a shared bus cannot tell apart anyway.

The sending thread only appends to a deque (no lock); the input thread drains it.
"""

from __future__ import annotations

import collections

ECHO_WINDOW_NS = 100_000_000  # 100 ms: a loop through JACK at 4096 frames takes under 2 periods


class EchoFilter:
    def __init__(self, window_ns: int = ECHO_WINDOW_NS) -> None:
        self.window_ns = window_ns
        self.dropped = 0
        self._outbox: collections.deque[tuple[int, tuple[int, ...]]] = collections.deque()
        # message -> send times not yet matched, oldest first (input thread only)
        self._pending: dict[tuple[int, ...], collections.deque[int]] = {}

    def sent(self, message: tuple[int, ...], t_ns: int) -> None:
        """Called by the sending thread right after a message went out."""
        self._outbox.append((t_ns, message))

    def is_echo(self, message: tuple[int, ...], t_ns: int) -> bool:
        """Called by the input thread per parsed message: True (and counted) for an echo."""
        while self._outbox:
            sent_ns, sent = self._outbox.popleft()
            self._pending.setdefault(sent, collections.deque()).append(sent_ns)
        times = self._pending.get(message)
        if not times:
            return False
        while times and times[0] < t_ns - self.window_ns:
            times.popleft()  # too old to be this message's echo
        if not times or times[0] > t_ns + self.window_ns:
            return False
        times.popleft()
        self.dropped += 1
        return True

    def forget_old(self, now_ns: int) -> None:
        """Drop send times no echo can match any more (keeps the table small on a quiet input)."""
        for message in [
            m for m, t in self._pending.items() if not t or t[-1] < now_ns - self.window_ns
        ]:
            del self._pending[message]
