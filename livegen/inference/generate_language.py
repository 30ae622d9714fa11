"""Offline generation in a token language other than events (remi, remi-bpe, triplet).

The same engine and sampler as `generate.py`, without its events grammar, constraint masks and
channel rules (they are written over events ids): sample until EOS, the token budget, or until
the decoded music passes the prompt's end by the bars asked for (checked every
`_CHECK_EVERY` tokens, since a duration language's notes are whole only when decoded).
One batch row: these languages are for measuring and comparing, not for the live path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from livegen.files import check_output
from livegen.inference.engine import Engine
from livegen.inference.generate import GenerateRequest, GenerateResult, output_paths
from livegen.inference.sampler import Sampler
from livegen.languages import Language, language_from
from livegen.tokenizer import Note, Score
from livegen.tokenizer.midi_file import read_midi, write_midi

_CHECK_EVERY = 32
_BEATS_PER_BAR = 4.0  # remi's bars are 4 beats; triplet has none


def _end_beat(notes: list[Note]) -> float:
    return max((n.start_beat for n in notes), default=0.0)


def sample_tokens(
    engine: Engine,
    language: Language,
    prompt: list[int],
    request: GenerateRequest,
    until_beat: float | None,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[int], str]:
    """Tokens after `prompt` and why they stopped ("eos", "tokens", "bars", "max_tokens")."""
    sampler = Sampler(request.seed)
    limit = request.tokens or request.max_tokens
    logits = engine.prefill(np.asarray(prompt, dtype=np.int64))
    out: list[int] = []
    while True:
        token = sampler.sample(logits, request.params)
        if token == language.eos:
            return out, "eos"
        out.append(token)
        if progress is not None:
            progress(len(out))
        if len(out) >= limit:
            return out, "tokens" if request.tokens else "max_tokens"
        due = until_beat is not None and len(out) % _CHECK_EVERY == 0
        if due and _end_beat(language.decode(prompt + out)) >= until_beat:
            return out, "bars"
        logits = engine.step(token)


def generate_in_language(
    prompt_path: str | Path | None,
    out_path: str | Path,
    request: GenerateRequest,
    model: str | Path,
    progress: Callable[[int], None] | None = None,
    count: int = 1,
) -> list[GenerateResult]:
    """`livegen generate` for a model whose folder records another language."""
    inputs = () if prompt_path is None else (prompt_path,)
    paths = output_paths(out_path, count)
    for path in paths:
        check_output(path, inputs)
    engine = Engine.load(model, overflow="sync", check_tokenizer=False)
    language = language_from(engine.tokenizer_config, engine.info.path)
    score = read_midi(prompt_path) if prompt_path is not None else Score([])
    tempo_bpm = 60_000_000 / score.tempos[0][1]
    prompt = language.encode(score, eos=False)
    bars = None if request.tokens else (request.bars or 8)
    until = None if bars is None else _end_beat(list(score.notes)) + bars * _BEATS_PER_BAR
    results = []
    for i, path in enumerate(paths):
        seed = None if request.seed is None else request.seed + i
        engine.reset()
        row = replace(request, seed=seed)
        tokens, reason = sample_tokens(engine, language, prompt, row, until, progress)
        notes = language.decode(prompt + tokens)
        write_midi(notes, path, tempo_bpm=tempo_bpm, inputs=inputs)
        results.append(GenerateResult(tokens, notes, len(score.notes), reason, path))
    return results
