"""Offline generation: continue a MIDI prompt (or start from nothing) with the same engine,
sampler and grammar as the live path, and write the result as a MIDI file. A chord progression
and a key (inference/conditioning.py) are written as tokens at the continuation's bar lines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from livegen.files import check_output
from livegen.inference.conditioning import Harmony, HarmonyWriter
from livegen.inference.engine import Engine
from livegen.inference.grid import quantize_notes
from livegen.inference.hold import DEFAULT_MAX_HOLD_BEATS, HoldLimit
from livegen.inference.sampler import (
    ConstraintMasks,
    Constraints,
    MusicState,
    Sampler,
    SamplingParams,
)
from livegen.tokenizer import (
    Grammar,
    Note,
    StreamingDecoder,
    TokenizerConfig,
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
    # 0-based channels the continuation may play on. None: the prompt's own parts (the channels
    # with notes in it; any without a prompt); (): any channel. constraints.channels wins if set.
    channels: tuple[int, ...] | None = None
    max_tokens: int = 20_000  # hard stop, whatever the model does
    harmony: Harmony = field(default_factory=Harmony)  # chords and key forced at bar lines
    # a note held this long is ended (livegen.inference.hold); 0 = only the model's releases
    max_hold_beats: float = DEFAULT_MAX_HOLD_BEATS
    # the generated notes written out moved onto this grid, e.g. "1/16" (inference/grid); "" = off
    grid: str = ""


@dataclass(frozen=True)
class GenerateResult:
    tokens: list[int]  # the generated tokens only
    notes: list[Note]  # prompt notes followed by the continuation
    prompt_notes: int
    stopped_by: str  # "tokens", "bars", "eos" or "max_tokens"
    path: Path


class _Row:
    """One sequence of a (possibly batched) generation: its state, output and stop reason."""

    def __init__(
        self, vocab: Vocab, prompt: list[int], request: GenerateRequest, beats_per_bar: float
    ) -> None:
        self.vocab = vocab
        self.state = MusicState(vocab)
        self.decoder = StreamingDecoder(vocab.config, vocab=vocab)
        for token in prompt:
            self.state.update(token)
            self.decoder.feed(token)
        self.prev = prompt[-1]
        self.out: list[int] = []
        self.reason: str | None = None
        bars = request.bars if request.bars is not None or request.tokens is not None else 8
        steps_per_bar = round(beats_per_bar * vocab.config.steps_per_beat)  # the prompt's meter
        self.steps_per_bar = steps_per_bar
        self.end_step = None if bars is None else self.decoder.position_steps + bars * steps_per_bar
        self.limit = min(request.tokens or request.max_tokens, request.max_tokens)
        self.by_tokens = request.tokens is not None
        self.harmony = None
        # tokens written next instead of sampled: the harmony due at a bar line
        self.forced: list[int] = []
        if request.harmony.active:
            position = self.decoder.position_steps
            self.harmony = HarmonyWriter(request.harmony, vocab, steps_per_bar, position)
            if self.prev == vocab.bar:
                self.forced = self.harmony.at_bar_line(position)

    def choose(
        self,
        logits: np.ndarray,
        sampler: Sampler,
        params: SamplingParams,
        grammar: Grammar,
        masks: ConstraintMasks | None,
        hold: HoldLimit,
    ) -> int:
        """Sample the next token (or write a forced one); sets `reason` when this row is done."""
        position = self.decoder.position_steps
        if self.forced:
            token = self.forced.pop(0)
        elif self.harmony is not None and self.harmony.bar_due(position):
            token = self.vocab.bar  # time reached the bar line: its chord comes after it
        else:
            mask = grammar.mask_after(self.prev)
            if masks is not None:
                combined = mask & masks.mask(self.state)
                mask = combined if combined.any() else mask  # never leave the stream stuck
            if self.harmony is not None:
                mask = self.harmony.restrict(mask, position)
                logits = self.harmony.lean(logits, position, self.state.channel)
            token = sampler.sample(logits, params, hold.restrict(mask, self.decoder))
            # a time shift reaching a note's cap: cut there, with the release (inference/hold)
            token, *rest = hold.split(token, self.decoder, bar_steps=self.steps_per_bar)
            self.forced[:0] = rest
        if token == self.vocab.eos:
            self.reason = "eos"
            return token
        self.out.append(token)
        self.state.update(token)
        self.decoder.feed(token)
        self.prev = token
        if token == self.vocab.bar and self.harmony is not None:
            self.forced = self.harmony.at_bar_line(self.decoder.position_steps)
        if self.end_step is not None and self.decoder.position_steps >= self.end_step:
            self.reason = "bars"
        elif len(self.out) >= self.limit:
            self.reason = "tokens" if self.by_tokens else "max_tokens"
        return token


def generate_batch(
    engine: Engine,
    prompt: list[int],
    request: GenerateRequest,
    vocab: Vocab,
    progress: Callable[[int], None] | None = None,
    beats_per_bar: float = 4.0,
) -> list[tuple[list[int], str]]:
    """One continuation of `prompt` per batch row of the engine (rows differ by sampling).

    Returns (tokens, stop reason) per row; a finished row is fed PAD until all are done.
    """
    grammar = Grammar(vocab)
    masks = ConstraintMasks(vocab, request.constraints) if request.constraints.active else None
    sampler = Sampler(request.seed)
    hold = HoldLimit(vocab, request.max_hold_beats)
    rows = [_Row(vocab, prompt, request, beats_per_bar) for _ in range(engine.batch)]
    block = np.tile(np.asarray(prompt, dtype=np.int64), (engine.batch, 1))
    logits = np.atleast_2d(engine.prefill(block))  # (B, V)
    while True:
        feed = []
        for row, row_logits in zip(rows, logits, strict=True):
            if row.reason is None:
                token = row.choose(row_logits, sampler, request.params, grammar, masks, hold)
                feed.append(token if row.reason is None else vocab.pad)
            else:
                feed.append(vocab.pad)
        if progress is not None:
            progress(max(len(row.out) for row in rows))
        if all(row.reason is not None for row in rows):
            return [(row.out, str(row.reason)) for row in rows]
        logits = np.atleast_2d(engine.step(np.asarray(feed, dtype=np.int64)))


def generate_tokens(
    engine: Engine,
    prompt: list[int],
    request: GenerateRequest,
    vocab: Vocab,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[int], str]:
    """Sample one continuation of `prompt` (which should start with BOS); tokens, reason."""
    if engine.batch != 1:
        raise ValueError("generate_tokens needs a batch-1 engine; use generate_batch")
    return generate_batch(engine, prompt, request, vocab, progress)[0]


def continuation_channels(request: GenerateRequest, prompt_notes: list[Note]) -> tuple[int, ...]:
    """The channels the continuation may use (0-based; () = any): by default only the parts the
    prompt already has, so a melody is continued, not handed over to a new instrument."""
    if request.constraints.channels:
        return request.constraints.channels
    if request.channels is not None:
        return request.channels
    return tuple(sorted({note.channel for note in prompt_notes}))


def output_paths(out_path: str | Path, count: int) -> list[Path]:
    """OUT.mid for one result; OUT-1.mid ... OUT-n.mid for several."""
    out_path = Path(out_path)
    if count == 1:
        return [out_path]
    return [out_path.with_name(f"{out_path.stem}-{i + 1}{out_path.suffix}") for i in range(count)]


def generate_midi(
    prompt_path: str | Path | None,
    out_path: str | Path,
    request: GenerateRequest,
    model: str | Path = "default",
    progress: Callable[[int], None] | None = None,
    count: int = 1,
) -> list[GenerateResult]:
    """`livegen generate`: read the prompt, continue it `count` times in one batch, write
    prompt + continuation per result (see output_paths)."""
    inputs = () if prompt_path is None else (prompt_path,)
    paths = output_paths(out_path, count)
    for path in paths:  # a bad -o fails before the model loads, not after generating
        check_output(path, inputs)
    # sync overflow: the result depends on the seed only, never on thread timing
    engine = Engine.load(model, overflow="sync", batch=count)
    config = TokenizerConfig.from_dict(engine.tokenizer_config)
    vocab = Vocab(config)
    request.harmony.check_model(vocab, str(model))
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
    if request.harmony.active and prompt == [vocab.bos] and config.use_bars:
        prompt.append(vocab.bar)  # no prompt: the progression starts at once, on bar 1
    channels = continuation_channels(request, prompt_notes)
    constraints = request.harmony.constrain(replace(request.constraints, channels=channels))
    request = replace(request, constraints=constraints)
    results = []
    for path, (tokens, reason) in zip(
        paths, generate_batch(engine, prompt, request, vocab, progress, beats_per_bar), strict=True
    ):
        decoder = StreamingDecoder(config, vocab=vocab)
        events = decoder.feed_many(prompt + tokens)
        events.extend(decoder.flush())
        notes = events_to_notes(events, config.steps_per_beat)
        if request.grid:
            seam = StreamingDecoder(config, vocab=vocab)
            seam.feed_many(prompt)
            notes = quantize_notes(notes, request.grid, seam.position_steps / config.steps_per_beat)
        write_midi(notes, path, tempo_bpm=tempo_bpm, inputs=inputs)
        results.append(GenerateResult(tokens, notes, len(prompt_notes), reason, path))
    return results
