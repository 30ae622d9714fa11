"""Pick the next token from logits: temperature, top-k, top-p, a seeded RNG, and masks.

Masks are boolean arrays over the vocabulary (True = allowed). The tokenizer's grammar gives
one (only well-formed next tokens); `constraint_mask` gives the musical ones from `Constraints`
and a `MusicState` that follows the sampled tokens: pitch range, key/scale lock, allowed
channels, maximum polyphony and note density. Constraints restrict NOTE_ON (and CHANNEL)
tokens only: note-offs and time shifts stay allowed, so a constrained stream can always go on.
Pitch range and key lock leave drums (channel 10) alone: their pitches are instruments.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from livegen.errors import ConfigError
from livegen.music.keys import key_pitch_classes, parse_key
from livegen.tokenizer.vocab import DRUM_CHANNEL, TokenKind, Vocab


class SamplingKnobs(Protocol):
    """Anything with these attributes (control.Knobs, SamplingParams) can steer sampling."""

    temperature: float
    top_k: int
    top_p: float


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1.0 = off


def _nucleus_order(probs: np.ndarray, top_p: float) -> np.ndarray:
    """Token ids by falling probability (ties by id), at least as far as the top_p nucleus.

    Why not one argsort of the vocabulary: it was the sampler's biggest cost (a token is sampled
    ~200 times a second live). Tokens under (1 - top_p) / vocab together hold at most 1 - top_p,
    so the nucleus lies among the others, usually a few dozen: only they are sorted. The prefix
    is the full sort's, element for element, so the same draw picks the same token.
    """
    candidates = np.flatnonzero(probs >= (1.0 - top_p) / probs.size)
    order = candidates[np.argsort(-probs[candidates], kind="stable")]
    if probs[order].sum() < top_p:  # rounding kept the bound from holding: sort them all
        return np.argsort(-probs, kind="stable")
    return order


class Sampler:
    """Seeded sampling: the same seed, logits and masks give the same tokens."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def sample(
        self, logits: np.ndarray, params: SamplingKnobs, mask: np.ndarray | None = None
    ) -> int:
        """One token id from logits (vocab,); `mask` (vocab,) bool restricts the choice."""
        scores = np.array(logits, dtype=np.float64)  # a copy, whatever came in
        if mask is not None:
            scores[~mask] = -np.inf
        top = scores.max()
        if top == -np.inf:
            raise ValueError("the mask allows no token")
        if params.temperature <= 0:
            return int(np.argmax(scores))
        scores /= params.temperature
        if 0 < params.top_k < scores.size:
            kth = np.partition(scores, -params.top_k)[-params.top_k]
            scores[scores < kth] = -np.inf
        probs = np.exp(scores - top / params.temperature)
        probs /= probs.sum()
        if params.top_p < 1.0:
            order = _nucleus_order(probs, params.top_p)
            cumulative = np.cumsum(probs[order])
            # keep the smallest prefix whose mass reaches top_p (always at least one token)
            cut = int(np.searchsorted(cumulative, params.top_p)) + 1
            kept = np.zeros_like(probs)
            kept[order[:cut]] = probs[order[:cut]]
            probs = kept / kept.sum()
        cumulative = np.cumsum(probs)
        index = int(np.searchsorted(cumulative, self.rng.random() * cumulative[-1], side="right"))
        return min(index, probs.size - 1)

    def sample_batch(
        self, logits: np.ndarray, params: SamplingKnobs, masks: np.ndarray | None = None
    ) -> np.ndarray:
        """One token per row of logits (B, vocab)."""
        rows = [
            self.sample(row, params, None if masks is None else masks[i])
            for i, row in enumerate(logits)
        ]
        return np.asarray(rows, dtype=np.int64)


@dataclass(frozen=True)
class Constraints:
    """Musical limits on generated notes; the defaults constrain nothing."""

    pitch_low: int = 0
    pitch_high: int = 127
    key: str = ""  # "" = off, else e.g. "C major", "F# minor", "Bb" (livegen.music.keys)
    channels: tuple[int, ...] = ()  # allowed 0-based channels; () = all
    max_polyphony: int = 0  # notes sounding at once; 0 = off
    max_notes_per_beat: float = 0.0  # onsets within the last beat; 0 = off

    def __post_init__(self) -> None:
        if not 0 <= self.pitch_low <= self.pitch_high <= 127:
            raise ConfigError(f"pitch range {self.pitch_low}..{self.pitch_high} not in 0..127")
        if any(not 0 <= c <= 15 for c in self.channels):
            raise ConfigError(f"channels {list(self.channels)} must be in 0..15")
        parse_key(self.key)  # raises on a bad name

    @property
    def active(self) -> bool:
        return self != Constraints()


class MusicState:
    """What the constraints need to know about the stream so far: sounding notes, onsets, time.

    Feed it every token of the stream (player's and generated alike) through `update`.
    """

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab
        self.step = 0
        self.channel = 0
        self.sounding: set[tuple[int, int]] = set()  # (channel, pitch)
        self.onsets: collections.deque[int] = collections.deque()

    def update(self, token: int) -> None:
        kind = self.vocab.kind_list[token]
        arg = self.vocab.arg_list[token]
        if kind == TokenKind.TIME_SHIFT:
            self.step += arg
        elif kind == TokenKind.CHANNEL:
            self.channel = arg
        elif kind == TokenKind.NOTE_ON:
            self.sounding.add((self.channel, arg))
            self.onsets.append(self.step)
        elif kind == TokenKind.NOTE_OFF:
            self.sounding.discard((self.channel, arg))

    def onsets_in_last(self, steps: int) -> int:
        while self.onsets and self.onsets[0] <= self.step - steps:
            self.onsets.popleft()
        return len(self.onsets)


class ConstraintMasks:
    """Precomputed masks for one vocabulary, combined per step from the state (cheap)."""

    def __init__(self, vocab: Vocab, constraints: Constraints) -> None:
        self.vocab = vocab
        self.constraints = constraints
        kinds = vocab.kinds
        args = vocab.args.astype(np.int64)
        self.note_on = kinds == TokenKind.NOTE_ON
        pitched_ok = np.ones(vocab.size, dtype=bool)
        pitched_ok &= ~self.note_on | (
            (args >= constraints.pitch_low) & (args <= constraints.pitch_high)
        )
        classes = key_pitch_classes(constraints.key)
        if classes is not None:
            pitched_ok &= ~self.note_on | np.isin(args % 12, sorted(classes))
        self.pitched_ok = pitched_ok
        self.channel_ok = np.ones(vocab.size, dtype=bool)
        if constraints.channels:
            is_channel = kinds == TokenKind.CHANNEL
            self.channel_ok &= ~is_channel | np.isin(args, constraints.channels)
        self.no_note_on = ~self.note_on

    def mask(self, state: MusicState) -> np.ndarray:
        """Allowed tokens now (True = allowed)."""
        c = self.constraints
        mask = self.channel_ok.copy()
        if state.channel != DRUM_CHANNEL:
            mask &= self.pitched_ok
        blocked = (c.channels and state.channel not in c.channels) or (
            c.max_polyphony and len(state.sounding) >= c.max_polyphony
        )
        if not blocked and c.max_notes_per_beat:
            recent = state.onsets_in_last(self.vocab.config.steps_per_beat)
            blocked = recent >= c.max_notes_per_beat
        if blocked:
            mask &= self.no_note_on
        return mask
