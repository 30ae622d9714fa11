"""The live vary move's cost: a 2-bar variation with DDIM at 10 steps (goal: <= 50 ms on one core).

    .venv/bin/python bench/vary_bench.py [--ddpm DIR] [--vae DIR] [--file F]... [--json]

Times exactly what the daemon runs on a `vary` (livegen/live/vary_move.py `varied_notes`: loop the
bars' notes into windows, vary them, cut them back to the bars), over every 2-bar span of two
real files in ../shared/testdata/midi (FILES: a dense one and a plainer one; 16-note windows).
onnxruntime on one thread, as `livegen serve` loads a vary model. Without --ddpm/--vae, untrained
models of configs/train/ddpm.toml's and vae.toml's size are exported to a temp folder: the time
depends on the graphs and shapes, not on the weights (export needs the train extra).

A loaded machine moves every figure, so each is also a ratio to baselines measured in the same
run, interleaved with it round by round: the VAE's variation of the same bars (the reference puts
diffusion at ~2.5x the VAE) and a fixed numpy unit (exp(sin(x)) over 2^20 floats, one thread), with
the CPU name (livegen/machine.py) and the load average. Each call is timed in wall-clock and in
the calling thread's CPU time (what it would take on an idle core, near enough).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from livegen.config import read_toml
from livegen.live.clock import TICKS_PER_BEAT
from livegen.live.serve_config import VaryConfig
from livegen.live.vary_move import varied_notes
from livegen.machine import cpu_info
from livegen.tokenizer import read_midi
from livegen.variation.model import VariationModel

ROOT = Path(__file__).resolve().parents[1]
GOAL_MS = 50.0
BEATS_PER_BAR = 4
# dense pop piano (~50 notes in 2 bars) and a plainer texture (Mozart's K. 265 variation 1)
FILES = ("piano_pop_1390.mid", "piano_mozart_k265_var1_quantized.mid")


def default_files() -> list[Path]:
    root = os.environ.get("LIVEGEN_TESTDATA")
    base = Path(root) if root else ROOT.parent / "shared" / "testdata"
    return [(base / "midi" / name).resolve() for name in FILES]


def untrained_folder(kind: str, out: Path) -> Path:
    """An untrained `kind` model of configs/train/<kind>.toml's size, exported to `out`."""
    from livegen.export.variation_onnx import export_variation_model
    from livegen.train.models import model_family

    fields = dict(read_toml(ROOT / "configs" / "train" / f"{kind}.toml")["model"])
    fields.pop("kind")
    family = model_family(kind)
    export_variation_model(family.build(family.config(**fields)), kind, out)
    return out


def spans(path: Path, bars: int) -> list[tuple[list, tuple[int, int]]]:
    """Each `bars`-bar span of the file with notes: (notes, (start, end) ticks)."""
    notes = [n for n in read_midi(path).notes if n.channel != 9]
    span_beats = bars * BEATS_PER_BAR
    end_beat = max(n.start_beat for n in notes)
    found = []
    for i in range(int(end_beat // span_beats) + 1):
        start = i * span_beats
        inside = [n for n in notes if start <= n.start_beat < start + span_beats]
        if inside:
            ticks = (round(start * TICKS_PER_BEAT), round((start + span_beats) * TICKS_PER_BEAT))
            found.append((inside, ticks))
    return found


UNIT_INPUT = np.linspace(0.0, 1.0, 1 << 20, dtype=np.float32)


def numpy_unit() -> None:
    """A fixed single-threaded job (element-wise, no BLAS threads to contend)."""
    np.exp(np.sin(UNIT_INPUT)).sum()


def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    """Wall-clock and this thread's CPU time (ms): on a loaded machine the CPU time is close to
    what the call takes on an idle core; onnxruntime (1 intra-op thread) runs on the caller."""
    wall, cpu = np.asarray(samples).T
    return {
        "p50_ms": round(float(np.median(wall)), 3),
        "p95_ms": round(float(np.percentile(wall, 95)), 3),
        "max_ms": round(float(wall.max()), 3),
        "cpu_p50_ms": round(float(np.median(cpu)), 3),
        "cpu_p95_ms": round(float(np.percentile(cpu, 95)), 3),
        "calls": int(wall.size),
    }


def timed(call) -> tuple[float, float]:
    """(wall ms, thread CPU ms) of one call."""
    wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
    call()
    return (time.perf_counter_ns() - wall) / 1e6, (time.thread_time_ns() - cpu) / 1e6


def time_file(models: dict, configs: dict, path: Path, bars: int, rounds: int) -> dict:
    """Interleaved rounds over the file's spans: DDIM, VAE and the numpy unit, each span."""
    work = spans(path, bars)
    times: dict[str, list[tuple[float, float]]] = {"ddim": [], "vae": [], "numpy_unit": []}
    for name in ("ddim", "vae"):  # warm-up: first calls allocate
        varied_notes(models[name], *work[0], configs[name], seed=0)
    for seed in range(rounds):
        for notes, span in work:
            for name in ("ddim", "vae"):
                model, config = models[name], configs[name]
                times[name].append(
                    timed(lambda m=model, c=config: varied_notes(m, notes, span, c, seed=seed))  # noqa: B023
                )
            times["numpy_unit"].append(timed(numpy_unit))
    result = {name: summary(samples) for name, samples in times.items()}
    ddim, vae, unit = (result[k]["p50_ms"] for k in ("ddim", "vae", "numpy_unit"))
    windows = [int(np.ceil(len(notes) / models["ddim"].window)) for notes, _ in work]
    return {
        "file": path.name,
        "spans": len(work),
        "notes_per_span": round(float(np.mean([len(n) for n, _ in work])), 1),
        "windows_per_span": round(float(np.mean(windows)), 2),
        **result,
        "ddim_p95_over_goal": round(result["ddim"]["p95_ms"] / GOAL_MS, 3),
        "ddim_cpu_p95_over_goal": round(result["ddim"]["cpu_p95_ms"] / GOAL_MS, 3),
        "ddim_over_vae": round(ddim / vae, 2),
        "ddim_over_numpy_unit": round(ddim / unit, 2),
        "vae_over_numpy_unit": round(vae / unit, 2),
    }


def run(ddpm: Path, vae: Path, paths: list[Path], bars: int, rounds: int) -> dict:
    models = {"ddim": VariationModel.load(ddpm), "vae": VariationModel.load(vae)}
    configs = {
        "ddim": VaryConfig(bars=bars, method="ddim", steps=10, strength=0.5),
        "vae": VaryConfig(bars=bars, method="vae", strength=0.5),
    }
    load_before = os.getloadavg()[0]
    files = [time_file(models, configs, path, bars, rounds) for path in paths]
    return {
        "cpu": cpu_info().describe(),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "bars": bars,
        "goal_ms": GOAL_MS,
        "ddpm_model": str(ddpm),
        "vae_model": str(vae),
        "files": files,
    }


@click.command()
@click.option("--ddpm", type=click.Path(path_type=Path, file_okay=False), default=None)
@click.option("--vae", type=click.Path(path_type=Path, file_okay=False), default=None)
@click.option("--file", "paths", multiple=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--bars", default=2, show_default=True)
@click.option("--rounds", default=10, show_default=True, help="passes over every span")
@click.option("--json", "as_json", is_flag=True)
def main(ddpm, vae, paths, bars, rounds, as_json) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ddpm = ddpm or untrained_folder("ddpm", Path(tmp) / "ddpm")
        vae = vae or untrained_folder("vae", Path(tmp) / "vae")
        report = run(ddpm, vae, list(paths) or default_files(), bars, rounds)
    if as_json:
        click.echo(json.dumps(report, indent=1))
        return
    click.echo(f"{report['cpu']}; 1-min load average {report['load_average_1min']} (start, end)")
    for f in report["files"]:
        d, v, u = f["ddim"], f["vae"], f["numpy_unit"]
        click.echo(
            f"{f['file']}: {f['spans']} spans of {bars} bars, {f['notes_per_span']} notes "
            f"({f['windows_per_span']} windows) each\n"
            f"  DDIM 10 steps  p50 {d['p50_ms']} ms  p95 {d['p95_ms']} ms  max {d['max_ms']} ms"
            f"  (p95 = {f['ddim_p95_over_goal']:.2f} x the {GOAL_MS:g} ms goal)\n"
            f"                 CPU time p50 {d['cpu_p50_ms']} ms  p95 {d['cpu_p95_ms']} ms"
            f"  (p95 = {f['ddim_cpu_p95_over_goal']:.2f} x goal)\n"
            f"  VAE            p50 {v['p50_ms']} ms  p95 {v['p95_ms']} ms"
            f"  CPU time p50 {v['cpu_p50_ms']} ms\n"
            f"  numpy unit     p50 {u['p50_ms']} ms  CPU time p50 {u['cpu_p50_ms']} ms\n"
            f"  p50 ratios: DDIM/VAE {f['ddim_over_vae']}, DDIM/unit "
            f"{f['ddim_over_numpy_unit']}, VAE/unit {f['vae_over_numpy_unit']}"
        )


if __name__ == "__main__":
    main()
