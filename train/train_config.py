"""The training run's settings: frozen dataclasses read from configs/train/NAME.toml.

Sections: [model] (the ModelConfig fields, or `file = "configs/model/x.toml"` plus overrides;
vocab_size and pad_id always come from the tokenizer), [data], [optim], [run]. An unknown
section or key is a ConfigError naming the file, section and key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livegen.config import from_mapping, read_toml
from livegen.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class DataSection:
    path: str = "data/music21"  # a folder written by `livegen data prepare`
    seq_len: int = 512  # tokens per training sequence (<= model context)
    augment: bool = True
    transpose_semitones: int = 6  # pitch shift drawn from -n..n (drums untouched)
    velocity_scale: float = 0.2  # velocity bins scaled by a factor in [1-x, 1+x]
    stretch_probability: float = 0.2  # chance of a x2 or x1/2 time stretch when exact
    mode_probability: float = 0.5  # chance of a MODE token after each BOS (the daemon sends one)
    # chance of renaming a window's melodic channels at random (accompany any line on any channel)
    channel_permute_probability: float = 0.0
    # chance of a duet window: one part whole (the player's), one coming in cold (the model's)
    duet_probability: float = 0.0
    # chance that a window's instruments are renamed (mostly within their GM family)
    program_shuffle_probability: float = 0.0
    # share of training windows per collection; "others" = all unlisted (train/dataset.py)
    collection_weights: dict[str, float] = field(default_factory=dict)
    # chance that a window loses its KEY and CHORD tokens, so the model plays with and without
    structure_drop_probability: float = 0.5
    # KEY and CHORD tokens as loss targets too (false: inputs only; train/dataset.py says why)
    structure_targets: bool = False

    def __post_init__(self) -> None:
        if self.seq_len < 2:
            raise ConfigError(f"[data] seq_len must be >= 2, got {self.seq_len}")
        if not 0 <= self.transpose_semitones <= 12:
            raise ConfigError(
                f"[data] transpose_semitones must be in 0..12, got {self.transpose_semitones}"
            )
        if not 0 <= self.velocity_scale < 1:
            raise ConfigError(f"[data] velocity_scale must be in [0, 1), got {self.velocity_scale}")
        if not 0 <= self.stretch_probability <= 1:
            raise ConfigError("[data] stretch_probability must be in [0, 1]")
        if not 0 <= self.structure_drop_probability <= 1:
            raise ConfigError("[data] structure_drop_probability must be in [0, 1]")
        if not 0 <= self.channel_permute_probability <= 1:
            raise ConfigError("[data] channel_permute_probability must be in [0, 1]")
        if not 0 <= self.duet_probability <= 1:
            raise ConfigError("[data] duet_probability must be in [0, 1]")
        if not 0 <= self.program_shuffle_probability <= 1:
            raise ConfigError("[data] program_shuffle_probability must be in [0, 1]")
        if not isinstance(self.collection_weights, dict):
            raise ConfigError("[data] collection_weights must be a table, e.g. { pop909 = 0.5 }")
        for name, weight in self.collection_weights.items():
            if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
                raise ConfigError(
                    f"[data] collection_weights: {name} = {weight!r}; a weight is a number >= 0"
                )


@dataclass(frozen=True)
class OptimSection:
    lr: float = 1e-3
    min_lr: float = 1e-4  # cosine decays to this
    weight_decay: float = 0.1  # on matrices only, not on norms and biases
    beta1: float = 0.9
    beta2: float = 0.95
    warmup_steps: int = 100
    max_steps: int = 2000  # optimizer steps
    batch_size: int = 16  # sequences per micro-batch and process
    grad_accum: int = 1  # micro-batches per optimizer step
    grad_clip: float = 1.0  # max global grad norm; 0 turns clipping off

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "grad_accum"):
            if getattr(self, name) < 1:
                raise ConfigError(f"[optim] {name} must be >= 1, got {getattr(self, name)}")
        if self.warmup_steps < 0:
            raise ConfigError(f"[optim] warmup_steps must be >= 0, got {self.warmup_steps}")


@dataclass(frozen=True)
class RunSection:
    out_dir: str = "runs/default"
    seed: int = 1337
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    # auto (bf16 where the hardware has it natively, see train/precision.py) | fp32 |
    # bf16 (autocast, CPU or GPU) | fp16 (CUDA, GradScaler)
    precision: str = "fp32"
    threads: int = 0  # torch intra-op threads; 0 keeps torch's default
    log_every: int = 10  # train-loss records in metrics.jsonl
    eval_every: int = 200  # validation loss/accuracy
    eval_batches: int = 8  # val batches of batch_size sequences (fixed windows)
    checkpoint_every: int = 200
    plot_every: int = 50
    sample_every: int = 0  # sample MIDI files into <out_dir>/samples; 0 = off
    sample_tokens: int = 256
    ngram_baseline: bool = True  # fit the 4-gram on train, show its val NLL beside ours
    stop_after: int = 0  # stop with a checkpoint after this many steps (an interruption)
    max_minutes: float = 0.0  # stop with a checkpoint after this wall time; 0 = no limit
    progress: bool = True

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"[run] precision {self.precision!r} not one of {', '.join(PRECISIONS)}"
            )
        for name in ("log_every", "eval_every", "checkpoint_every", "plot_every", "eval_batches"):
            if getattr(self, name) < 1:
                raise ConfigError(f"[run] {name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class TrainConfig:
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields (checked later)
    data: DataSection = DataSection()
    optim: OptimSection = OptimSection()
    run: RunSection = RunSection()
    source: str = ""  # the TOML file this came from

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "train config") -> TrainConfig:
        sections = {"model", "data", "optim", "run", "source"}
        unknown = sorted(set(data) - sections)
        if unknown:
            raise ConfigError(
                f"{where}: unknown section [{unknown[0]}]; valid sections: model, data, optim, run"
            )
        return cls(
            model=dict(data.get("model", {})),
            data=from_mapping(DataSection, data.get("data", {}), where=f"{where} [data]"),
            optim=from_mapping(OptimSection, data.get("optim", {}), where=f"{where} [optim]"),
            run=from_mapping(RunSection, data.get("run", {}), where=f"{where} [run]"),
            source=str(data.get("source", "")),
        )


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read configs/train/NAME.toml; `[model] file = ...` pulls a model config in first."""
    path = Path(path)
    data = read_toml(path)
    model = dict(data.get("model", {}))
    if "file" in model:
        model_file = Path(model.pop("file"))
        if not model_file.is_absolute() and not model_file.exists():
            model_file = path.parent / model_file
        model = {**read_toml(model_file), **model}
    data["model"] = model
    data["source"] = str(path)
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        data.setdefault(section, {})[key] = value
    return TrainConfig.from_dict(data, where=str(path))
