"""A cap on how long a generated note may sound: past it, its release is the next thing written.

Why: the model keeps its sounding notes in mind only implicitly, and a small one loses some. Stop
26's default, continuing 16 prompts of the shared test MIDI, left 90 notes sounding at the end
where the prompts had 48 (median age 6 beats against the prompts' 1) and held 22 notes for 8
beats or more where the prompts held 1; a forgotten note rings until the tokenizer's 32-beat
limit, eight bars of a wrong note under the music. The cap makes the release the only choice
once a note reaches `max_hold_beats` (the grammar still has the last word: after a NOTE_ON the
VELOCITY comes first), and keeps a time shift from stepping over that moment, so the note ends
exactly at the cap. Notes on other channels than the given ones (the player's, live) are left
alone: they are not ours to end.

A mask over the vocabulary like the others (True = allowed), computed from a StreamingDecoder
that has read the stream so far, so it follows rollbacks with the decoder it is given.
"""

from __future__ import annotations

from collections.abc import Container

import numpy as np

from livegen.tokenizer import StreamingDecoder, TokenKind, Vocab

# `livegen generate` and `serve`'s default: two bars of 4/4. Notes that long are rare in what the
# model learned from (1 in the 16 prompts of each eval set, stop 26); a note the model forgot is
# not, and eight beats is where the eval's continuation statistics count a note as stuck.
DEFAULT_MAX_HOLD_BEATS = 8.0


class HoldLimit:
    """Masks for one vocabulary and cap; `max_hold_beats` 0 = off (every mask passes through)."""

    def __init__(self, vocab: Vocab, max_hold_beats: float) -> None:
        if max_hold_beats < 0:
            raise ValueError(f"max_hold_beats {max_hold_beats} must be >= 0 (0 = off)")
        self.vocab = vocab
        self.max_steps = round(max_hold_beats * vocab.config.steps_per_beat)
        self._note_off = np.array([vocab.note_off(p) for p in range(128)])
        self._channel = np.array([vocab.channel(c) for c in range(16)])
        shifts = vocab.kinds == TokenKind.TIME_SHIFT
        longest = int(vocab.args[shifts].max())
        # _shift_at_most[n]: every token but the time shifts longer than n steps
        self._shift_at_most = [~(shifts & (vocab.args > n)) for n in range(longest + 1)]

    @property
    def active(self) -> bool:
        return self.max_steps > 0

    def restrict(
        self,
        mask: np.ndarray,
        decoder: StreamingDecoder,
        channels: Container[int] | None = None,
    ) -> np.ndarray:
        """`mask` narrowed by the cap for the notes `decoder` holds on `channels` (None = all).

        A note at the cap: only its release (or the CHANNEL token that leads to it) where the
        mask allows one; otherwise no time shift past the oldest note's cap. Never empties a
        mask that was not empty.
        """
        if not self.max_steps:
            return mask
        now = decoder.position_steps
        oldest = None
        due = []
        for (channel, pitch), start in decoder.held_starts().items():
            if channels is not None and channel not in channels:
                continue
            if now - start >= self.max_steps:
                due.append((channel, pitch))
            elif oldest is None or start < oldest:
                oldest = start
        if due:
            release = np.zeros_like(mask)
            for channel, pitch in due:
                token = self._note_off[pitch] if channel == decoder.channel else None
                release[token if token is not None else self._channel[channel]] = True
            narrowed = mask & release
            # not reachable here (a VELOCITY is due first, or the caller allows no CHANNEL
            # token now): the release comes at the first token where it is
            return narrowed if narrowed.any() else mask
        if oldest is None:
            return mask
        left = self.max_steps - (now - oldest)
        if left >= len(self._shift_at_most):
            return mask
        narrowed = mask & self._shift_at_most[left]
        return narrowed if narrowed.any() else mask
