"""`livegen eval --accompaniment`: how much a file's other parts help the model predict one part.

For every file with at least two non-drum channels, the target is the non-drum channel with the
most notes (ties: the lower channel); in POP909 that is the piano accompaniment (MIDI channel 3),
beside the melody (channel 1) and the secondary melody (channel 2). The file is encoded twice,
exactly as `livegen data prepare` encodes it:
- full: every note of the file;
- alone: the target channel and the drums only (the other non-drum parts removed).

Target tokens are the NOTE_ON, VELOCITY and NOTE_OFF tokens written while the stream's current
channel is the target (the decoder's channel: 0 at the start, then set by each CHANNEL token):
what the part plays, its dynamics and where its notes end. TIME_SHIFT, BAR, CHANNEL and PROGRAM
tokens are not counted: they are shared with the other parts in the full stream, and there are
more of them there than alone, so they would not be the same tokens in both streams. Each
target note gives one NOTE_ON + VELOCITY + NOTE_OFF in both streams (the encoder quantizes each
(channel, pitch) on its own), so both NLLs are over the same tokens.

The model's mean NLL over the target tokens of the full stream (`nll_given_others`) against
that of the stream alone (`nll_alone`); `nll_ratio` = given / alone: below 1, the other parts
help the model play this one.

Coming in cold, as live: the daemon feeds the player's line and the model's part starts with no
history of its own, where in a file the part's own past says most of what comes next. So each
file is also encoded as a duet cut at `COLD_ENTRY_BEATS` after its first note: the player (the
non-drum channel with the most notes after the target) from the start, the target only from
its first note at or after the cut, both up to `COLD_SPAN_BEATS` past it; and the target from
there alone. `cold_nll_given_player` / `cold_nll_alone` are the NLLs of the target's tokens over
those first bars (`cold_nll_ratio` below 1: the model listens when it comes in).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from livegen.data.progress import progress_bar
from livegen.tokenizer import (
    DRUM_CHANNEL,
    Note,
    TokenizerConfig,
    TokenKind,
    Vocab,
    encode_notes,
    read_midi,
)

# (tokens, offsets) -> per-token NLL and hits of every token but each document's first
Scorer = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]]  # (nll, hits, ...)

_PART_KINDS = (TokenKind.NOTE_ON, TokenKind.VELOCITY, TokenKind.NOTE_OFF)
COLD_ENTRY_BEATS = 32.0  # 8 bars of 4/4 of the player alone ...
COLD_SPAN_BEATS = 16.0  # ... then the first 4 bars of the part coming in, scored


def target_channel(notes: Sequence[Note]) -> int | None:
    """The non-drum channel with the most notes, or None with fewer than two non-drum channels."""
    counts = Counter(n.channel for n in notes if n.channel != DRUM_CHANNEL)
    if len(counts) < 2:
        return None
    return min(counts, key=lambda channel: (-counts[channel], channel))


def channel_token_mask(tokens: np.ndarray, vocab: Vocab, channel: int) -> np.ndarray:
    """True at the NOTE_ON / VELOCITY / NOTE_OFF tokens written on `channel` (one document)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    kinds = vocab.kinds[tokens]
    is_switch = kinds == TokenKind.CHANNEL
    # the current channel: the argument of the latest CHANNEL token at or before each position
    last_switch = np.maximum.accumulate(np.where(is_switch, np.arange(tokens.size), -1))
    current = np.where(last_switch >= 0, vocab.args[tokens[np.maximum(last_switch, 0)]], 0)
    return np.isin(kinds, _PART_KINDS) & (current == channel)


def encode_parts(
    path: str | Path, tokenizer: TokenizerConfig, vocab: Vocab
) -> tuple[int, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None] | None:
    """(target channel, full tokens, tokens alone, the cold duet and its target alone or None)
    of one file; None if it has no second part."""
    score = read_midi(path)
    notes = list(score.notes)
    channel = target_channel(notes)
    if channel is None:
        return None
    alone = [n for n in notes if n.channel in (channel, DRUM_CHANNEL)]
    meter = score.meter()

    def encode(part: list[Note]) -> np.ndarray:
        tokens = encode_notes(part, tokenizer, time_signatures=meter, bos=True, eos=True)
        return np.asarray(tokens, dtype=np.int64)

    return channel, encode(notes), encode(alone), _cold(notes, channel, encode)


def _cold(
    notes: list[Note], channel: int, encode: Callable[[list[Note]], np.ndarray]
) -> tuple[np.ndarray, np.ndarray] | None:
    """The cold duet of one file and its target alone (module docstring); None if the target
    plays nothing in the scored bars."""
    counts = Counter(n.channel for n in notes if n.channel not in (channel, DRUM_CHANNEL))
    player = min(counts, key=lambda c: (-counts[c], c))
    entry = min(n.start_beat for n in notes) + COLD_ENTRY_BEATS
    end = entry + COLD_SPAN_BEATS
    part = [n for n in notes if n.channel == channel and entry <= n.start_beat < end]
    if not part:
        return None
    line = [n for n in notes if n.channel == player and n.start_beat < end]
    return encode(sorted(line + part, key=lambda n: n.start_beat)), encode(part)


def _scored(docs: list[np.ndarray], masks: list[np.ndarray], score: Scorer) -> np.ndarray:
    """NLL of the masked tokens of `docs` (each document's first token is never scored)."""
    offsets = np.concatenate([[0], np.cumsum([d.size for d in docs])]).astype(np.int64)
    nll, hits, *_ = score(np.concatenate(docs), offsets)
    keep = np.concatenate([m[1:] for m in masks])
    return np.stack([nll[keep], hits[keep].astype(float)])


def accompaniment_nll(
    paths: Sequence[str | Path],
    tokenizer: TokenizerConfig,
    score: Scorer,
    progress: bool = True,
) -> dict[str, Any]:
    """The accompaniment measure over `paths` (keys: module docstring)."""
    vocab = Vocab(tokenizer)
    full, alone, full_masks, alone_masks = [], [], [], []
    cold: tuple[list[np.ndarray], ...] = ([], [], [], [])  # duets, alone, and their masks
    targets: Counter[int] = Counter()
    unreadable = single = 0
    bar = progress_bar(len(paths), "parts", enabled=progress)
    for path in paths:
        try:
            parts = encode_parts(path, tokenizer, vocab)
        except Exception:  # prepare skipped these too; counted, not fatal
            unreadable += 1
            parts = None
        else:
            single += parts is None
        bar.update()
        if parts is None:
            continue
        channel, with_others, by_itself, duet = parts
        if duet is not None:
            duet_tokens, duet_alone = duet
            cold[0].append(duet_tokens)
            cold[1].append(duet_alone)
            cold[2].append(channel_token_mask(duet_tokens, vocab, channel))
            cold[3].append(channel_token_mask(duet_alone, vocab, channel))
        full.append(with_others)
        alone.append(by_itself)
        full_masks.append(channel_token_mask(with_others, vocab, channel))
        alone_masks.append(channel_token_mask(by_itself, vocab, channel))
        targets[channel + 1] += 1
    bar.close()
    report: dict[str, Any] = {
        "files": len(full),
        "single_part_files": single,
        "unreadable_files": unreadable,
        "target_channels": {str(ch): n for ch, n in sorted(targets.items())},  # MIDI 1..16
    }
    if not full:
        return report | {"tokens": 0, "nll_given_others": None, "nll_alone": None}
    given = _scored(full, full_masks, score)
    by_itself = _scored(alone, alone_masks, score)
    report |= {
        "tokens": int(given.shape[1]),
        "tokens_alone": int(by_itself.shape[1]),
        "nll_given_others": float(given[0].mean()),
        "nll_alone": float(by_itself[0].mean()),
        "accuracy_given_others": float(given[1].mean()),
        "accuracy_alone": float(by_itself[1].mean()),
    }
    report["nll_ratio"] = report["nll_given_others"] / report["nll_alone"]
    if cold[0]:
        given = _scored(cold[0], cold[2], score)
        by_itself = _scored(cold[1], cold[3], score)
        report |= {
            "cold_files": len(cold[0]),
            "cold_tokens": int(given.shape[1]),
            "cold_nll_given_player": float(given[0].mean()),
            "cold_nll_alone": float(by_itself[0].mean()),
        }
        report["cold_nll_ratio"] = report["cold_nll_given_player"] / report["cold_nll_alone"]
    return report
