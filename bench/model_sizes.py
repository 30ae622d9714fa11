"""Size the default model against the live budget (issue 10): int8 decode ms/token by shape.

    .venv/bin/python bench/model_sizes.py [--out /tmp/model-sizes] [--repeats 200] [--rounds 3]

Exports random-weight flat models of several shapes (decode cost does not depend on the
weights) as the shipped model is exported (int8, GroupQueryAttention graph, one key/value head),
then times one decode step at contexts 512 and 1024 with the engine, the shapes interleaved
round by round so all see the same machine load. Each step is timed twice: wall time, and the
CPU time of the decoding thread (onnxruntime runs one intra-op thread here, the caller's), which
a busy machine barely moves while its wall time grows with every preemption. Prints one JSON
line per shape with parameters and p50 ms/token per context (the median over rounds of each
round's p50), and the largest shape within the live budget (CPU-time p50 <= 0.5 ms/token at
context 512). Val NLL after equal
training time comes from `livegen train --set model.n_layer=...` runs (docs/model.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from livegen.export.tiny import runtime_tokenizer
from livegen.export.transformer_onnx import export_model_dir
from livegen.train.models.transformer import ModelConfig, Transformer

from livegen.bench.engine_bench import reachable
from livegen.bench.note_bench import music_stream
from livegen.inference.engine import Engine
from livegen.machine import cpu_info

BUDGET_MS_PER_TOKEN = 0.5
CONTEXTS = (512, 1024)
# (layers, width, feed-forward): the shipped shape first, then wider and deeper ones.
SHAPES = ((4, 256, 1280), (6, 256, 1024), (6, 384, 1536), (8, 384, 1536), (8, 512, 2048))


def shape_name(layers: int, width: int, ff: int) -> str:
    return f"{layers}L-d{width}-ff{ff}"


def export_shape(layers: int, width: int, ff: int, out: Path) -> tuple[Path, int]:
    vocab_size, tokenizer = runtime_tokenizer()
    config = ModelConfig(
        vocab_size=vocab_size, n_layer=layers, n_head=width // 64, n_kv_head=1,
        d_model=width, d_ff=ff, context=2048, position="rope", tie_weights=True,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Transformer(config)
    folder = out / shape_name(layers, width, ff)
    if not (folder / "model.toml").is_file():
        export_model_dir(model, tokenizer, folder, precision="int8")
    return folder, model.num_params()


def decode_p50s(engine: Engine, seq: np.ndarray, repeats: int, ctx: int) -> tuple[float, float]:
    """(wall, thread CPU) p50 ms of one decode step at context `ctx` (rolled back each time)."""
    at = reachable(ctx, engine.context)
    engine.reset()
    engine.prefill(seq[:at])
    token = int(seq[at])
    wall, cpu = [], []
    for i in range(repeats + 10):  # 10 warm-up steps
        engine.rollback(at)
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        engine.step(token)
        if i >= 10:
            wall.append(time.perf_counter_ns() - w0)
            cpu.append(time.thread_time_ns() - c0)
    return float(np.median(wall)) / 1e6, float(np.median(cpu)) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("/tmp/model-sizes"))
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folders = {shape_name(*s): export_shape(*s, args.out) for s in SHAPES}
    engines = {name: Engine.load(folder, overflow="sync") for name, (folder, _) in folders.items()}
    music = music_stream(600)
    wall: dict[str, dict[int, list[float]]] = {n: {c: [] for c in CONTEXTS} for n in engines}
    cpu: dict[str, dict[int, list[float]]] = {n: {c: [] for c in CONTEXTS} for n in engines}
    for _ in range(args.rounds):
        for name, engine in engines.items():
            for ctx in CONTEXTS:
                w, c = decode_p50s(engine, music, args.repeats, ctx)
                wall[name][ctx].append(w)
                cpu[name][ctx].append(c)
    within = None
    for name, (_, params) in folders.items():
        row = {f"cpu_p50_ms_at_{c}": round(statistics.median(cpu[name][c]), 3) for c in CONTEXTS}
        row |= {f"wall_p50_ms_at_{c}": round(statistics.median(wall[name][c]), 3) for c in CONTEXTS}
        print(json.dumps({"shape": name, "params": params, **row}), flush=True)
        if row["cpu_p50_ms_at_512"] <= BUDGET_MS_PER_TOKEN:
            within = name
    load = os.getloadavg()[0]
    print(json.dumps({"largest_within_budget": within, "load_average": load,
                      "machine": cpu_info().to_dict()}))  # fmt: skip


if __name__ == "__main__":
    main()
