"""Speed side of docs/model.md's flat-vs-hierarchical table: ms per note at N notes of context.

    .venv/bin/python scripts/hier_vs_flat_speed.py [--out /tmp/hier-speed] [--repeats 60]

Exports two random-weight models of nearly equal size with room for 2048 notes of context
(decode cost does not depend on the weights): the shipped flat shape (configs/model/default.toml,
GroupQueryAttention graph, context 8192 tokens) and configs/model/hier-small.toml (8192 events).
Then decodes the same music (livegen/bench/note_bench.py: the shipped chorale, repeated) with
both engines, alternating per context so both see the same machine load, and prints one JSON
line per context and a summary: ms per note, ms per token (over the note's tokens), in wall
time and in CPU time of the decoding thread (robust to a busy machine), and a summary: per
budget, the longest measured context each model decodes a note within. The budgets are the
live one (`livegen bench`'s goal, 0.5 ms per token p50, times the note's tokens) and, since a
loaded or slow machine meets no absolute budget, multiples of the flat model's own cost per note
at 64 notes, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from livegen.export.hierarchical_onnx import export_model_dir as export_hier
from livegen.export.tiny import runtime_tokenizer
from livegen.export.transformer_onnx import export_model_dir as export_flat
from livegen.train.models.hierarchical import HierarchicalTransformer, HierConfig, vocab_fields
from livegen.train.models.transformer import ModelConfig, Transformer

from livegen.bench.note_bench import ms_per_note, music_stream
from livegen.config import read_toml
from livegen.inference.engine import Engine
from livegen.machine import cpu_info
from livegen.tokenizer import Vocab

ROOT = Path(__file__).resolve().parents[1]
CONTEXT = 8192
NOTES = (64, 128, 256, 512, 1024, 2048)
BUDGET_MS_PER_TOKEN = 0.5  # livegen bench's decode goal (engine_bench.GOALS)
BUDGETS_X_FLAT_64 = (1.25, 1.5, 2.0, 3.0)


def export_both(out: Path) -> dict[str, Path]:
    vocab_size, tokenizer = runtime_tokenizer()
    models = ROOT / "configs" / "model"
    flat_shape = {**read_toml(models / "default.toml"), "vocab_size": vocab_size}
    flat_shape["context"] = CONTEXT
    hier_shape = {k: v for k, v in read_toml(models / "hier-small.toml").items() if k != "kind"}
    hier_shape.update(vocab_size=vocab_size, context=CONTEXT, **vocab_fields(Vocab()))
    torch.manual_seed(0)
    flat = Transformer(ModelConfig(**flat_shape))
    hier = HierarchicalTransformer(HierConfig(**hier_shape))
    print(json.dumps({"params": {"flat": flat.num_params(), "hierarchical": hier.num_params()}}))
    folders = {}
    if not (out / "flat" / "model.toml").is_file():
        export_flat(flat, tokenizer, out / "flat")
    if not (out / "hier" / "model.toml").is_file():
        export_hier(hier, tokenizer, out / "hier")
    folders["flat"], folders["hierarchical"] = out / "flat", out / "hier"
    return folders


def max_notes_within_budgets(rows: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict]:
    """Per budget, per model and clock (wall p50, CPU p50): the longest measured context (in
    notes) whose cost per note stays within the budget; 0 when even the shortest does not."""

    def longest(by: dict[str, dict[str, float]], key: str, per_token_limit: float) -> int:
        fits = [e["notes"] for e in by.values() if e[key] / e["tokens_per_note"] <= per_token_limit]
        return max(fits, default=0)

    clocks = ("p50", "cpu_p50")
    live = {
        f"{name} ({key})": longest(by, key, BUDGET_MS_PER_TOKEN)
        for name, by in rows.items()
        for key in clocks
    }
    base = rows["flat"][str(NOTES[0])]
    relative = {
        f"{factor}x": {
            f"{name} ({key})": longest(by, key, factor * base[key] / base["tokens_per_note"])
            for name, by in rows.items()
            for key in clocks
        }
        for factor in BUDGETS_X_FLAT_64
    }
    return {
        "max_notes_within_live_budget": live,
        "max_notes_within_x_flat_64": relative,
        "flat_64_ms_per_note": {key: base[key] for key in clocks},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("/tmp/hier-speed"))
    parser.add_argument("--repeats", type=int, default=60)
    args = parser.parse_args()
    folders = export_both(args.out)
    engines = {name: Engine.load(f, overflow="sync") for name, f in folders.items()}
    music = music_stream(max(NOTES) + 2)
    rows: dict[str, dict[str, dict[str, float]]] = {name: {} for name in engines}
    for notes in NOTES:
        for name, engine in engines.items():
            entry = ms_per_note(engine, music, args.repeats, (notes,))[str(notes)]
            entry["ms_per_token"] = entry["p50"] / entry["tokens_per_note"]
            entry["cpu_ms_per_token"] = entry["cpu_p50"] / entry["tokens_per_note"]
            rows[name][str(notes)] = entry
            print(json.dumps({"model": name, "notes_asked": notes, **entry}), flush=True)
    summary = {"machine": cpu_info().describe(), **max_notes_within_budgets(rows)}
    print(json.dumps(summary))
    for engine in engines.values():
        engine.close()


if __name__ == "__main__":
    main()
