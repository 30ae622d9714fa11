"""The token languages side by side (docs/tokenizers.md): one prepared folder and one training run
per language over the same MIDI files, measured in one process so the load is shared.

    .venv/bin/python bench/languages_table.py --lang events=DATA_DIR,RUN_DIR --lang remi=... \
        [--steps 192] [--rounds 5]

Columns: tokens per note (all prepared files, BOS/EOS included); the round trip of every prepared
file in its language (notes kept of those the grid can hold, largest onset error, median
offset error, notes whose end is within half a grid step); val NLL per note in bits (the
run's checkpoint over the whole val split, each file from its start, summed over tokens,
divided by the val split's notes: train/language_eval.py); the ONNX engine's median ms per
decode step over val tokens (rounds interleaved across languages, so load changes hit all
alike) times tokens per note; streaming.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from livegen.data.shards import load_split, read_manifest
from livegen.languages.recorded import recorded_language
from livegen.languages.roundtrip import compare
from livegen.machine import cpu_info
from livegen.tokenizer import read_midi


def _files(data: Path) -> list[tuple[Path, str, int]]:
    manifest = read_manifest(data)
    roots = {name: Path(entry["root"]) for name, entry in manifest["sources"].items()}
    return [(roots[f["origin"]] / f["source"], f["split"], f["notes"]) for f in manifest["files"]]


def round_trip(data: Path) -> dict[str, float]:
    language = recorded_language(data)
    kept = representable = ends = 0
    onset = 0.0
    offsets: list[float] = []
    for path, _, _ in _files(data):
        score = read_midi(path)
        decoded = language.decode(language.encode(score))
        measures = compare(language, score.notes, decoded)
        kept += measures["kept"]
        representable += len(score.notes) - measures["merged"]
        onset = max(onset, measures["max_onset_error_beats"])
        offsets.append(measures["median_offset_error_beats"])
        ends += measures["ends_within_half_step"]
    return {
        "kept": kept / representable,
        "lost": representable - kept,
        "onset": onset,
        "offset": statistics.median(offsets),
        "ends": ends / kept,
    }


def val_bits_per_note(data: Path, run: Path) -> tuple[float, float, int]:
    """train/language_eval.py's scores (`livegen eval` of a non-events model), for every
    language, events included: (bits per note, bits per token, the checkpoint's step)."""
    import torch
    from livegen.train.language_eval import evaluate_in_language

    torch.set_num_threads(1)
    found = evaluate_in_language(run / "checkpoint.pt", data, split="val", progress=False)
    return found["bits_per_note"], found["bits_per_token"], int(found["model_step"] or 0)


def engine_ms(models: dict[str, Path], data: dict[str, Path], steps: int, rounds: int):
    from livegen.inference.engine import Engine

    engines = {n: Engine.load(m, threads=1, check_tokenizer=False) for n, m in models.items()}
    feeds = {
        n: np.asarray(load_split(data[n], "val").tokens[:steps], dtype=np.int64) for n in models
    }
    times: dict[str, list[int]] = {n: [] for n in models}
    for _ in range(rounds):
        for name, engine in engines.items():
            engine.reset()
            engine.prefill(feeds[name][:1])
            for token in feeds[name][1:]:
                started = time.perf_counter_ns()
                engine.step(int(token))
                times[name].append(time.perf_counter_ns() - started)
    return {n: statistics.median(t) / 1e6 for n, t in times.items()}


@click.command()
@click.option("--lang", "langs", multiple=True, required=True, help="NAME=DATA_DIR,RUN_DIR")
@click.option("--steps", default=192, show_default=True, help="Engine steps per round.")
@click.option("--rounds", default=5, show_default=True)
def main(langs: tuple[str, ...], steps: int, rounds: int) -> None:
    from livegen.export.transformer_onnx import export_checkpoint

    load_before = tuple(round(x, 1) for x in os.getloadavg())
    data, runs = {}, {}
    for spec in langs:
        name, _, dirs = spec.partition("=")
        data[name], runs[name] = (Path(d) for d in dirs.split(","))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        models = {}
        for name in data:
            models[name] = export_checkpoint(runs[name] / "checkpoint.pt", Path(tmp) / name)[0]
        ms = engine_ms(models, data, steps, rounds)
    for name in data:
        manifest = read_manifest(data[name])
        tokens = sum(f["tokens"] for f in manifest["files"])
        notes = sum(f["notes"] for f in manifest["files"])
        bits_note, bits_token, step = val_bits_per_note(data[name], runs[name])
        rows[name] = {
            "tokens_per_note": tokens / notes,
            "vocab": recorded_language(data[name]).size,
            "step": step,
            "bits_note": bits_note,
            "bits_token": bits_token,
            "ms_token": ms[name],
            **round_trip(data[name]),
            "streaming": recorded_language(data[name]).streaming,
        }
    cpu = cpu_info()
    load_after = tuple(round(x, 1) for x in os.getloadavg())
    click.echo(
        f"CPU: {cpu.describe()}; load average (1, 5, 15 min) before {load_before}, "
        f"after {load_after}"
    )
    click.echo(
        "| language | vocab | tokens/note | notes kept (lost) | max onset error (beats) | "
        "median offset error (beats) | ends within 1/48 beat | steps in the time | "
        "val bits/token | val bits/note | engine ms/token | engine ms/note | streaming |"
    )
    click.echo("|" + "---|" * 13)
    for name, r in rows.items():
        click.echo(
            f"| {name} | {r['vocab']} | {r['tokens_per_note']:.2f} | "
            f"{100 * r['kept']:.2f}% ({r['lost']}) | {r['onset']:.4f} | {r['offset']:.4f} | "
            f"{100 * r['ends']:.1f}% | {r['step']} | {r['bits_token']:.3f} | "
            f"{r['bits_note']:.2f} | {r['ms_token']:.3f} | "
            f"{r['ms_token'] * r['tokens_per_note']:.3f} | {'yes' if r['streaming'] else 'no'} |"
        )


if __name__ == "__main__":
    main()
