"""MODEL_CARD.md for a trained model, written from its checkpoint, run metrics and eval report.

    python -m livegen.train.model_card RUN_DIR EVAL_JSON OUT_MD [--hardware TEXT] [--notes TEXT]

Every number in the card is read from those files, so the card cannot drift from the model.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import click

from livegen.config import write_atomic
from livegen.data.shards import file_collection, is_prepared, read_manifest


def _fmt(value: Any, spec: str = ".4f") -> str:
    return "n/a" if value is None else format(value, spec)


def _wall_time_s(records: list[dict[str, Any]]) -> float:
    """Training wall time over every invocation: time_s restarts at 0 after a resume."""
    total, previous = 0.0, 0.0
    for record in records:
        if record["time_s"] < previous:
            total += previous
        previous = record["time_s"]
    return total + previous


# Where each collection of the default model's data comes from, for the card's data table.
POP909_SOURCE = (
    'POP909 (Wang, Chen, Jiang, Zhang, Xu, Dai, Bin, Xia: "POP909: A Pop-song Dataset for Music'
    ' Arrangement Generation", ISMIR 2020), MIT licence; melody, secondary melody and piano'
    " accompaniment on three channels, expressive velocities"
)
MUSIC21_SOURCE = (
    "music21's bundled corpus (BSD licence), converted to MIDI by `livegen data prepare"
    " --source music21`; quantized, one fixed velocity"
)


DEFAULT_LIMITS = (
    "Folk tunes, chorales and Renaissance vocal polyphony, quantized and with near-constant"
    " velocities (music21 writes fixed velocities): it knows melody, meter and modal/diatonic"
    " harmony far better than expressive timing, drums or dense piano textures. Fine-tune"
    " on your own MIDI for those."
)


def collection_source(name: str, music21_collections: frozenset[str]) -> str:
    """Source and licence of a collection: POP909 by name, music21's by the manifest's origin."""
    if name.lower().startswith("pop909"):
        return POP909_SOURCE
    if name in music21_collections:
        return MUSIC21_SOURCE
    return "other MIDI (`livegen data prepare --source`)"


def music21_collections(manifest: dict[str, Any]) -> frozenset[str]:
    """Collections whose files came from music21's corpus, as the manifest records each origin."""
    return frozenset(
        file_collection(record, manifest)
        for record in manifest.get("files", [])
        if record.get("origin") == "music21" or manifest.get("source") == "music21"
    )


def works_by_collection(manifest: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(files, tokens) per collection, as the manifest records each file's collection."""
    totals: dict[str, tuple[int, int]] = {}
    for record in manifest.get("files", []):
        name = file_collection(record, manifest)
        files, tokens = totals.get(name, (0, 0))
        totals[name] = (files + 1, tokens + record["tokens"])
    return totals


def render(
    state: dict[str, Any],
    records: list[dict[str, Any]],
    report: dict[str, Any],
    manifest: dict[str, Any] | None,
    hardware: str,
    notes: str = "",
    limits: str = "",
) -> str:
    cfg = state["train_config"]
    model = state["model_config"]
    train_records = [r for r in records if r["kind"] == "train"]
    val_records = [r for r in records if r["kind"] == "val"]
    last_val = val_records[-1] if val_records else {}
    seconds = _wall_time_s(records)
    tokens_seen = (
        state["step"]
        * cfg["optim"]["batch_size"]
        * cfg["optim"]["grad_accum"]
        * (cfg["data"]["seq_len"])
    )
    tok_s = [r["tokens_per_s"] for r in train_records[-20:]]
    params = report.get("model_params")
    splits = manifest["splits"] if manifest else {}
    by_collection = works_by_collection(manifest or {})
    from_music21 = music21_collections(manifest or {})
    cont = report.get("continuations", {})
    scored = report.get("split") or "held-out MIDI"  # a plain MIDI folder has no split
    lines = [
        "# livegen default model",
        "",
        "A small decoder-only transformer that continues MIDI token streams; the model that",
        "`livegen serve` uses when no `--model` is given. Trained by `livegen train` with",
        f"`{cfg.get('source') or 'configs/train/default.toml'}`.",
        "",
        "## Data",
        "",
        f"{len((manifest or {}).get('files', []))} works in all splits, from these sources:",
        "",
        "| collection | works | tokens | source, licence |",
        "|---|---:|---:|---|",
        *(
            f"| {k} | {v[0]} | {v[1]:,} | {collection_source(k, from_music21)} |"
            for k, v in sorted(by_collection.items())
        ),
        "",
        "Split by a stable hash of each file's path: "
        + ", ".join(f"{k} {v['files']} files / {v['tokens']:,} tokens" for k, v in splits.items())
        + ".",
        "Augmentation at load time: transposition ±{t} semitones (drums untouched), velocity"
        " scaling ±{v:.0%}, x2 / x½ time stretch where exact (p={s}), a MODE token after BOS"
        " (p={m}).".format(
            t=cfg["data"]["transpose_semitones"],
            v=cfg["data"]["velocity_scale"],
            s=cfg["data"]["stretch_probability"],
            m=cfg["data"].get("mode_probability", 0.0),
        ),
        "",
        "## Model",
        "",
        f"- {params:,} parameters; " if params else "- ",
        f"  {model['n_layer']} layers, d_model {model['d_model']}, {model['n_head']} heads"
        f" ({model.get('n_kv_head') or model['n_head']} key/value heads), d_ff {model['d_ff']},"
        f" context {model['context']} tokens, position `{model['position']}`, block"
        f" `{model['block']}`, tied embeddings: {model['tie_weights']}, vocabulary"
        f" {model['vocab_size']}.",
        f"- Tokenizer: version {state['tokenizer']['version']},"
        f" {state['tokenizer']['steps_per_beat']} steps per beat, velocity bins"
        f" {state['tokenizer']['velocity_bins']} (the runtime refuses a model whose tokenizer"
        " differs).",
        "",
        "## Training",
        "",
        f"- Steps: {state['step']} optimizer steps of {cfg['optim']['batch_size']} x"
        f" {cfg['data']['seq_len']} tokens (x{cfg['optim']['grad_accum']} accumulation):"
        f" {tokens_seen:,} tokens seen.",
        f"- AdamW lr {cfg['optim']['lr']} (warmup {cfg['optim']['warmup_steps']}, cosine to"
        f" {cfg['optim']['min_lr']}), weight decay {cfg['optim']['weight_decay']}, clip"
        f" {cfg['optim']['grad_clip']}, precision {cfg['run']['precision']}.",
        f"- Hardware: {hardware}.",
        f"- Training time: {seconds / 60:.1f} min"
        + (f" (~{sum(tok_s) / len(tok_s):,.0f} tokens/s at the end)." if tok_s else "."),
        "",
        "## Results",
        "",
        "| | NLL (nats/token) | accuracy |",
        "|---|---:|---:|",
        f"| model, val (training-time windows) | {_fmt(last_val.get('loss'))} |"
        f" {_fmt(last_val.get('accuracy'), '.3f')} |",
        f"| 4-gram Kneser-Ney, val | {_fmt(last_val.get('ngram_nll'))} | |",
        f"| model, {scored} ({report['files']} files, {report['tokens']:,} tokens)"
        f" | {_fmt(report['nll'])} | {_fmt(report['accuracy'], '.3f')} |",
        f"| 4-gram Kneser-Ney, {scored} | {_fmt(report['ngram_nll'])} | |",
        "",
        f"Ratio model / 4-gram on {scored}: {_fmt(report.get('nll_ratio'), '.3f')} (goal: <= 0.8).",
    ]
    if last_val.get("loss") and last_val.get("ngram_nll"):
        lines[-1] += f" On val: {last_val['loss'] / last_val['ngram_nll']:.3f}."
    if cont.get("prompts"):
        lines += [
            "",
            f"Continuations of {cont['prompts']} held-out prompts ({cont['prompt_tokens']}"
            f" tokens, +{cont['continuation_tokens']} sampled at temperature 1, top-p 0.95):",
            f"pitch-class overlap with the prompt {_fmt(cont['pitch_class_overlap'], '.3f')},"
            f" notes per beat {_fmt(cont['note_density'], '.2f')} (prompt"
            f" {_fmt(cont['note_density_prompt'], '.2f')}), onsets on the 16th grid"
            f" {_fmt(cont['on_grid'], '.3f')} (prompt {_fmt(cont['on_grid_prompt'], '.3f')}),"
            f" polyphony {_fmt(cont['polyphony'], '.2f')} (prompt"
            f" {_fmt(cont['polyphony_prompt'], '.2f')}), out of range"
            f" {_fmt(cont['out_of_range'], '.3f')}, stuck notes {cont['stuck_notes']} (prompt"
            f" {cont['stuck_notes_prompt']}).",
        ]
    config_file = cfg.get("source") or "configs/train/default.toml"
    lines += [
        "",
        f"Reproduce: prepare the data as `{config_file}` says in its comments, then",
        f"`livegen train --config {config_file}` and",
        f"`livegen eval --model {cfg['run']['out_dir']} --data {report.get('data')}"
        + (f" --split {report['split']}`." if report.get("split") else "`."),
        "Fine-tune on your own MIDI: `livegen data prepare --source MY_MIDI --out data/mine`,",
        "`livegen train --config configs/train/finetune.toml --init-from default --data data/mine"
        " --out runs/mine` (this folder ships `checkpoint.pt`, fp16 weights, for that).",
    ]
    if notes:
        lines += ["", notes]
    lines += ["", "## Limits", "", limits or DEFAULT_LIMITS]
    return "\n".join(lines) + "\n"


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("eval_json", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("out", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--hardware", default=f"CPU ({platform.processor() or 'unknown'})")
@click.option("--notes", default="", help="Markdown added before Limits.")
@click.option(
    "--notes-file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Markdown file added before Limits (after --notes).",
)
@click.option("--limits", default="", help="What the model is bad at (Markdown).")
def main(
    run_dir: Path,
    eval_json: Path,
    out: Path,
    hardware: str,
    notes: str,
    notes_file: Path | None,
    limits: str,
) -> None:
    """Write MODEL_CARD.md for RUN_DIR from its checkpoint, metrics and EVAL_JSON."""
    from .checkpoint import load_checkpoint

    state = load_checkpoint(run_dir)
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    report = json.loads(eval_json.read_text())
    data = Path(state["train_config"]["data"]["path"])
    manifest = read_manifest(data) if is_prepared(data) else None
    if notes_file is not None:
        notes = "\n\n".join(x for x in (notes, notes_file.read_text().strip()) if x)
    write_atomic(out, render(state, records, report, manifest, hardware, notes, limits))


if __name__ == "__main__":
    main()
