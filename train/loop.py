"""The training loop: AdamW with warmup + cosine (optim.py), clipping, accumulation, precision, DDP.

One call, `train(config, resume=..., init_from=...)`, runs or continues a run in
`config.run.out_dir`:
    checkpoint.pt   everything needed to resume (see checkpoint.py), written atomically every
                    `checkpoint_every` steps, at the end, and when SIGINT/SIGTERM arrives (the
                    handler only sets a flag; the loop saves after the current step)
    metrics.jsonl   one JSON record per line: {"kind": "train"|"val", "step", "loss", ...}; train
                    records carry tokens_per_s and the precision the run trains in
    loss.png        train/val loss and val accuracy, redrawn every `plot_every` steps
    samples/        MIDI files sampled every `sample_every` steps
    config.json     the resolved train config of the run
    .lock           held by the run while it trains: a second run on the same folder fails at
                    once (run_folder.py); leftover `.tmp-*.pt` of a killed save are removed

Checkpoint first: at a step that is due for both, the checkpoint is written before the plot and
the samples, and a failing plot or sample (matplotlib missing, a full disk) is one warning line,
never the end of the run. `--resume` continues only on the data the run trained on (its folder
and manifest digest, kept in the checkpoint) unless `allow_data_change` says otherwise.

Precision: `auto` becomes bf16 or fp32 (fp16 on a GPU without bf16) by what the hardware does
natively (precision.py); the choice and its reason are printed at start and kept in the checkpoint.

Exact resume: the batches of step s depend only on (seed, s, micro, rank) (dataset.py), and the
checkpoint restores model, optimizer, scheduler and the python/numpy/torch RNG states (dropout),
so a stopped-and-resumed run reproduces the uninterrupted run's losses. Under DDP only rank 0's
RNG state is saved; the other ranks' dropout streams then differ after a resume.

Multi-GPU: run under `torchrun --nproc_per_node N livegen train ...`; each process takes its own
windows (rank in the batch seed), gradients are averaged by DDP (gloo on CPU, nccl on CUDA), and
rank 0 alone validates, plots, samples and writes checkpoints.

Long because `_train` is one function on purpose: model, optimizer, scaler, data position, stop
flag and metrics form the state that exact resume restores together, and keeping their order of
updates in one place is what makes a resumed run repeat the uninterrupted one; what could leave
(precision, stopping, checkpoints, the run folder, data) already lives in modules of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from livegen.config import write_atomic
from livegen.data.progress import progress_bar
from livegen.data.shards import load_split, read_manifest
from livegen.errors import ConfigError, DeviceError
from livegen.languages import language_from
from livegen.machine import cpu_info
from livegen.tokenizer import TokenizerConfig, Vocab
from livegen.tokenizer.config import check_grows_into, model_only_options

from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .dataset import AugmentConfig, TrainBatches, structure_mask, val_windows
from .grow_vocab import grow_token_rows
from .language_run import LanguageVocab, check_saved_language, language_entries, plain_batches
from .midi_data import check_data_path, with_prepared_data
from .models import DEFAULT_KIND, model_family
from .optim import apply_gradients, autocast_for, optimization
from .precision import PrecisionChoice, resolve_precision
from .run_folder import check_same_data, data_identity, locked_run_folder
from .stop import StopFlag, should_stop
from .train_config import TrainConfig

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
PLOT = "loss.png"


@dataclass(frozen=True)
class TrainResult:
    out_dir: Path
    step: int
    val_loss: float | None
    val_accuracy: float | None
    interrupted: bool
    seconds: float

    @classmethod
    def of(
        cls,
        out_dir: Path,
        step: int,
        last_val: tuple[float, float] | None,
        interrupted: bool,
        started: float,
    ) -> TrainResult:
        """The result of a run that began at `started` (time.monotonic) and validated last with
        `last_val` = (loss, accuracy), or never (None)."""
        val_loss, val_accuracy = last_val if last_val else (None, None)
        return cls(out_dir, step, val_loss, val_accuracy, interrupted, time.monotonic() - started)


def default_checkpoint_path() -> Path:
    """The shipped default model's training checkpoint (weights only, for --init-from default)."""
    import livegen

    return Path(livegen.__file__).parent / "assets" / "models" / "default" / CHECKPOINT


def rank_device(device: torch.device) -> torch.device:
    """A CUDA device without an index is this process's GPU (torchrun's LOCAL_RANK): every rank
    on plain `cuda` would share GPU 0. An explicit index, or any other device, stays."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return rank_device(torch.device("cuda"))
        return torch.device("cpu")
    device = rank_device(torch.device(name))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {name!r} asked for, but CUDA is not available; use 'cpu'")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {name!r} asked for, but MPS is not available; use 'cpu'")
    return device


def choose_precision(requested: str, device: torch.device) -> PrecisionChoice:
    """`resolve_precision` with this machine's CPU features and CUDA bf16 support."""
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return resolve_precision(requested, device.type, cpu_info(), cuda_bf16)


def build_model_config(config: TrainConfig, vocab: Vocab) -> tuple[str, Any]:
    """The [model] table's kind and its family's config (vocab_size and pad_id from `vocab`)."""
    from livegen.config import from_mapping

    fields = {**config.model, "vocab_size": vocab.size, "pad_id": vocab.pad}
    kind = fields.pop("kind", DEFAULT_KIND)
    family = model_family(kind)
    if family.vocab_fields is not None:
        fields.update(family.vocab_fields(vocab))
    where = f"{config.source or 'config'} [model]"
    model_config = from_mapping(family.config, fields, where=where)
    if config.data.seq_len > model_config.context:
        raise ConfigError(
            f"{config.source} [data] seq_len {config.data.seq_len} exceeds the model context "
            f"{model_config.context}"
        )
    return kind, model_config


@torch.no_grad()
def evaluate_windows(
    model: torch.nn.Module,
    rows: np.ndarray,
    batch_size: int,
    device: torch.device,
    autocast,
    ignored: np.ndarray | None = None,
) -> tuple[float, float]:
    """Mean NLL (nats/token) and next-token accuracy over fixed windows, PAD targets ignored,
    and the targets `ignored` (a (vocab,) bool mask: KEY and CHORD, as in training) too."""
    skip = None if ignored is None else torch.from_numpy(ignored).to(device)
    was_training = model.training
    model.eval()
    total_nll, total_correct, total = 0.0, 0, 0
    pad = model.config.pad_id
    for i in range(0, len(rows), batch_size):
        chunk = torch.from_numpy(rows[i : i + batch_size]).to(device)
        x, y = chunk[:, :-1], chunk[:, 1:]
        with autocast():
            logits, _ = model(x)
        logits = logits.float()
        keep = y != pad
        if skip is not None:
            keep &= ~skip[y]
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none"
        ).reshape(y.shape)
        total_nll += float(nll[keep].sum())
        total_correct += int((logits.argmax(-1) == y)[keep].sum())
        total += int(keep.sum())
    model.train(was_training)
    return total_nll / max(total, 1), total_correct / max(total, 1)


def _read_metrics(path: Path, up_to_step: int | None) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if up_to_step is not None:
        records = [r for r in records if r["step"] <= up_to_step]
    return records


def _ngram_val_nll(data_dir: Path, vocab: Vocab) -> float | None:
    """The 4-gram baseline's val NLL, fitted on train (cached beside the data)."""
    from .ngram import fit_on_prepared

    val_split = load_split(data_dir, "val")
    model = fit_on_prepared(data_dir, vocab.size, 4)
    if model is None or val_split.n_tokens == 0:
        return None
    return model.nll(np.asarray(val_split.tokens), val_split.offsets)


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    init_from: str | None = None,
    allow_data_change: bool = False,
) -> TrainResult:
    """Run (or continue, with resume=True) the training run described by `config`."""
    started = time.monotonic()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = resolve_device(config.run.device)
    distributed = world > 1
    if distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        if device.type == "cuda":
            torch.cuda.set_device(device)
    check_data_path(config.data.path)  # a wrong --data fails before the run folder is made
    lock = locked_run_folder(Path(config.run.out_dir)) if rank == 0 else contextlib.nullcontext()
    try:
        with lock:
            config = with_prepared_data(config, distributed=distributed)  # MIDI files: OUT/data
            return _train(
                config, resume, init_from, allow_data_change, device, rank, world, started
            )
    finally:
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


def _train(
    config: TrainConfig,
    resume: bool,
    init_from: str | None,
    allow_data_change: bool,
    device: torch.device,
    rank: int,
    world: int,
    started: float,
) -> TrainResult:
    run, opt = config.run, config.optim
    is_main = rank == 0
    if run.threads:
        torch.set_num_threads(run.threads)
    if run.precision == "fp16" and device.type != "cuda":
        raise ConfigError("[run] precision 'fp16' needs a CUDA device; use 'auto' or 'fp32'")
    choice = choose_precision(run.precision, device)
    if is_main:
        print(choice.describe(), file=sys.stderr, flush=True)
    out_dir = Path(run.out_dir)
    ckpt_path = out_dir / CHECKPOINT
    data_dir = Path(config.data.path)
    manifest = read_manifest(data_dir)
    language = language_from(manifest["tokenizer"], data_dir)  # events, remi, triplet, ...
    tokenizer = getattr(language, "config", None)  # the events language's; None for the others
    vocab = Vocab(tokenizer) if tokenizer is not None else LanguageVocab(language)

    state: dict[str, Any] | None = None
    if resume:
        if not ckpt_path.is_file():
            raise ConfigError(f"--resume: no checkpoint in {out_dir}; start without --resume")
        state = load_checkpoint(ckpt_path)
        if not allow_data_change:
            check_same_data(state, data_dir, out_dir)
        language, tokenizer, vocab = _with_model_tokens(state, manifest, data_dir, language, vocab)
        check_saved_language(state["tokenizer"], language, tokenizer)
        kind = state.get("model_kind", DEFAULT_KIND)
        model_config = model_family(kind).config(**state["model_config"])
    elif ckpt_path.is_file():
        raise ConfigError(
            f"{out_dir} already holds a run; continue it with --resume or choose another --out"
        )
    else:
        kind, model_config = build_model_config(config, vocab)

    init_state = None
    if init_from is not None and state is None:
        source = default_checkpoint_path() if init_from == "default" else Path(init_from)
        init_state = load_checkpoint(source)
        language, tokenizer, vocab = _with_model_tokens(
            init_state, manifest, data_dir, language, vocab
        )
        if tokenizer is None:
            check_saved_language(init_state["tokenizer"], language, tokenizer)
        grows = tokenizer is not None and check_grows_into(init_state["tokenizer"], tokenizer)
        kind = init_state.get("model_kind", DEFAULT_KIND)
        saved = model_family(kind).config(**init_state["model_config"])
        model_config = replace(saved, dropout=model_config.dropout)
        if grows:  # its vocab is a prefix of the data's: CHORD tokens appended (grow_vocab.py)
            old_size = saved.vocab_size
            model_config = replace(model_config, vocab_size=vocab.size)
            init_state["model"] = grow_token_rows(init_state["model"], old_size, vocab.size)
            if is_main:
                print(
                    f"--init-from {init_from}: vocabulary grown from {old_size} to {vocab.size}"
                    " tokens (new rows small random)",
                    file=sys.stderr,
                    flush=True,
                )
        if config.data.seq_len > model_config.context:
            raise ConfigError(
                f"[data] seq_len {config.data.seq_len} exceeds the context {model_config.context}"
                f" of the model in {source}"
            )

    torch.manual_seed(run.seed + rank)
    np.random.seed(run.seed + rank)
    model = model_family(kind).build(model_config).to(device)
    if init_state is not None:
        model.load_state_dict({k: v.float() for k, v in init_state["model"].items()})
    training = optimization(model, config, device, choice.precision, state)
    scaler = training.scaler
    step = training.step
    if state is not None:
        model.load_state_dict(state["model"])
        if is_main:
            set_rng_state(state["rng"])

    autocast = autocast_for(device, choice.precision)

    train_model: torch.nn.Module = model
    if world > 1:
        train_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    augment = (
        AugmentConfig(
            config.data.transpose_semitones,
            config.data.velocity_scale,
            config.data.stretch_probability,
            config.data.mode_probability,
            config.data.channel_permute_probability,
            config.data.duet_probability,
            config.data.program_shuffle_probability,
        )
        if config.data.augment
        else None
    )
    make_batches = TrainBatches if tokenizer is not None else plain_batches(language, augment)
    batches = make_batches(
        load_split(data_dir, "train"),
        tokenizer,
        seq_len=config.data.seq_len,
        batch_size=opt.batch_size,
        seed=run.seed,
        augment=augment,
        collection_weights=config.data.collection_weights,
        structure_drop_probability=config.data.structure_drop_probability,
        structure_targets=config.data.structure_targets,
    )
    if is_main and batches.shares:
        shares = ", ".join(f"{name} {share:.3f}" for name, share in batches.shares.items())
        print(f"training windows per collection: {shares}", file=sys.stderr, flush=True)
    val_split = load_split(data_dir, "val")
    val_rows = val_windows(
        val_split, config.data.seq_len, run.eval_batches * opt.batch_size, vocab.pad
    )
    if is_main and not val_rows.size:
        print(f"no val split in {data_dir}: the run is not validated", file=sys.stderr, flush=True)

    metrics_path = out_dir / METRICS
    records: list[dict[str, Any]] = []
    ngram_nll: float | None = None
    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        records = _read_metrics(metrics_path, step if state is not None else None)
        if state is None:
            records = []
        _write_lines(metrics_path, records)
        write_atomic(out_dir / "config.json", json.dumps(config.to_dict(), indent=1))
        if run.ngram_baseline and val_rows.size:
            ngram_nll = _ngram_val_nll(data_dir, vocab)

    def checkpoint() -> None:
        if not is_main:
            return
        save_checkpoint(
            ckpt_path,
            {
                "model_kind": kind,
                "model_config": model_config.__dict__.copy(),
                **language_entries(language),
                "model": model.state_dict(),
                **training.state(),
                "step": step,
                "rng": rng_state(),
                "data_position": {"step": step, "seed": run.seed, "world": world},
                "data": data_identity(data_dir),
                "train_config": config.to_dict(),
                "precision": choice.to_dict(),  # what "auto" became on this machine
                "metrics": _latest(records),
            },
        )

    def log(record: dict[str, Any]) -> None:
        records.append(record)
        with metrics_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    def validate() -> tuple[float, float]:
        loss, acc = evaluate_windows(
            model,
            val_rows,
            opt.batch_size,
            device,
            autocast,
            None if config.data.structure_targets else structure_mask(vocab),
        )
        log(
            {
                "kind": "val",
                "step": step,
                "loss": loss,
                "accuracy": acc,
                "ngram_nll": ngram_nll,
                "time_s": time.monotonic() - started,
            }
        )
        return loss, acc

    tokens_per_step = opt.batch_size * opt.grad_accum * config.data.seq_len * world
    bar = progress_bar(
        opt.max_steps, "train", unit="steps", initial=step, enabled=run.progress and is_main
    )
    start_step, interrupted = step, False
    last_val: tuple[float, float] | None = None
    window_loss, window_steps, window_start = 0.0, 0, time.monotonic()
    model.train()
    with StopFlag() as stop:
        while step < opt.max_steps:
            loss_sum = 0.0
            for micro in range(opt.grad_accum):
                x_np, y_np = batches.batch(step, micro, rank)
                x = torch.from_numpy(x_np).to(device)
                y = torch.from_numpy(y_np).to(device)
                sync = micro == opt.grad_accum - 1 or world == 1
                ctx = contextlib.nullcontext() if sync else train_model.no_sync()
                with ctx:
                    with autocast():
                        _, loss = train_model(x, y)
                    scaler.scale(loss / opt.grad_accum).backward()
                loss_sum += float(loss.detach())
            lr = apply_gradients(training, model, opt.grad_clip)
            step += 1
            step_loss = loss_sum / opt.grad_accum
            window_loss += step_loss
            window_steps += 1
            if is_main and (step % run.log_every == 0 or step == opt.max_steps):
                elapsed = max(time.monotonic() - window_start, 1e-9)
                tok_s = tokens_per_step * window_steps / elapsed
                log(
                    {
                        "kind": "train",
                        "step": step,
                        "loss": window_loss / window_steps,
                        "lr": lr,
                        "tokens_per_s": tok_s,
                        "precision": choice.precision,
                        "time_s": time.monotonic() - started,
                    }
                )
                bar.set_postfix_str(
                    f"loss {window_loss / window_steps:.3f} {tok_s:,.0f} tok/s", refresh=False
                )
                window_loss, window_steps, window_start = 0.0, 0, time.monotonic()
            bar.update()
            stopping = should_stop(stop, run, step - start_step, started, world, device)
            if is_main:
                due = step % run.eval_every == 0 or step == opt.max_steps
                if due and val_rows.size:
                    last_val = validate()
                if step % run.checkpoint_every == 0 or step == opt.max_steps or stopping:
                    checkpoint()
                if run.sample_every and step % run.sample_every == 0 and tokenizer is not None:
                    with _only_warn(step, "samples"):
                        _write_samples(model, vocab, tokenizer, out_dir, step, run.sample_tokens)
                if step % run.plot_every == 0 or step == opt.max_steps or stopping:
                    with _only_warn(step, "plot"):
                        _plot(records, out_dir)
            if world > 1:
                dist.barrier()
            if stopping:
                interrupted = step < opt.max_steps
                break
    bar.close()
    if is_main and step == start_step:
        checkpoint()
    return TrainResult.of(out_dir, step, last_val, interrupted, started)


def _with_model_tokens(
    state: dict[str, Any], manifest: dict[str, Any], data_dir: Path, language: Any, vocab: Any
) -> tuple[Any, TokenizerConfig | None, Any]:
    """The run's language, tokenizer and vocab: the data's, widened by the appended tokens (CHORD)
    the checkpoint's model knows and the data lacks (its ids are a prefix of the model's)."""
    tokenizer = getattr(language, "config", None)
    extra = model_only_options(state["tokenizer"], tokenizer) if tokenizer is not None else {}
    if not extra:
        return language, tokenizer, vocab
    language = language_from({**manifest["tokenizer"], **extra}, data_dir)
    return language, language.config, Vocab(language.config)


@contextlib.contextmanager
def _only_warn(step: int, what: str):
    """A failing extra (plot, samples) is one warning line; training and checkpoints go on."""
    try:
        yield
    except Exception as err:  # any failure of an extra: the training itself is unaffected
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"warning: step {step}: {what} not written ({reason})", file=sys.stderr, flush=True)


def _latest(records: list[dict[str, Any]]) -> dict[str, Any]:
    latest: dict[str, Any] = {}
    for record in records:
        latest[record["kind"]] = record
    return latest


def _write_lines(path: Path, records: list[dict[str, Any]]) -> None:
    write_atomic(path, "".join(json.dumps(r) + "\n" for r in records))


def _plot(records: list[dict[str, Any]], out_dir: Path) -> None:
    from .plot import plot_metrics

    plot_metrics(records, out_dir / PLOT, title=out_dir.name)


def _write_samples(model, vocab, tokenizer, out_dir: Path, step: int, n_tokens: int) -> None:
    from .samples import generate, write_sample

    tokens = generate(model, [vocab.bos], n_tokens, vocab, seed=step)
    write_sample([vocab.bos, *tokens], out_dir / "samples" / f"step_{step:06d}.mid", tokenizer)
