"""Continuation statistics: how a model continues held-out prompts, beside the prompts themselves.

For `prompts` held-out documents (evenly spread, long enough), the first `prompt_tokens` tokens
are the prompt and the model samples `continuation_tokens` more (temperature 1 unless
`--temperature` says otherwise, top-p 0.95, grammar mask). The notes starting after the prompt
are compared with the prompt's own notes:
- pitch_class_overlap: sum over the 12 pitch classes of min(prompt share, continuation share),
  non-drum notes (1 = same histogram, 0 = disjoint), mean over prompts;
- note_density: notes per beat (prompt and continuation);
- on_grid: share of onsets on the 16th-note grid (steps_per_beat / 4), continuation and prompt;
- polyphony: mean number of notes sounding at each onset (prompt and continuation);
- out_of_range: share of continuation notes more than an octave outside the prompt's range;
- stuck_notes: continuation notes held 8 beats or more (prompt's count beside it);
- open_notes: notes still sounding after the continuation (an EOS closes them all), summed over
  prompts; open_notes_prompt: the same after the prompt;
- open_note_age: median age in beats of those notes (since their onset; None if none): a note the
  model forgot to end is old, one cut by the end of the window is young (stop 24's default, on 8
  prompts of the shared test MIDI: 6.1 beats, where the real music read on to the same length
  had 1.0); open_note_age_prompt: the same after the prompt;
- max_hold_beats: the cap on a note's length the sampling kept (`--max-hold-beats`,
  livegen.inference.hold; 0 = none, the model's own releases only);
- temperature: the sampling temperature (`--temperature`; 1 = the model's own distribution);
- velocity_spread: standard deviation of the continuation's note velocities (MIDI 1..127, as the
  tokens carry them), mean over prompts; velocity_spread_prompt: the prompt's.
- real: the same statistics (note_density, polyphony, out_of_range, stuck_notes, open_notes,
  open_note_age) over the document's own next tokens, as many as the model sampled (fewer where
  the document ends sooner): the music as written, read on as far. The yardstick the prompt alone
  cannot be: a piece's first bars are often its sparsest, and a window's end cuts notes the music
  holds (stop 29, the 16 prompts of the model card's half of the shared test MIDI: the music
  itself plays 1.30x the prompt's notes a beat after it and leaves 63 notes open where the
  prompts left 48).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from livegen.data.progress import progress_bar
from livegen.tokenizer import (
    Note,
    StreamingDecoder,
    TokenizerConfig,
    TokenKind,
    Vocab,
    decode_tokens,
)

if TYPE_CHECKING:
    from .evaluate import EvalOptions

STUCK_BEATS = 8.0


class Sampler(Protocol):
    """Samples up to n_tokens after prompt (temperature 1, top-p 0.95, grammar mask)."""

    def __call__(
        self, prompt: list[int], n_tokens: int, vocab: Vocab, *, seed: int
    ) -> list[int]: ...


def continuation_stats(
    sample: Sampler,
    context: int,
    tokens: np.ndarray,
    offsets: np.ndarray,
    tokenizer: TokenizerConfig,
    options: EvalOptions,
) -> dict[str, Any]:
    """The statistics above over `options.prompts` documents (keys: module docstring)."""
    vocab = Vocab(tokenizer)
    lengths = np.diff(offsets)
    eligible = np.flatnonzero(lengths >= options.prompt_tokens + 16)
    if options.prompts == 0 or eligible.size == 0:
        return {"prompts": 0, "pitch_class_overlap": None, "on_grid": None, "stuck_notes": None}
    picks = eligible[
        np.linspace(0, eligible.size - 1, min(options.prompts, eligible.size)).astype(int)
    ]
    prompt_len = min(options.prompt_tokens, context // 2)
    n_new = min(options.continuation_tokens, context - prompt_len)
    rows: list[dict[str, float]] = []
    real_rows: list[dict[str, float]] = []
    open_ages: tuple[list[float], list[float]] = ([], [])  # after the prompts, the continuations
    real_ages: list[float] = []
    bar = progress_bar(len(picks), "continue", unit="prompts", enabled=options.progress)
    for i, doc in enumerate(picks):
        prompt = tokens[offsets[doc] : offsets[doc] + prompt_len].tolist()
        new = sample(prompt, n_new, vocab, seed=options.seed + i)
        row, ages_prompt, ages = _continued(prompt, new, tokenizer, vocab)
        row["open_prompt"] = len(ages_prompt)
        open_ages[0].extend(ages_prompt)
        open_ages[1].extend(ages)
        rows.append(row)
        read_on = offsets[doc] + prompt_len
        real = tokens[read_on : min(offsets[doc + 1], read_on + n_new)].tolist()
        real_row, _, ages_real = _continued(prompt, real, tokenizer, vocab)
        real_rows.append(real_row)
        real_ages.extend(ages_real)
        bar.update()
    bar.close()

    def mean(key: str) -> float | None:
        return _mean(rows, key)

    return {
        "prompts": len(rows),
        "prompt_tokens": prompt_len,
        "continuation_tokens": n_new,
        "max_hold_beats": options.max_hold_beats,
        "temperature": options.temperature,
        "pitch_class_overlap": mean("pc_overlap"),
        "note_density": mean("density"),
        "note_density_prompt": mean("density_prompt"),
        "on_grid": mean("on_grid"),
        "on_grid_prompt": mean("on_grid_prompt"),
        "polyphony": mean("polyphony"),
        "polyphony_prompt": mean("polyphony_prompt"),
        "out_of_range": mean("out_of_range"),
        "stuck_notes": int(sum(r["stuck"] for r in rows)),
        "stuck_notes_prompt": int(sum(r["stuck_prompt"] for r in rows)),
        "open_notes": int(sum(r["open"] for r in rows)),
        "open_notes_prompt": int(sum(r["open_prompt"] for r in rows)),
        "open_note_age": float(np.median(open_ages[1])) if open_ages[1] else None,
        "open_note_age_prompt": float(np.median(open_ages[0])) if open_ages[0] else None,
        "velocity_spread": mean("velocity_spread"),
        "velocity_spread_prompt": mean("velocity_spread_prompt"),
        "real": {
            "note_density": _mean(real_rows, "density"),
            "polyphony": _mean(real_rows, "polyphony"),
            "out_of_range": _mean(real_rows, "out_of_range"),
            "stuck_notes": int(sum(r["stuck"] for r in real_rows)),
            "open_notes": int(sum(r["open"] for r in real_rows)),
            "open_note_age": float(np.median(real_ages)) if real_ages else None,
        },
    }


def _mean(rows: list[dict[str, float]], key: str) -> float | None:
    values = [r[key] for r in rows if r[key] is not None and not math.isnan(r[key])]
    return float(np.mean(values)) if values else None


def _continued(
    prompt: list[int], new: list[int], tokenizer: TokenizerConfig, vocab: Vocab
) -> tuple[dict[str, float], list[float], list[float]]:
    """The comparison row of `new` after `prompt` (sampled, or the document's own tokens) and
    the ages of the notes open after the prompt and after `new`."""
    spb = tokenizer.steps_per_beat
    prompt_end = _end_beat(prompt, vocab, spb)
    whole = decode_tokens(prompt + new, tokenizer)
    cont = [n for n in whole if n.start_beat >= prompt_end]
    cont_beats = _end_beat(prompt + new, vocab, spb) - prompt_end
    row = _compare(decode_tokens(prompt, tokenizer), prompt_end, cont, cont_beats, spb)
    ages_prompt, ages = _open_note_ages(prompt, new, tokenizer)
    row["open"] = len(ages)
    return row, ages_prompt, ages


def _open_note_ages(
    prompt: list[int], new: list[int], tokenizer: TokenizerConfig
) -> tuple[list[float], list[float]]:
    """The ages in beats of the notes sounding after the prompt, and after the continuation (an
    EOS closes them all)."""
    decoder = StreamingDecoder(tokenizer)
    decoder.feed_many(prompt)
    at_prompt_end = decoder.held_ages_beats()
    decoder.feed_many(new)
    return at_prompt_end, decoder.held_ages_beats()


def _velocity_spread(notes: list[Note]) -> float:
    """Standard deviation of the notes' MIDI velocities (0 for one dynamic)."""
    return float(np.std([n.velocity for n in notes])) if notes else float("nan")


def _end_beat(tokens: list[int], vocab: Vocab, spb: int) -> float:
    kinds = vocab.kinds[np.asarray(tokens)]
    steps = np.where(kinds == TokenKind.TIME_SHIFT, vocab.args[np.asarray(tokens)], 0)
    return float(steps.sum()) / spb


def _pc_hist(notes: list[Note]) -> np.ndarray:
    hist = np.bincount([n.pitch % 12 for n in notes if n.channel != 9], minlength=12)
    return hist / hist.sum() if hist.sum() else hist.astype(float)


def _on_grid(notes: list[Note], spb: int) -> float:
    if not notes:
        return float("nan")
    grid = max(spb // 4, 1)
    steps = [round(n.start_beat * spb) for n in notes]
    return float(np.mean([s % grid == 0 for s in steps]))


def _polyphony(notes: list[Note]) -> float:
    if not notes:
        return float("nan")
    starts = np.array([n.start_beat for n in notes])
    ends = np.array([n.end_beat for n in notes])
    return float(np.mean([np.sum((starts <= t) & (ends > t)) for t in np.unique(starts)]))


def _compare(
    prompt: list[Note], prompt_beats: float, cont: list[Note], cont_beats: float, spb: int
) -> dict[str, float]:
    pitched = [n.pitch for n in prompt if n.channel != 9]
    low, high = (min(pitched) - 12, max(pitched) + 12) if pitched else (0, 127)
    cont_pitched = [n for n in cont if n.channel != 9]
    outside = [n for n in cont_pitched if not low <= n.pitch <= high]
    has_both = bool(pitched) and bool(cont_pitched)
    return {
        "pc_overlap": float(np.minimum(_pc_hist(prompt), _pc_hist(cont)).sum())
        if has_both
        else float("nan"),
        "density": len(cont) / cont_beats if cont_beats > 0 else float("nan"),
        "density_prompt": len(prompt) / prompt_beats if prompt_beats > 0 else float("nan"),
        "on_grid": _on_grid(cont, spb),
        "on_grid_prompt": _on_grid(prompt, spb),
        "polyphony": _polyphony(cont),
        "polyphony_prompt": _polyphony(prompt),
        "out_of_range": len(outside) / len(cont_pitched) if cont_pitched else float("nan"),
        "stuck": sum(n.end_beat - n.start_beat >= STUCK_BEATS for n in cont),
        "stuck_prompt": sum(n.end_beat - n.start_beat >= STUCK_BEATS for n in prompt),
        "velocity_spread": _velocity_spread(cont),
        "velocity_spread_prompt": _velocity_spread(prompt),
    }
