"""`livegen bench`'s cost per note: decoding whole notes of real music after N notes of context.

A flat model pays per token; a hierarchical one per event (long context) and per token (short
decoder), so per-token figures alone do not compare the two. Here both decode the same music,
the shipped Bach chorale (livegen/assets/prompts) repeated as often as needed: roll back to
just before note N (N notes of context), then step through that note's tokens up to the next
NOTE_ON (its velocity, and the releases and time shifts that follow it). That span's wall time
is one sample of ms per note; divided by its token count, one sample of ms per token.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from livegen.inference.engine import Engine
from livegen.percentiles import percentiles
from livegen.tokenizer import Vocab, encode_notes, read_midi
from livegen.tokenizer.vocab import TokenKind

NOTE_CONTEXTS = (64, 512, 2048)
PROMPT = Path(__file__).parents[1] / "assets" / "prompts" / "bach_chorale_bwv66_6.mid"


def music_stream(min_notes: int) -> np.ndarray:
    """Tokens of the shipped chorale, its body repeated until it holds `min_notes` notes."""
    vocab = Vocab()
    body = encode_notes(read_midi(PROMPT).notes, vocab=vocab)
    notes_per_copy = len(note_starts(np.asarray(body, dtype=np.int64)))
    copies = -(-min_notes // notes_per_copy)
    return np.asarray([vocab.bos, *body * copies], dtype=np.int64)


def note_starts(stream: np.ndarray) -> np.ndarray:
    """Token index of every NOTE_ON in `stream`."""
    ids = Vocab().ids_of_kind(TokenKind.NOTE_ON)
    return np.flatnonzero((stream >= ids.start) & (stream < ids.stop))


def _spans(engine: Engine, stream: np.ndarray, starts: np.ndarray, at_least: int):
    """(at, span): the first note starting at or after token `at_least` (or the last one that
    fits the engine's window) and its tokens up to the next NOTE_ON."""
    fits = [i for i in range(len(starts) - 1) if starts[i + 1] < engine.context]
    i = next((i for i in fits if starts[i] >= at_least), fits[-1])
    return int(starts[i]), stream[starts[i] : starts[i + 1]]


def _time_span(engine: Engine, stream: np.ndarray, at: int, span: np.ndarray, repeats: int):
    """(wall ms, CPU ms of this thread) per decode of `span` after `at` tokens. With one
    intra-op thread onnxruntime computes on the calling thread, so the CPU time is the decode's
    own cost, which a machine busy with other jobs leaves nearly alone while its wall time
    grows with every preemption."""
    engine.reset()
    engine.prefill(stream[:at])
    wall, cpu = [], []
    for round_ in range(repeats + 5):  # the first 5 warm up
        engine.rollback(at)
        started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
        for token in span.tolist():
            engine.step(token)
        if round_ >= 5:
            wall.append(time.perf_counter_ns() - started)
            cpu.append(time.thread_time_ns() - started_cpu)
    return np.asarray(wall, dtype=np.float64) / 1e6, np.asarray(cpu, dtype=np.float64) / 1e6


def ms_per_note(
    engine: Engine, stream: np.ndarray, repeats: int, contexts: tuple[int, ...] = NOTE_CONTEXTS
) -> dict[str, dict[str, float]]:
    """p50/p90/p99 ms to decode one note after N notes of context; "cpu_p50" the same in CPU
    time of the decoding thread; "notes" is the context actually measured (less than N when the
    model's window is shorter), "tokens" its length in tokens, "tokens_per_note" the span's
    length."""
    starts = note_starts(stream)
    out = {}
    for notes in contexts:
        at, span = _spans(engine, stream, starts, int(starts[min(notes, len(starts) - 2)]))
        ms, cpu_ms = _time_span(engine, stream, at, span, repeats)
        out[str(notes)] = {
            **percentiles(ms, (50, 90, 99)),
            "cpu_p50": float(np.percentile(cpu_ms, 50)),
            "notes": int(np.searchsorted(starts, at)),
            "tokens": at,
            "tokens_per_note": len(span),
        }
    return out


def ms_per_token_in_notes(
    engine: Engine, stream: np.ndarray, repeats: int, contexts: tuple[int, ...]
) -> dict[str, dict[str, float]]:
    """The `decode_ms` entries for a hierarchical model: ms per token averaged over one note's
    tokens at a context of about `ctx` tokens (a single step would time either an event step
    or a token step, never the mix that music makes)."""
    starts = note_starts(stream)
    out = {}
    for ctx in contexts:
        at, span = _spans(engine, stream, starts, ctx)
        ms = _time_span(engine, stream, at, span, repeats)[0] / len(span)
        out[str(ctx)] = {**percentiles(ms, (50, 90, 99)), "context": at}
    return out
