"""Tokenizer cost: streaming encode/decode µs per event (goal p99 <= 20 µs), offline notes/s.

    .venv/bin/python bench/tokenizer_bench.py [--folder DIR] [--json]

Streaming numbers time every single call (perf_counter_ns) over the events and tokens of every
file in the folder (default: ../shared/testdata/midi, or $LIVEGEN_TESTDATA/midi). Offline numbers
are whole-folder throughput: reading (mido; symusic's parse alone shown for comparison),
encode_notes and decode_tokens.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click
import numpy as np

from livegen.data.progress import progress_bar
from livegen.tokenizer import (
    StreamingDecoder,
    StreamingEncoder,
    TokenizerConfig,
    Vocab,
    decode_tokens,
    encode_notes,
    note_events,
    read_midi,
)
from livegen.tokenizer.midi_file import is_midi_name

GOAL_P99_US = 20.0


def default_folder() -> Path:
    root = os.environ.get("LIVEGEN_TESTDATA")
    base = (
        Path(root) if root else Path(__file__).resolve().parents[1] / ".." / "shared" / "testdata"
    )
    return (base / "midi").resolve()


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    us = np.asarray(samples_ns, dtype=np.float64) / 1e3
    return {
        "calls": int(us.size),
        "mean_us": round(float(us.mean()), 3),
        "p50_us": round(float(np.percentile(us, 50)), 3),
        "p99_us": round(float(np.percentile(us, 99)), 3),
        "max_us": round(float(us.max()), 1),
    }


def run(folder: Path, progress: bool) -> dict:
    files = sorted(p for p in folder.glob("*") if p.is_file() and is_midi_name(p))
    if not files:
        raise SystemExit(f"error: no MIDI files in {folder}")
    config = TokenizerConfig()
    vocab = Vocab(config)
    clock = time.perf_counter_ns
    read_s = encode_s = decode_s = symusic_s = 0.0
    n_notes = n_tokens = 0
    enc_ns: list[int] = []
    dec_ns: list[int] = []
    dec_events = 0
    bar = progress_bar(len(files), "tokenizer bench", enabled=progress)
    for path in files:
        bar.set_postfix_str(path.name[:50], refresh=False)
        t0 = time.perf_counter()
        score = read_midi(path)
        t1 = time.perf_counter()
        tokens = encode_notes(score.notes, config, time_signatures=score.meter(), vocab=vocab)
        t2 = time.perf_counter()
        decode_tokens(tokens, config, vocab=vocab)
        t3 = time.perf_counter()
        read_s, encode_s, decode_s = read_s + t1 - t0, encode_s + t2 - t1, decode_s + t3 - t2
        n_notes += len(score.notes)
        n_tokens += len(tokens)
        symusic_s += _symusic_parse_seconds(path)

        encoder = StreamingEncoder(config, time_signatures=score.meter(), vocab=vocab)
        encode = encoder.encode
        for event in note_events(score.notes, config):
            start = clock()
            encode(event)
            enc_ns.append(clock() - start)
        decoder = StreamingDecoder(config, vocab=vocab)
        feed = decoder.feed
        for token in tokens:
            start = clock()
            dec_events += len(feed(token))
            dec_ns.append(clock() - start)
        bar.update()
    bar.close()
    encode_stats = percentiles(enc_ns)
    decode_stats = percentiles(dec_ns)
    decode_stats["events"] = dec_events
    decode_stats["us_per_event"] = round(sum(dec_ns) / 1e3 / max(dec_events, 1), 3)
    return {
        "folder": str(folder),
        "files": len(files),
        "notes": n_notes,
        "tokens": n_tokens,
        "streaming_encode_per_event": encode_stats,
        "streaming_decode_per_token": decode_stats,
        "offline_notes_per_s": {
            "read_mido": round(n_notes / read_s),
            "encode": round(n_notes / encode_s),
            "decode": round(n_notes / decode_s),
            "read_encode_decode": round(n_notes / (read_s + encode_s + decode_s)),
            "parse_symusic_only": round(n_notes / symusic_s) if symusic_s else None,
        },
        "goal_p99_us": GOAL_P99_US,
        "goal_met": encode_stats["p99_us"] <= GOAL_P99_US and decode_stats["p99_us"] <= GOAL_P99_US,
    }


def _symusic_parse_seconds(path: Path) -> float:
    """symusic's C++ parse of the same file, for the mido-vs-symusic comparison (0 if absent)."""
    try:
        import symusic
    except ImportError:
        return 0.0
    start = time.perf_counter()
    symusic.Score(str(path))
    return time.perf_counter() - start


def print_table(result: dict) -> None:
    print(f"{result['files']} files, {result['notes']} notes, {result['tokens']} tokens")
    print(f"{'streaming (per call)':<30}{'calls':>9}{'p50 µs':>9}{'p99 µs':>9}{'max µs':>9}")
    for label, key in (
        ("encode, per event", "streaming_encode_per_event"),
        ("decode, per token", "streaming_decode_per_token"),
    ):
        s = result[key]
        row = f"{label:<30}{s['calls']:>9}{s['p50_us']:>9.2f}{s['p99_us']:>9.2f}{s['max_us']:>9.1f}"
        print(row)
    dec = result["streaming_decode_per_token"]
    print(f"decode, per decoded event: {dec['us_per_event']:.2f} µs mean ({dec['events']} events)")
    print(f"goal p99 <= {result['goal_p99_us']} µs: {'met' if result['goal_met'] else 'NOT met'}")
    print(f"{'offline':<30}{'notes/s':>12}")
    for label, value in result["offline_notes_per_s"].items():
        print(f"{label:<30}{value if value is not None else 'n/a':>12}")


@click.command()
@click.option("--folder", type=click.Path(path_type=Path, file_okay=False), help="MIDI files.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def main(folder: Path | None, as_json: bool) -> None:
    """Tokenizer cost: streaming encode/decode µs per event, offline notes/s."""
    result = run(folder or default_folder(), progress=not as_json)
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
