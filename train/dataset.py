"""Training batches from prepared token shards, with musical augmentation on token ids.

Batches. A training sequence is a window of `seq_len + 1` tokens cut from the split's token
stream at a random position (documents are packed back to back, each starting with BOS, so the
model also learns to begin and end pieces). The windows of optimizer step `s`, micro-batch `m`
on process `rank` come from `numpy.random.default_rng([seed, s, m, rank])`: the data position
of a run is simply its step, which makes resuming exact. Validation uses fixed, evenly spaced
windows with no augmentation and no weighting.

Collection weights (`[data] collection_weights`, optional). Without them a window starts
anywhere in the stream with equal chance, so each collection gets windows in proportion to its
tokens. With them, each window first draws a collection, then a start uniformly among that
collection's train tokens (a window may run on into the next document, as always). A weight is
the collection's share of the windows. The key `others` is the share of all unlisted
collections together; without it they share what the listed weights leave of 1 (nothing when
those already sum to 1 or more). Unlisted collections split their share in proportion to their
tokens. Shares are normalised over the collections in the train split; naming a collection that
is not there is an error (see `collection_shares`).

Augmentation (each applied independently per window, at load time, on token ids):
- Pitch transposition by a shift drawn uniformly from -n..n semitones among the shifts that keep
  every non-drum NOTE_ON/NOTE_OFF of the window inside 0..127 (0 always qualifies). Notes on the
  drum channel (the channel state at each token, CHANNEL tokens and BOS resetting it to 0, is
  precomputed for the whole stream) keep their pitch, since a drum "pitch" is an instrument.
  KEY conditioning tokens move with the notes (same mode, tonic shifted).
- Velocity scaling: every VELOCITY bin is scaled by one factor in [1-x, 1+x], rounded, clipped.
- Time stretching by x2 or x1/2, applied with a probability and only where it is exact on the
  grid: the window needs two or more BAR tokens a constant number of steps apart (one meter),
  for x1/2 every event must lie an even number of steps from the first bar line, and for x2 no
  note may then outlast the tokenizer's max_note_steps. Events move to their new times, time
  shifts are rewritten (split at max_shift_steps) and BAR tokens are re-drawn every bar length
  from the first bar line, so the stream stays valid for the decoder and the grammar.
  A window with BOS in the middle is stretched per document segment.
- Channel permutation (accompaniment): with a probability, the melodic channels of the window
  are renamed by a random injective map of the channels it plays on to channels 0..15 except the
  drum channel 9 (drums stay on 9). The daemon plays the player's notes on the player's channel
  and asks for the model's own; renaming the parts at random teaches the model to accompany any
  line on any channel. Only CHANNEL tokens change: they are rewritten where the renamed stream
  switches part, which is where the original did, except at a piece's start, where the stream
  is implicitly on channel 0 (a CHANNEL token is added before the first note when its part is
  no longer channel 0, and dropped when a part is renamed to 0). Notes within one step keep
  their order, which follows the original channel numbers (the grammar does not fix it).
- Instrument renaming (`program_shuffle_probability`): each program a window names on a melodic
  channel becomes another, the same one throughout the window: mostly one of its GM family of 8
  (a bass stays a bass), one time in five any of the 128. The corpus names few instruments
  (POP909 only piano, the band renders a handful), and the model was certain of them: on files
  with other instruments a PROGRAM token cost it 14 nats. The drum channel's program stays.
- Duet windows (accompaniment, `duet_probability`): two parts kept, the player's whole and the
  model's coming in cold, the rest gone (train/duet.py says why and how). Applied before channel
  permutation, so the two parts also land on any channels.
- Structure tokens (KEY and CHORD, data prepared with `structure_tokens`): with
  `structure_drop_probability` (0.5) a window loses all of them, so the model learns to play with
  and without chords and keys given. Transposition moves CHORD roots with the notes, as KEY tonics.
  KEY and CHORD are never targets of the loss (their targets become PAD, which the loss ignores,
  in training and validation windows alike): they are always written by the caller (generate
  --chords, the live chords knob and follow mode) and never sampled, so predicting them would
  spend the model on imitating POP909's annotators and the estimator.
- Conditioning: after a BOS, with a probability, one MODE token (call, accompany or continue,
  uniformly) is inserted, because the live daemon opens every stream with BOS MODE_x. The corpus
  has no labels for the modes, so the model learns that they may come and what follows them
  is still music, instead of meeting an unseen token at position 1.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from livegen.data.shards import Split
from livegen.errors import ConfigError
from livegen.music.chords import QUALITIES
from livegen.tokenizer import TokenizerConfig, Vocab
from livegen.tokenizer.vocab import DRUM_CHANNEL, N_CHANNELS, TokenKind

from .duet import CHANNEL_EVENTS, duet_window, shift_to

KEYS_PER_MODE = 12
# BOS and the tokens that open a piece before its first bar line (KEY and CHORD come after it)
_OPENING = frozenset({TokenKind.BOS, TokenKind.MODE, TokenKind.STYLE})
STRUCTURE_KINDS = (TokenKind.KEY, TokenKind.CHORD)
MELODIC_CHANNELS = np.array([c for c in range(N_CHANNELS) if c != DRUM_CHANNEL])
OTHERS = "others"  # the collection_weights key for all unlisted collections


@dataclass(frozen=True)
class AugmentConfig:
    transpose_semitones: int = 6
    velocity_scale: float = 0.2
    stretch_probability: float = 0.2
    mode_probability: float = 0.5
    channel_permute_probability: float = 0.0
    duet_probability: float = 0.0
    program_shuffle_probability: float = 0.0


PROGRAMS_PER_FAMILY = 8  # General MIDI: pianos 0-7, chromatic percussion 8-15, ...
ANY_PROGRAM_SHARE = 0.2  # of the renamed programs, this share may land in any family


class Augmenter:
    """Token-id augmentation for one vocabulary (see the module docstring for the rules)."""

    def __init__(self, vocab: Vocab, config: AugmentConfig) -> None:
        self.vocab = vocab
        self.config = config
        kinds = vocab.kinds.astype(np.int64)
        self.args = vocab.args.astype(np.int64)
        self.is_pitch = (kinds == TokenKind.NOTE_ON) | (kinds == TokenKind.NOTE_OFF)
        self.is_key = kinds == TokenKind.KEY
        self.is_velocity = kinds == TokenKind.VELOCITY
        self.is_shift = kinds == TokenKind.TIME_SHIFT
        self.is_channel = kinds == TokenKind.CHANNEL
        self.is_program = kinds == TokenKind.PROGRAM
        self.program_base = vocab.offsets[TokenKind.PROGRAM]
        self.is_channel_event = np.isin(kinds, [int(k) for k in CHANNEL_EVENTS])
        self.channel_base = vocab.offsets[TokenKind.CHANNEL]
        self.kinds = kinds
        self.key_base = vocab.offsets[TokenKind.KEY]
        self.is_chord_root = (kinds == TokenKind.CHORD) & (self.args > 0)  # CHORD_N has no root
        self.chord_base = vocab.offsets.get(TokenKind.CHORD, 0) + 1  # CHORD_C... after CHORD_N
        self.mode_base = vocab.offsets[TokenKind.MODE]
        self.n_modes = len(vocab.ids_of_kind(TokenKind.MODE))
        self.velocity_base = vocab.offsets[TokenKind.VELOCITY]
        self.bins = vocab.config.velocity_bins
        self.max_shift = vocab.config.max_shift_steps
        self.max_note_steps = vocab.config.max_note_steps

    def __call__(
        self,
        window: np.ndarray,
        drums: np.ndarray,
        rng: np.random.Generator,
        channels: np.ndarray | None = None,
    ) -> np.ndarray:
        """Augmented copy of `window` (int64 ids); `drums` marks drum-channel tokens.

        `channels` is the channel state at each token (see `channel_states`; by default the
        window's own, as if channel 0 were current before it).
        """
        out = window.astype(np.int64, copy=True)
        out = self.transpose(out, drums, rng)
        p = self.config.program_shuffle_probability
        if p > 0 and rng.random() < p:
            out = self.shuffle_programs(out, drums, rng)
        if self.config.duet_probability > 0 and rng.random() < self.config.duet_probability:
            if channels is None:
                channels = channel_states(out, self.vocab)
            duet = duet_window(out, channels, rng, self.vocab)
            if duet is not None:
                out, channels = duet
        p = self.config.channel_permute_probability
        if p > 0 and rng.random() < p:
            if channels is None:
                channels = channel_states(out, self.vocab)
            out = self.permute_channels(out, channels, rng)
        out = self.insert_mode(out, rng)
        out = self.scale_velocity(out, rng)
        if self.config.stretch_probability > 0 and rng.random() < self.config.stretch_probability:
            stretched = self.stretch(out, 2.0 if rng.random() < 0.5 else 0.5)
            if stretched is not None:
                out = stretched
        return out

    def transpose(
        self, tokens: np.ndarray, drums: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        n = self.config.transpose_semitones
        pitched = self.is_pitch[tokens] & ~drums
        if n == 0 or not pitched.any():
            shift = 0
        else:
            pitches = self.args[tokens[pitched]]
            low, high = max(-n, -int(pitches.min())), min(n, 127 - int(pitches.max()))
            shift = int(rng.integers(low, high + 1))
        if shift:
            tokens[pitched] += shift  # NOTE_ON/NOTE_OFF ids are contiguous by pitch
            keys = self.is_key[tokens]
            if keys.any():
                index = tokens[keys] - self.key_base
                tokens[keys] = (
                    self.key_base
                    + (index // KEYS_PER_MODE) * KEYS_PER_MODE
                    + (index % KEYS_PER_MODE + shift) % KEYS_PER_MODE
                )
            chords = self.is_chord_root[tokens]
            if chords.any():  # root-major order: 15 qualities per root (music.chords)
                index = tokens[chords] - self.chord_base
                root, quality = index // len(QUALITIES), index % len(QUALITIES)
                tokens[chords] = self.chord_base + ((root + shift) % 12) * len(QUALITIES) + quality
        return tokens

    def shuffle_programs(
        self, tokens: np.ndarray, drums: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Rename the window's melodic programs, each consistently (see module docstring)."""
        at = np.flatnonzero(self.is_program[tokens] & ~drums)
        if at.size == 0:
            return tokens
        programs = tokens[at] - self.program_base
        for old in np.unique(programs).tolist():
            if rng.random() < ANY_PROGRAM_SHARE:
                new = int(rng.integers(0, 128))
            else:
                family = old - old % PROGRAMS_PER_FAMILY
                new = family + int(rng.integers(0, PROGRAMS_PER_FAMILY))
            tokens[at[programs == old]] = self.program_base + new
        return tokens

    def permute_channels(
        self, tokens: np.ndarray, channels: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Rename the melodic channels at random (injective, drums stay; see module docstring).

        `channels` is the channel state at each token of `tokens` in the original stream.
        """
        if tokens.size == 0:
            return tokens
        is_channel = self.is_channel[tokens]
        named = self.is_channel_event[tokens]
        if is_channel[-1]:  # a window may end between a CHANNEL token and the note it names
            named[-1] = True
        events = np.flatnonzero(named)
        if events.size == 0:
            return tokens
        old = channels[events].astype(np.int64)
        melodic = np.unique(old[old != DRUM_CHANNEL])
        if melodic.size == 0:
            return tokens
        rename = np.arange(N_CHANNELS)
        rename[melodic] = rng.choice(MELODIC_CHANNELS, size=melodic.size, replace=False)
        new = rename[old]
        # the renamed stream's channel just before each event
        before = np.empty_like(new)
        before[1:] = new[:-1]
        pieces = np.searchsorted(np.flatnonzero(tokens == self.vocab.bos), events)
        opens_piece = np.r_[True, pieces[1:] != pieces[:-1]] & (pieces > 0)
        before[opens_piece] = 0  # a piece starts on channel 0
        if pieces[0] == 0:
            # the window opens mid-piece on a channel it does not show: switch where the
            # original did
            first = events[0]
            switched = is_channel[first] or (first > 0 and is_channel[first - 1])
            before[0] = -1 if switched else new[0]
        switch = new != before
        kept = tokens[~is_channel]
        # each event's index in `kept` (the trailing CHANNEL token's: the end)
        at = events - np.cumsum(is_channel)[events] + is_channel[events]
        return np.insert(kept, at[switch], self.channel_base + new[switch])

    def insert_mode(self, tokens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.config.mode_probability <= 0:
            return tokens
        after_bos = np.flatnonzero(tokens == self.vocab.bos) + 1
        chosen = after_bos[rng.random(after_bos.size) < self.config.mode_probability]
        if chosen.size == 0:
            return tokens
        modes = self.mode_base + rng.integers(0, self.n_modes, chosen.size)
        return np.insert(tokens, chosen, modes)

    def scale_velocity(self, tokens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = self.config.velocity_scale
        vel = self.is_velocity[tokens]
        if x == 0 or not vel.any():
            return tokens
        factor = rng.uniform(1 - x, 1 + x)
        bins = tokens[vel] - self.velocity_base
        scaled = np.clip(np.rint((bins + 0.5) * factor - 0.5), 0, self.bins - 1).astype(np.int64)
        tokens[vel] = self.velocity_base + scaled
        return tokens

    def stretch(self, tokens: np.ndarray, factor: float) -> np.ndarray | None:
        """Time-stretched tokens, or None when the stretch would not be exact (see docstring)."""
        bos = self.vocab.bos
        cuts = [0, *(i for i in np.flatnonzero(tokens == bos) if i > 0), len(tokens)]
        parts = []
        for a, b in itertools.pairwise(cuts):
            part = self._stretch_segment(tokens[a:b], factor)
            if part is None:
                return None
            parts.append(part)
        return np.concatenate(parts)

    def _stretch_segment(self, seg: np.ndarray, factor: float) -> np.ndarray | None:
        kinds = self.kinds[seg]
        shift_steps = np.where(kinds == TokenKind.TIME_SHIFT, self.args[seg], 0)
        time = np.cumsum(shift_steps)  # step of each token (after its own shift)
        is_bar = kinds == TokenKind.BAR
        bar_times = time[is_bar]
        if bar_times.size < 2:
            return None
        spacing = np.diff(bar_times)
        if spacing.min() != spacing.max() or spacing[0] <= 0:
            return None
        bar_len = int(spacing[0])
        first_bar = int(bar_times[0])
        is_event = ~is_bar & (kinds != TokenKind.TIME_SHIFT)
        rel = time[is_event] - first_bar
        if factor < 1 and (rel % 2).any():
            return None
        new_first = int(first_bar * factor) if factor < 1 else first_bar * 2
        new_times = new_first + (rel * factor).astype(np.int64)
        end_time = new_first + int((int(time[-1]) - first_bar) * factor) if len(seg) else 0
        # bar lines from the first one, every bar_len, plus the ones before it within the window
        first_line = new_first - ((new_first - 1) // bar_len) * bar_len if new_first > 0 else 0
        bars = list(range(first_line, end_time + 1, bar_len))
        out: list[int] = []
        position, bar_index = 0, 0
        open_notes: dict[tuple[int, int], int] = {}
        channel = 0
        shift_base = self.vocab.offsets[TokenKind.TIME_SHIFT] - 1
        for token, t in zip(seg[is_event].tolist(), new_times.tolist(), strict=True):
            kind = self.kinds[token]
            # BOS and conditioning tokens open a piece: its first bar line comes after them
            while kind not in _OPENING and bar_index < len(bars) and bars[bar_index] <= t:
                position = self._shift_to(bars[bar_index], position, out, shift_base)
                out.append(self.vocab.bar)
                bar_index += 1
            position = self._shift_to(t, position, out, shift_base)
            if kind == TokenKind.CHANNEL:
                channel = int(self.args[token])
            elif kind == TokenKind.NOTE_ON:
                open_notes[(channel, int(self.args[token]))] = t
            elif kind == TokenKind.NOTE_OFF:
                start = open_notes.pop((channel, int(self.args[token])), None)
                if start is not None and t - start > self.max_note_steps:
                    return None
            out.append(token)
        while bar_index < len(bars) and bars[bar_index] <= end_time:
            position = self._shift_to(bars[bar_index], position, out, shift_base)
            out.append(self.vocab.bar)
            bar_index += 1
        self._shift_to(end_time, position, out, shift_base)
        return np.asarray(out, dtype=np.int64)

    def _shift_to(self, target: int, position: int, out: list[int], shift_base: int) -> int:
        return shift_to(target, position, out, shift_base, self.max_shift)


def channel_states(tokens: np.ndarray, vocab: Vocab) -> np.ndarray:
    """The channel state at every token (int8): set by CHANNEL tokens, reset to 0 by BOS."""
    tokens = np.asarray(tokens)
    kinds = vocab.kinds[tokens]
    is_channel = kinds == TokenKind.CHANNEL
    resets = is_channel | (tokens == vocab.bos)
    value = np.where(is_channel, vocab.args[tokens], 0).astype(np.int8)
    last = np.where(resets, np.arange(tokens.size), 0)
    np.maximum.accumulate(last, out=last)
    return np.where(resets[last], value[last], 0).astype(np.int8)


def drum_mask(tokens: np.ndarray, vocab: Vocab) -> np.ndarray:
    """True for every token that is played on the drum channel (the channel state at it)."""
    return channel_states(tokens, vocab) == DRUM_CHANNEL


def collection_shares(tokens: Mapping[str, int], weights: Mapping[str, float]) -> dict[str, float]:
    """Share of training windows per collection, from its train tokens and the config's weights.

    See the module docstring for the rules; collections without train tokens get no share.
    """
    present = {name: n for name, n in tokens.items() if n > 0}
    unknown = sorted(set(weights) - set(present) - {OTHERS})
    if unknown:
        raise ConfigError(
            f"[data] collection_weights: no collection {unknown[0]!r} in the train split; "
            f"collections: {', '.join(sorted(present))} (or {OTHERS!r} for the unlisted ones)"
        )
    listed = {name: float(w) for name, w in weights.items() if name != OTHERS}
    rest = {name: n for name, n in present.items() if name not in listed}
    others = float(weights.get(OTHERS, max(0.0, 1.0 - sum(listed.values()))))
    shares = dict(listed)
    rest_tokens = sum(rest.values())
    for name, n in rest.items():
        shares[name] = others * n / rest_tokens
    total = sum(shares.values())
    if total <= 0:
        raise ConfigError("[data] collection_weights: every collection has weight 0")
    return {name: shares[name] / total for name in sorted(shares)}


class TrainBatches:
    """Deterministic, augmented training windows: `batch(step, micro, rank)` -> (x, y) int64."""

    def __init__(
        self,
        split: Split,
        tokenizer: TokenizerConfig,
        *,
        seq_len: int,
        batch_size: int,
        seed: int,
        augment: AugmentConfig | None,
        collection_weights: Mapping[str, float] | None = None,
        structure_drop_probability: float = 0.0,
        structure_targets: bool = False,
    ) -> None:
        if split.n_tokens == 0:
            raise ValueError(f"split {split.name!r} holds no tokens")
        self.vocab = Vocab(tokenizer)
        self.tokens = split.tokens
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.seed = seed
        self.channels = channel_states(np.asarray(self.tokens), self.vocab)
        self.augmenter = Augmenter(self.vocab, augment) if augment is not None else None
        self.structure_drop = structure_drop_probability
        self.structure_targets = structure_targets
        self.is_structure = structure_mask(self.vocab)
        self.shares: dict[str, float] = {}
        if collection_weights:
            self._weigh(split, collection_weights)

    def _weigh(self, split: Split, weights: Mapping[str, float]) -> None:
        """Per collection: its share, and the cumulative tokens of its documents."""
        doc_tokens = np.diff(split.offsets)
        names = np.asarray(split.collections)
        tokens = {str(n): int(doc_tokens[names == n].sum()) for n in np.unique(names)}
        self.shares = {n: s for n, s in collection_shares(tokens, weights).items() if s > 0}
        self._share_p = np.array(list(self.shares.values()))
        self._docs = [np.flatnonzero(names == n) for n in self.shares]
        self._cumulative = [np.cumsum(doc_tokens[docs]) for docs in self._docs]
        self._offsets = split.offsets

    def start(self, rng: np.random.Generator) -> int:
        """A window's first token: anywhere in the stream, or in a collection drawn by share."""
        if not self.shares:
            high = max(self.tokens.size - (self.seq_len + 1), 0)
            return int(rng.integers(0, high + 1))
        c = int(rng.choice(len(self._docs), p=self._share_p))
        cumulative = self._cumulative[c]
        position = int(rng.integers(0, cumulative[-1]))
        i = int(np.searchsorted(cumulative, position, side="right"))
        before = int(cumulative[i - 1]) if i else 0
        return int(self._offsets[self._docs[c][i]]) + position - before

    def window(self, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Tokens from `start` (at most `length`) and the channel state at each."""
        end = min(start + length, self.tokens.size)
        tokens = np.asarray(self.tokens[start:end], dtype=np.int64)
        return tokens, self.channels[start:end]

    def batch(self, step: int, micro: int = 0, rank: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, step, micro, rank])
        width = self.seq_len + 1
        rows = np.full((self.batch_size, width), self.vocab.pad, dtype=np.int64)
        # twice the tokens, so a x1/2 stretch or dropped structure tokens still fill the window
        raw = 2 * width if self.augmenter is not None or self.structure_drop else width
        for i in range(self.batch_size):
            tokens, channels = self.window(self.start(rng), raw)
            if self.structure_drop and rng.random() < self.structure_drop:
                kept = ~self.is_structure[tokens]
                tokens, channels = tokens[kept], channels[kept]
            if self.augmenter is not None:
                drums = channels == DRUM_CHANNEL
                tokens = self.augmenter(tokens, drums, rng, channels)
            tokens = tokens[:width]
            rows[i, : tokens.size] = tokens
        if self.structure_targets:
            return rows[:, :-1], rows[:, 1:]
        return rows[:, :-1], ignore_structure_targets(rows[:, 1:], self.vocab)


def structure_mask(vocab: Vocab) -> np.ndarray:
    """(vocab,) bool: the KEY and CHORD tokens."""
    return np.isin(vocab.kinds, [int(k) for k in STRUCTURE_KINDS])


def ignore_structure_targets(targets: np.ndarray, vocab: Vocab) -> np.ndarray:
    """A copy of `targets` with KEY and CHORD targets made PAD, which the loss ignores."""
    out = targets.copy()
    out[structure_mask(vocab)[out]] = vocab.pad
    return out


def val_windows(split: Split, seq_len: int, count: int, pad: int) -> np.ndarray:
    """`count` fixed windows of seq_len + 1 tokens, evenly spread over the split (PAD-filled)."""
    width = seq_len + 1
    n = split.n_tokens
    if n == 0:
        return np.zeros((0, width), dtype=np.int64)
    count = max(1, min(count, -(-n // width)))
    starts = np.linspace(0, max(n - width, 0), count).astype(np.int64)
    starts = np.unique(starts)
    rows = np.full((starts.size, width), pad, dtype=np.int64)
    for i, start in enumerate(starts):
        chunk = np.asarray(split.tokens[start : start + width], dtype=np.int64)
        rows[i, : chunk.size] = chunk
    return rows
