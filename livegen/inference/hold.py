"""A cap on how long a generated note may sound: at the cap, its release is written.

Why: the model keeps its sounding notes in mind only implicitly, and a small one loses some. Stop
26's default, continuing 16 prompts of the shared test MIDI, left 90 notes sounding at the end
where the prompts had 48 (median age 6 beats against the prompts' 1) and held 22 notes for 8
beats or more where the prompts held 1; a forgotten note rings until the tokenizer's 32-beat
limit, eight bars of a wrong note under the music.

How, without changing what the model chooses: a time shift the model samples that reaches a
note's cap is written as the same span of time cut at the cap, with the release there (`split`:
[TIME_SHIFT to the cap, (CHANNEL,) NOTE_OFF, TIME_SHIFT for the rest]); the model decides nothing
in between. A first version masked the longer time shifts instead, so the model had to stop at
the cap and choose again: each extra choice is a chance to start a note, and its continuations
of the shared test MIDI grew from 5.3 to 6.7 notes a beat at a 4-beat cap. A note already past
its cap when the model chooses (time moved by tokens that were not sampled) gets its release as
the only choice (`restrict`; the grammar has the last word: after a NOTE_ON its VELOCITY comes
first). A release that falls on a bar line is written a step before it, so the line's BAR (the
model's, or the harmony's) stays first at its step, as the encoder writes it. Notes on channels
other than the given ones (the player's, live) are left alone: they are not ours to end.

Works from a StreamingDecoder that has read the stream so far, so it follows rollbacks with the
decoder it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence

import numpy as np

from livegen.tokenizer import StreamingDecoder, TokenKind, Vocab

# `livegen generate`'s default (live uses accompany.max_note_beats, the scheduler's own limit):
# two bars of 4/4. 0.2 % of POP909's notes and 0.3 % of the shared test MIDI's last that long, so
# it cuts almost only notes the model forgot; 11.5 % of POP909's last more than 4 beats.
DEFAULT_MAX_HOLD_BEATS = 8.0


class HoldLimit:
    """The cap for one vocabulary; `max_hold_beats` 0 = off (masks and tokens pass through)."""

    def __init__(self, vocab: Vocab, max_hold_beats: float) -> None:
        if max_hold_beats < 0:
            raise ValueError(f"max_hold_beats {max_hold_beats} must be >= 0 (0 = off)")
        self.vocab = vocab
        self.max_steps = round(max_hold_beats * vocab.config.steps_per_beat)
        self._note_off = np.array([vocab.note_off(p) for p in range(128)])
        self._channel = np.array([vocab.channel(c) for c in range(16)])
        self._max_shift = vocab.config.max_shift_steps

    @property
    def active(self) -> bool:
        return self.max_steps > 0

    def _due(
        self, decoder: StreamingDecoder, until: int, channels: Container[int] | None
    ) -> list[tuple[int, int, int]]:
        """(due step, channel, pitch) of our held notes whose cap is at or before `until`."""
        due = []
        for (channel, pitch), start in decoder.held_starts().items():
            if channels is not None and channel not in channels:
                continue
            if start + self.max_steps <= until:
                due.append((start + self.max_steps, channel, pitch))
        return sorted(due)

    def restrict(
        self,
        mask: np.ndarray,
        decoder: StreamingDecoder,
        channels: Container[int] | None = None,
    ) -> np.ndarray:
        """`mask` narrowed to the releases of our notes already at their cap (or the CHANNEL
        token that leads to one), where it allows one; `mask` itself otherwise."""
        if not self.max_steps:
            return mask
        due = self._due(decoder, decoder.position_steps, channels)
        if not due:
            return mask
        release = np.zeros_like(mask)
        for _, channel, pitch in due:
            release[
                self._note_off[pitch] if channel == decoder.channel else self._channel[channel]
            ] = True
        narrowed = mask & release
        # not reachable here (a VELOCITY is due first, or the caller allows no CHANNEL token
        # now): the release comes at the first token where it is
        return narrowed if narrowed.any() else mask

    def split(
        self,
        token: int,
        decoder: StreamingDecoder,
        channels: Container[int] | None = None,
        bar_steps: int = 0,
    ) -> list[int]:
        """The tokens to write for the sampled `token`: itself, or a time shift cut at the caps it
        reaches with the releases there (see the module docstring); `bar_steps` > 0 puts a
        release due on a bar line (a multiple of it) a step before the line."""
        if not self.max_steps or self.vocab.kind_list[token] != TokenKind.TIME_SHIFT:
            return [token]
        now = decoder.position_steps
        target = now + self.vocab.arg_list[token]
        due = self._due(decoder, target, channels)
        if not due:
            return [token]
        out: list[int] = []
        position, current = now, decoder.channel
        for step, channel, pitch in due:
            if bar_steps and step % bar_steps == 0 and step - 1 >= position:
                step -= 1
            if step > position:
                out.append(self.vocab.shift(step - position))
                position = step
            if channel != current:
                out.append(int(self._channel[channel]))
                current = channel
            out.append(int(self._note_off[pitch]))
        while target > position:
            out.append(self.vocab.shift(min(target - position, self._max_shift)))
            position += min(target - position, self._max_shift)
        return out


class CappedStream:
    """One sampled stream under a HoldLimit: the decoder that follows it and the rest of a time
    shift cut at a cap, for samplers that have no decoder of their own (eval's continuations)."""

    def __init__(self, hold: HoldLimit, prompt: Sequence[int]) -> None:
        self.hold = hold
        self.decoder = StreamingDecoder(hold.vocab.config, vocab=hold.vocab)
        if hold.active:
            self.decoder.feed_many(prompt)
        self._pending: list[int] = []

    def next(self, mask: np.ndarray, sample: Callable[[np.ndarray], int]) -> int:
        """The next token: the rest of a cut shift, else `sample(mask narrowed by the cap)`."""
        if self._pending:
            token = self._pending.pop(0)
        else:
            token, *self._pending = self.hold.split(
                sample(self.hold.restrict(mask, self.decoder)), self.decoder
            )
        if self.hold.active:
            self.decoder.feed(token)
        return token
