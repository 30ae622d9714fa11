"""The sizing table's val-NLL column (issue 10): each shape trained for the same wall time.

    .venv/bin/python bench/size_runs.py [--minutes 20] [--out runs/sizing] \
        [--shapes 4L-d256-ff1280 6L-d256-ff1024 6L-d384-ff1536] [--set data.path=DIR ...]

bench/model_sizes.py times each shape's int8 decode step; this trains each from scratch with
configs/train/sizing.toml (same data, windows, seed and val windows) for `--minutes` of wall time
on this machine, one after another, so they share its load. A short probe run first measures
the shape's seconds per step (steps 10 onwards: the first ones warm up), so each real run gets
the max_steps that end its cosine schedule when its time ends: a slow shape is not cut off at a
high learning rate. Prints one JSON line per shape (parameters from the run's checkpoint,
seconds a step, steps, tokens seen, val NLL and its 4-gram's) and a markdown table. `--set`
overrides the config for every run (another prepared folder: `--set data.path=DIR --set
'data.collection_weights={}'`).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

CONFIG = "configs/train/sizing.toml"
SHAPE = re.compile(r"^(\d+)L-d(\d+)-ff(\d+)$")
HEAD_DIM = 64  # every shape of bench/model_sizes.py: d_model / n_head = 64, one key/value head


def shape_overrides(name: str) -> list[str]:
    match = SHAPE.match(name)
    if match is None:
        raise SystemExit(f"shape {name!r}: write it as 6L-d384-ff1536")
    layers, d_model, d_ff = (int(g) for g in match.groups())
    sets = {
        "model.n_layer": layers,
        "model.d_model": d_model,
        "model.n_head": d_model // HEAD_DIM,
        "model.n_kv_head": 1,
        "model.d_ff": d_ff,
    }
    return [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]


def train(name: str, out: Path, *extra: str) -> list[dict]:
    command = [
        sys.executable, "-m", "livegen", "train", "--config", CONFIG,
        "--out", str(out), *shape_overrides(name), *extra,
    ]  # fmt: skip
    print("size_runs:", " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def seconds_per_step(records: list[dict]) -> float:
    steps = [r for r in records if r.get("kind") == "train" and r["step"] >= 10]
    if len(steps) < 2:
        raise SystemExit("the probe ran too few steps to time: give it more --probe-minutes")
    first, last = steps[0], steps[-1]
    return (last["time_s"] - first["time_s"]) / (last["step"] - first["step"])


def parameters(out: Path) -> int | None:
    from livegen.train.checkpoint import load_checkpoint

    path = out / "checkpoint.pt"
    if not path.exists():
        return None
    weights = load_checkpoint(path)["model"]
    # tied embeddings are one tensor in the state dict; count each tensor once
    return int(sum(t.numel() for t in weights.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--probe-minutes", type=float, default=1.5)
    parser.add_argument("--out", type=Path, default=Path("runs/sizing"))
    parser.add_argument(
        "--shapes", nargs="+", default=["4L-d256-ff1280", "6L-d256-ff1024", "6L-d384-ff1536"]
    )
    parser.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="Override the config in every run (repeatable).",
    )  # fmt: skip
    args = parser.parse_args()
    common = [arg for value in args.sets for arg in ("--set", value)]
    rows = []
    for name in args.shapes:
        probe = train(
            name, args.out / f"probe-{name}", *common,
            "--set", f"run.max_minutes={args.probe_minutes}", "--set", "optim.max_steps=100000",
            "--set", "run.eval_every=100000", "--set", "run.ngram_baseline=false",
        )  # fmt: skip
        per_step = seconds_per_step(probe)
        steps = max(50, int(args.minutes * 60 / per_step))
        records = train(
            name, args.out / name, *common,
            "--set", f"optim.max_steps={steps}", "--set", f"run.max_minutes={args.minutes * 1.25}",
        )  # fmt: skip
        vals = [r for r in records if r.get("kind") == "val"]
        trains = [r for r in records if r.get("kind") == "train"]
        row = {
            "shape": name,
            "parameters": parameters(args.out / name),
            "seconds_per_step": round(per_step, 3),
            "steps": trains[-1]["step"] if trains else 0,
            "minutes": round(trains[-1]["time_s"] / 60, 1) if trains else 0.0,
            "val_nll": vals[-1]["loss"] if vals else None,
            "ngram_nll": vals[-1].get("ngram_nll") if vals else None,
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    print("| shape | parameters | s/step | steps | val NLL | x 4-gram |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        ratio = row["val_nll"] / row["ngram_nll"] if row["val_nll"] and row["ngram_nll"] else None
        print(
            f"| {row['shape']} | {row['parameters'] or 0:,} | {row['seconds_per_step']:.2f}"
            f" | {row['steps']} | {row['val_nll'] or float('nan'):.3f}"
            f" | {ratio or float('nan'):.3f} |"
        )


if __name__ == "__main__":
    main()
