"""Offline generation: continue a MIDI prompt (or start from nothing) with the same engine,
sampler and grammar as the live path, and write the result as a MIDI file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from livegen.engine import Engine
from livegen.sampler import ConstraintMasks, Constraints, MusicState, Sampler, SamplingParams
from livegen.tokenizer import (
    Grammar,
    Note,
    StreamingDecoder,
    TokenizerConfig,
    TokenKind,
    Vocab,
    encode_notes,
    events_to_notes,
)
from livegen.tokenizer.midi_file import read_midi, write_midi


@dataclass(frozen=True)
class GenerateRequest:
    tokens: int | None = None  # stop after this many generated tokens ...
    bars: int | None = None  # ... or after this many bars of music (default: 8 bars)
    params: SamplingParams = field(
        default_factory=lambda: SamplingParams(temperature=0.9, top_p=0.95)
    )
    seed: int | None = None
    constraints: Constraints = field(default_factory=Constraints)
    max_tokens: int = 20_000  # hard stop, whatever the model does


@dataclass(frozen=True)
class GenerateResult:
    tokens: list[int]  # the generated tokens only
    notes: list[Note]  # prompt notes followed by the continuation
    prompt_notes: int
    stopped_by: str  # "tokens", "bars", "eos" or "max_tokens"


def generate_tokens(
    engine: Engine,
    prompt: list[int],
    request: GenerateRequest,
    vocab: Vocab,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[int], str]:
    """Sample a continuation of `prompt` (which should start with BOS); returns tokens, reason."""
    grammar = Grammar(vocab)
    masks = ConstraintMasks(vocab, request.constraints) if request.constraints.active else None
    state = MusicState(vocab)
    decoder = StreamingDecoder(vocab.config, vocab=vocab)
    for token in prompt:
        state.update(token)
        decoder.feed(token)
    sampler = Sampler(request.seed)
    steps_per_bar = 4 * vocab.config.steps_per_beat
    bars = request.bars if request.bars is not None or request.tokens is not None else 8
    end_step = decoder.position_steps + bars * steps_per_bar if bars is not None else None
    limit = min(request.tokens or request.max_tokens, request.max_tokens)
    logits = engine.prefill(prompt)
    out: list[int] = []
    prev = prompt[-1]
    while True:
        mask = grammar.mask_after(prev)
        if masks is not None:
            combined = mask & masks.mask(state)
            mask = combined if combined.any() else mask  # never leave the stream stuck
        token = sampler.sample(logits, request.params, mask)
        if token == vocab.eos:
            return out, "eos"
        out.append(token)
        state.update(token)
        decoder.feed(token)
        if progress is not None:
            progress(len(out))
        if end_step is not None and decoder.position_steps >= end_step:
            return out, "bars"
        if len(out) >= limit:
            return out, "tokens" if request.tokens else "max_tokens"
        logits = engine.step(token)
        prev = token


def generate_midi(
    prompt_path: str | Path | None,
    out_path: str | Path,
    request: GenerateRequest,
    model: str | Path = "default",
    progress: Callable[[int], None] | None = None,
) -> GenerateResult:
    """`livegen generate`: read the prompt, continue it, write prompt + continuation."""
    engine = Engine.load(model, overflow="sync")  # sync: the result depends on the seed only
    config = TokenizerConfig.from_dict(engine.tokenizer_config)
    vocab = Vocab(config)
    tempo_bpm, prompt_notes = 120.0, []
    beats_per_bar = 4.0
    if prompt_path is not None:
        score = read_midi(prompt_path)
        prompt_notes = list(score.notes)
        tempo_bpm = 60_000_000 / score.tempos[0][1]
        if score.time_signatures:
            _, numerator, denominator = score.time_signatures[0]
            beats_per_bar = numerator * 4 / denominator
    prompt = encode_notes(prompt_notes, config, beats_per_bar=beats_per_bar, bos=True, vocab=vocab)
    tokens, reason = generate_tokens(engine, prompt, request, vocab, progress)
    decoder = StreamingDecoder(config, vocab=vocab)
    events = decoder.feed_many(prompt + tokens)
    events.extend(decoder.flush())
    notes = events_to_notes(events, config.steps_per_beat)
    write_midi(notes, out_path, tempo_bpm=tempo_bpm)
    return GenerateResult(tokens, notes, len(prompt_notes), reason)


def note_count(tokens: list[int], vocab: Vocab) -> int:
    return int(
        np.count_nonzero(vocab.kinds[np.asarray(tokens, dtype=np.int64)] == TokenKind.NOTE_ON)
    )
