"""The token languages side by side (docs/tokenizers.md): one prepared folder and one training run
per language over the same MIDI files, measured in one process so the load is shared.

    .venv/bin/python bench/languages_table.py --lang events=DATA_DIR,RUN_DIR --lang remi=... \
        [--steps 192] [--rounds 5] [--cache DIR]

Columns: tokens per note (all prepared files, BOS/EOS included); the round trip of every prepared
file in its language (notes kept of those the grid can hold, largest onset error, median
offset error, notes whose end is within half a grid step); val NLL per note in bits (the
run's checkpoint over the whole val split, each file from its start, summed over tokens,
divided by the val split's notes: train/language_eval.py); the ONNX engine's median ms per
decode step over val tokens (rounds interleaved across languages, so load changes hit all
alike) times tokens per note; streaming. A second table says what each run got: steps, training
tokens and notes seen (steps x batch x accumulation x window; notes by the data's tokens per
note), so runs under a changing load can be judged (equal minutes on a shared CPU are not
equal work). With --cache, each language's slow measures (round trip, val bits, the
exported model) are kept in DIR and reused while its manifest and checkpoint are unchanged, so
a language can be measured as soon as its run ends; the engine timing is always run afresh,
all languages interleaved.
"""

from __future__ import annotations

import json
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


def tokens_seen(run: Path, step: int) -> int:
    """Training tokens a run has seen by `step`, from its config.json (resumed runs alike)."""
    config = json.loads((run / "config.json").read_text())
    optim = config["optim"]
    return step * optim["batch_size"] * optim.get("grad_accum", 1) * config["data"]["seq_len"]


def _fingerprint(*files: Path) -> str:
    """Changes when any of the files does."""
    return ";".join(f"{f.stat().st_mtime_ns}:{f.stat().st_size}" for f in files)


def slow_measures(data: Path, run: Path, cache: Path | None, name: str) -> dict:
    """Round trip and val bits of one language, from `cache` while still valid: the round trip
    is kept per prepared folder (it needs no model), the bits per checkpoint."""
    saved = cache / f"{name}.json" if cache else None
    found = json.loads(saved.read_text()) if saved is not None and saved.is_file() else {}
    manifest, checkpoint = data / "manifest.json", run / "checkpoint.pt"
    if found.get("key") == _fingerprint(manifest, checkpoint):  # one key for both, as before
        return found["measures"]
    if found.get("round_trip_key") != _fingerprint(manifest):
        found["round_trip_key"], found["round_trip"] = _fingerprint(manifest), round_trip(data)
    if found.get("bits_key") != _fingerprint(manifest, checkpoint):
        bits_note, bits_token, step = val_bits_per_note(data, run)
        found["bits_key"] = _fingerprint(manifest, checkpoint)
        found["bits"] = {"bits_note": bits_note, "bits_token": bits_token, "step": step}
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        kept = {k: found[k] for k in ("round_trip_key", "round_trip", "bits_key", "bits")}
        saved.write_text(json.dumps(kept))
    return {**found["bits"], **found["round_trip"]}


def exported_model(run: Path, folder: Path) -> Path:
    """The run's checkpoint exported to `folder`, again only when the checkpoint is newer."""
    from livegen.export.transformer_onnx import export_checkpoint

    checkpoint = run / "checkpoint.pt"
    done = folder / "model.toml"
    if done.is_file() and done.stat().st_mtime_ns > checkpoint.stat().st_mtime_ns:
        return folder
    return export_checkpoint(checkpoint, folder)[0]


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
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep each language's slow measures and exported model here; reuse them while valid.",
)
def main(langs: tuple[str, ...], steps: int, rounds: int, cache: Path | None) -> None:
    load_before = tuple(round(x, 1) for x in os.getloadavg())
    data, runs = {}, {}
    for spec in langs:
        name, _, dirs = spec.partition("=")
        data[name], runs[name] = (Path(d) for d in dirs.split(","))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        models_dir = cache / "models" if cache else Path(tmp)
        models = {name: exported_model(runs[name], models_dir / name) for name in data}
        measured = {name: slow_measures(data[name], runs[name], cache, name) for name in data}
        ms = engine_ms(models, data, steps, rounds)
    for name in data:
        manifest = read_manifest(data[name])
        tokens = sum(f["tokens"] for f in manifest["files"])
        notes = sum(f["notes"] for f in manifest["files"])
        rows[name] = {
            "tokens_per_note": tokens / notes,
            "vocab": recorded_language(data[name]).size,
            "tokens_seen": tokens_seen(runs[name], measured[name]["step"]),
            "ms_token": ms[name],
            **measured[name],
            "streaming": recorded_language(data[name]).streaming,
        }
    cpu = cpu_info()
    load_after = tuple(round(x, 1) for x in os.getloadavg())
    click.echo(
        f"CPU: {cpu.describe()}; load average (1, 5, 15 min) before {load_before}, "
        f"after {load_after}"
    )
    click.echo(
        "| language | tokens/note | notes kept (lost) | max onset error (beats) | "
        "median offset error (beats) | ends within half a step | val bits/note | "
        "engine ms/note | streaming |"
    )
    click.echo("|" + "---|" * 9)
    for name, r in rows.items():
        click.echo(
            f"| {name} | {r['tokens_per_note']:.2f} | "
            f"{100 * r['kept']:.2f}% ({r['lost']}) | {r['onset']:.4f} | {r['offset']:.4f} | "
            f"{100 * r['ends']:.1f}% | {r['bits_note']:.2f} | "
            f"{r['ms_token'] * r['tokens_per_note']:.3f} | {'yes' if r['streaming'] else 'no'} |"
        )
    click.echo("")
    click.echo(
        "| language | vocab | steps | training tokens seen | training notes seen | "
        "val bits/token | engine ms/token |"
    )
    click.echo("|" + "---|" * 7)
    for name, r in rows.items():
        click.echo(
            f"| {name} | {r['vocab']} | {r['step']} | {r['tokens_seen']:,} | "
            f"{r['tokens_seen'] / r['tokens_per_note']:,.0f} | "
            f"{r['bits_token']:.3f} | {r['ms_token']:.3f} |"
        )


if __name__ == "__main__":
    main()
