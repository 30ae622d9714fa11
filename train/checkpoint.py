"""Checkpoints: one `torch.save` dict that carries everything needed to resume or export.

Keys (the contract shared with export, eval and fine-tuning): `model_config`, `tokenizer`,
`model`, `optimizer`, `scheduler`, `step`, `rng`, `data_position`, `train_config`, `metrics`.
Writes are atomic (temp file in the same folder, then rename), so a kill during a save leaves
the previous checkpoint intact.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livegen.errors import ModelLoadError

REQUIRED_KEYS = ("model_config", "tokenizer", "model")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pt")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint onto the CPU; a missing or foreign file is a one-line ModelLoadError."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise ModelLoadError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise ModelLoadError(f"{path}: not a readable torch checkpoint ({err})") from err
    missing = [k for k in REQUIRED_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ModelLoadError(f"{path}: not a livegen checkpoint (missing {', '.join(missing)})")
    return state


def rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def weights_only(state: dict[str, Any], *, half: bool = True) -> dict[str, Any]:
    """A small checkpoint for shipping and fine-tuning: configs and (fp16) weights, no optimizer."""
    model = {
        k: (v.half() if half and v.is_floating_point() else v) for k, v in state["model"].items()
    }
    keep = ("model_config", "tokenizer", "step", "train_config", "metrics")
    return {**{k: state[k] for k in keep if k in state}, "model": model}
