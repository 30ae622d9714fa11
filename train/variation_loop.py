"""The training loop of the variation families (`[model] kind = "vae" | "ddpm"`).

Why not train/loop.py: that loop is built around token shards (a prepared folder's manifest,
token windows, next-token NLL, token samples); these models read condensed note windows straight
from MIDI files and each computes its own loss (`model.loss(pitch, fields, step)`, the step
driving the VAE's annealing). The parts that are not about tokens are shared, not copied:
precision (precision.py via loop.choose_precision), the optimizer and its schedule (optim.py),
checkpoints (checkpoint.py), the run folder's lock (run_folder.py), stopping (stop.py), the plot.

A run folder holds what the transformer's does: checkpoint.pt (model_kind, model_config,
optimizer, scheduler, RNG, step, data identity, train config; `tokenizer` is empty: these models
read no tokens), metrics.jsonl (train: loss and its parts; val: loss and pitch reconstruction
`accuracy`), loss.png, samples/step_N.mid (sampled windows) and config.json. Batches of step s
depend only on (seed, s), so `--resume` continues the uninterrupted run's losses.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livegen.config import from_mapping, write_atomic
from livegen.errors import ConfigError
from livegen.tokenizer import write_midi
from livegen.variation.notes import from_features, rows_to_notes

from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .loop import (
    CHECKPOINT,
    METRICS,
    TrainResult,
    _latest,
    _only_warn,
    _plot,
    _read_metrics,
    _write_lines,
    choose_precision,
    resolve_device,
)
from .models import model_family
from .optim import apply_gradients, autocast_for, optimization
from .run_folder import locked_run_folder
from .stop import StopFlag, should_stop
from .train_config import TrainConfig
from .variation_data import WindowBatches, fixed_batches, load_window_data

KINDS = ("vae", "ddpm")
SAMPLE_WINDOWS = 4


def is_variation(config: TrainConfig) -> bool:
    return config.model.get("kind") in KINDS


def model_config_of(config: TrainConfig) -> tuple[str, Any]:
    fields = dict(config.model)
    kind = fields.pop("kind")
    where = f"{config.source or 'config'} [model]"
    return kind, from_mapping(model_family(kind).config, fields, where=where)


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    init_from: str | None = None,
    allow_data_change: bool = False,
) -> TrainResult:
    """Run (or continue) a VAE or DDPM run in `config.run.out_dir` (one process)."""
    started = time.monotonic()
    if init_from is not None:
        raise ConfigError("--init-from is for the transformer; a vae/ddpm run starts fresh")
    with locked_run_folder(Path(config.run.out_dir)):
        return _train(config, resume, allow_data_change, started)


def _train(
    config: TrainConfig, resume: bool, allow_data_change: bool, started: float
) -> TrainResult:
    run, opt = config.run, config.optim
    device = resolve_device(run.device)
    if run.threads:
        torch.set_num_threads(run.threads)
    if run.precision == "fp16" and device.type != "cuda":
        raise ConfigError("[run] precision 'fp16' needs a CUDA device; use 'auto' or 'fp32'")
    choice = choose_precision(run.precision, device)
    print(choice.describe(), file=sys.stderr, flush=True)
    out_dir = Path(run.out_dir)
    ckpt_path = out_dir / CHECKPOINT

    state: dict[str, Any] | None = None
    if resume:
        if not ckpt_path.is_file():
            raise ConfigError(f"--resume: no checkpoint in {out_dir}; start without --resume")
        state = load_checkpoint(ckpt_path)
        kind = state["model_kind"]
        model_config = model_family(kind).config(**state["model_config"])
    elif ckpt_path.is_file():
        raise ConfigError(
            f"{out_dir} already holds a run; continue it with --resume or choose another --out"
        )
    else:
        kind, model_config = model_config_of(config)

    data = load_window_data(config.data.path, model_config.window)
    if state is not None and not allow_data_change and state["data"] != data.identity:
        raise ConfigError(
            f"--resume: the MIDI files of {config.data.path} differ from those the run in "
            f"{out_dir} trained on; pass --allow-data-change to continue on them anyway"
        )
    print(
        f"{kind}: {len(data.train)} train and {len(data.val)} val windows of "
        f"{model_config.window} notes from {data.files} files"
        + (f" ({len(data.skipped)} unreadable, skipped)" if data.skipped else ""),
        file=sys.stderr,
        flush=True,
    )

    torch.manual_seed(run.seed)
    np.random.seed(run.seed)
    model = model_family(kind).build(model_config).to(device)
    training = optimization(model, config, device, choice.precision, state)
    scaler = training.scaler
    step = training.step
    if state is not None:
        model.load_state_dict(state["model"])
        set_rng_state(state["rng"])
    autocast = autocast_for(device, choice.precision)

    augment = config.data.augment
    batches = WindowBatches(
        data.train,
        opt.batch_size,
        run.seed,
        config.data.transpose_semitones if augment else 0,
        config.data.velocity_scale if augment else 0.0,
    )
    val_batches = fixed_batches(data.val, opt.batch_size, run.eval_batches * opt.batch_size)
    if not val_batches:
        print("no val files: the run is not validated", file=sys.stderr, flush=True)

    metrics_path = out_dir / METRICS
    out_dir.mkdir(parents=True, exist_ok=True)
    records = _read_metrics(metrics_path, step) if state is not None else []
    _write_lines(metrics_path, records)
    write_atomic(out_dir / "config.json", json.dumps(config.to_dict(), indent=1))

    def tensors(pair: tuple[np.ndarray, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(pair[0]).to(device), torch.from_numpy(pair[1]).to(device)

    def checkpoint() -> None:
        save_checkpoint(
            ckpt_path,
            {
                "model_kind": kind,
                "model_config": model_config.__dict__.copy(),
                "tokenizer": {},
                "model": model.state_dict(),
                **training.state(),
                "step": step,
                "rng": rng_state(),
                "data_position": {"step": step, "seed": run.seed, "world": 1},
                "data": data.identity,
                "train_config": config.to_dict(),
                "precision": choice.to_dict(),
                "metrics": _latest(records),
            },
        )

    def log(record: dict[str, Any]) -> None:
        records.append(record)
        with metrics_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    @torch.no_grad()
    def validate() -> tuple[float, float]:
        model.eval()
        loss_sum, correct, total = 0.0, 0, 0
        for pair in val_batches:
            pitch, cont = tensors(pair)
            with autocast():
                loss, _ = model.loss(pitch, cont, step)
                guess, _ = model.reconstruct(pitch, cont)
            loss_sum += float(loss) * len(pitch)
            correct += int((guess == pitch).sum())
            total += len(pitch)
        model.train()
        loss, accuracy = loss_sum / total, correct / (total * model_config.window)
        log({"kind": "val", "step": step, "loss": loss, "accuracy": accuracy,
             "time_s": time.monotonic() - started})  # fmt: skip
        return loss, accuracy

    start_step, interrupted, last_val = step, False, None
    window_loss, window_steps, window_start = 0.0, 0, time.monotonic()
    window_parts: dict[str, float] = {}
    model.train()
    with StopFlag() as stop:
        while step < opt.max_steps:
            loss_sum = 0.0
            for micro in range(opt.grad_accum):
                pitch, cont = tensors(batches.batch(step, micro))
                with autocast():
                    loss, parts = model.loss(pitch, cont, step)
                scaler.scale(loss / opt.grad_accum).backward()
                loss_sum += float(loss.detach())
                for name, value in parts.items():
                    window_parts[name] = window_parts.get(name, 0.0) + value / opt.grad_accum
            lr = apply_gradients(training, model, opt.grad_clip)
            step += 1
            window_loss += loss_sum / opt.grad_accum
            window_steps += 1
            if step % run.log_every == 0 or step == opt.max_steps:
                elapsed = max(time.monotonic() - window_start, 1e-9)
                log(
                    {
                        "kind": "train",
                        "step": step,
                        "loss": window_loss / window_steps,
                        **{k: v / window_steps for k, v in window_parts.items()},
                        "lr": lr,
                        "windows_per_s": opt.batch_size * opt.grad_accum * window_steps / elapsed,
                        "precision": choice.precision,
                        "time_s": time.monotonic() - started,
                    }
                )
                window_loss, window_steps, window_start = 0.0, 0, time.monotonic()
                window_parts = {}
            stopping = should_stop(stop, run, step - start_step, started, 1)
            if (step % run.eval_every == 0 or step == opt.max_steps) and val_batches:
                last_val = validate()
            if step % run.checkpoint_every == 0 or step == opt.max_steps or stopping:
                checkpoint()
            if run.sample_every and step % run.sample_every == 0:
                with _only_warn(step, "samples"):
                    write_samples(model, out_dir / "samples" / f"step_{step:06d}.mid", step)
            if step % run.plot_every == 0 or step == opt.max_steps or stopping:
                with _only_warn(step, "plot"):
                    _plot(records, out_dir)
            if stopping:
                interrupted = step < opt.max_steps
                break
    if step == start_step:
        checkpoint()
    return TrainResult.of(out_dir, step, last_val, interrupted, started)


@torch.no_grad()
def write_samples(model: torch.nn.Module, path: Path, seed: int) -> Path:
    """SAMPLE_WINDOWS windows sampled from the model, one after another, as a MIDI file."""
    was_training = model.training
    model.eval()
    pitch, cont = model.sample(SAMPLE_WINDOWS, torch.Generator().manual_seed(seed))
    model.train(was_training)
    rows = from_features(pitch.cpu().numpy(), cont.float().cpu().numpy())
    notes, origin = [], 0.0
    for window in rows:
        placed = rows_to_notes(window, origin)
        notes.extend(placed)
        origin = placed[-1].start_beat
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_midi(notes, path)
