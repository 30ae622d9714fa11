"""Duet windows: the live daemon's situation cut from a corpus window, for training.

The daemon feeds the player's part and asks the model to come in beside it with nothing of its
own before. In a corpus window every part has its history, and the model learned to continue its
own part and not to listen (the melody did not lower the piano part's NLL). A duet window keeps
two of a window's melodic parts at random: the player's whole, the model's only from a random
point on (its notes from there, each with its release; nothing of it before, not even the
release of a note it was holding), and loses the others and the drums. Time shifts are rewritten
around what is gone (split at max_shift_steps), BAR and conditioning tokens stay where they
were, CHANNEL tokens are written where the kept stream switches part. (`[data]
duet_probability`, applied by train/dataset.py's Augmenter.)
"""

from __future__ import annotations

import numpy as np

from livegen.tokenizer import Vocab
from livegen.tokenizer.vocab import DRUM_CHANNEL, TokenKind

# the kinds a CHANNEL token may name (grammar: CHANNEL -> PROGRAM, NOTE_ON, NOTE_OFF)
CHANNEL_EVENTS = (TokenKind.NOTE_ON, TokenKind.NOTE_OFF, TokenKind.PROGRAM)


def shift_to(target: int, position: int, out: list[int], shift_base: int, max_shift: int) -> int:
    """Append the TIME_SHIFT tokens from `position` to `target` (split at `max_shift`); the new
    position."""
    steps = target - position
    while steps > max_shift:
        out.append(shift_base + max_shift)
        steps -= max_shift
    if steps > 0:
        out.append(shift_base + steps)
    return max(target, position)


def duet_window(
    tokens: np.ndarray, channels: np.ndarray, rng: np.random.Generator, vocab: Vocab
) -> tuple[np.ndarray, np.ndarray] | None:
    """The duet of `tokens` (the channel state at each in `channels`) and its channel states;
    None when the window has no two melodic parts to make it from, or holds a BOS past its
    first token."""
    if tokens.size < 8 or (tokens[1:] == vocab.bos).any():
        return None
    all_kinds = np.asarray(vocab.kinds, dtype=np.int64)
    args = np.asarray(vocab.args, dtype=np.int64)
    kinds = all_kinds[tokens]
    is_on = kinds == TokenKind.NOTE_ON
    melodic = np.unique(channels[is_on & (channels != DRUM_CHANNEL)])
    if melodic.size < 2:
        return None
    player, model = (int(c) for c in rng.choice(melodic, size=2, replace=False))
    time = np.cumsum(np.where(kinds == TokenKind.TIME_SHIFT, args[tokens], 0))
    # where the model's part comes in: the window keeps ~1/4-3/4 of its tokens, so this is
    # ~10-50 % into the training window it is cropped to
    cut = time[int(tokens.size * rng.uniform(0.2, 0.8))]
    shift_base = vocab.offsets[TokenKind.TIME_SHIFT] - 1
    channel_base = vocab.offsets[TokenKind.CHANNEL]
    max_shift = vocab.config.max_shift_steps
    out: list[int] = []
    out_channels: list[int] = []
    position = 0
    current = int(channels[0]) if kinds[0] != TokenKind.CHANNEL else -1
    kept_on: set[int] = set()  # the model part's pitches whose NOTE_ON was kept
    keep_velocity = False
    for token, kind, channel, t in zip(
        tokens.tolist(), kinds.tolist(), channels.tolist(), time.tolist(), strict=True
    ):
        if kind in (TokenKind.TIME_SHIFT, TokenKind.CHANNEL):
            continue  # rewritten below, where the kept events need them
        if kind == TokenKind.VELOCITY:
            if keep_velocity:
                out.append(token)
                out_channels.append(current)
            keep_velocity = False
            continue
        keep_velocity = False
        if kind in CHANNEL_EVENTS:
            pitch = int(args[token])
            if channel == player:
                keep = True
            elif channel != model:
                keep = False
            elif kind == TokenKind.NOTE_ON:
                keep = t >= cut
                if keep:
                    kept_on.add(pitch)
            elif kind == TokenKind.NOTE_OFF:
                keep = pitch in kept_on
                kept_on.discard(pitch)
            else:  # PROGRAM: the part names its instrument when it comes in
                keep = t >= cut
            if not keep:
                continue
            position = shift_to(t, position, out, shift_base, max_shift)
            out_channels.extend([current] * (len(out) - len(out_channels)))
            if channel != current:
                out.append(channel_base + channel)
                out_channels.append(channel)
                current = channel
            keep_velocity = kind == TokenKind.NOTE_ON
        else:  # BAR and conditioning: where they were
            position = shift_to(t, position, out, shift_base, max_shift)
            out_channels.extend([current] * (len(out) - len(out_channels)))
        out.append(token)
        out_channels.append(current)
    shift_to(int(time[-1]), position, out, shift_base, max_shift)
    out_channels.extend([current] * (len(out) - len(out_channels)))
    return np.asarray(out, dtype=np.int64), np.asarray(out_channels, dtype=np.int8)
