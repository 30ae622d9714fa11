"""Checkpoints: one `torch.save` dict that carries everything needed to resume or export.

Keys (the contract shared with export, eval and fine-tuning): `model_config`, `tokenizer`,
`model`, `optimizer`, `scheduler`, `step`, `rng`, `data_position`, `train_config`, `metrics`.
Writes are atomic (temp file in the same folder, then rename), so a kill during a save leaves
the previous checkpoint intact.

Loading never runs code from the file: `read_torch_file` is `torch.load(weights_only=True)`, so a
checkpoint holds tensors, numbers, strings and plain containers only (RNG states as tensors); one
carrying a pickled callable is refused with one line. Older checkpoints whose numpy RNG state is
an array still load: numpy's array reconstruction is the one extra allowed.
"""

from __future__ import annotations

import os
import pickle
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
    state = read_torch_file(path)
    missing = [k for k in REQUIRED_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ModelLoadError(f"{path}: not a livegen checkpoint (missing {', '.join(missing)})")
    return state


try:  # numpy arrays in checkpoints written before RNG states became tensors
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct
_OLD_NUMPY_GLOBALS = [_reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def read_torch_file(path: str | Path) -> Any:
    """`torch.load` of tensors and plain data only; anything else is one ModelLoadError line."""
    try:
        with torch.serialization.safe_globals(_OLD_NUMPY_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = str(err).split("GLOBAL ", 1)[-1].split(" ", 1)[0] if "GLOBAL " in str(err) else ""
        what = f" ({found})" if found else ""
        raise ModelLoadError(
            f"{path}: refused: it holds Python objects{what} besides tensors and plain data, "
            "and loading it could run code"
        ) from err
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelLoadError(f"{path}: not a readable torch checkpoint ({reason})") from err


def rng_state() -> dict[str, Any]:
    """Python's, numpy's and torch's RNG states as tensors and numbers (weights_only-safe)."""
    version, keys, gauss = random.getstate()
    name, np_keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {
            "version": version,
            "keys": torch.tensor(keys, dtype=torch.int64),
            "gauss": gauss,
        },
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    python, numpy = state["python"], state["numpy"]
    if isinstance(python, dict):
        keys = tuple(int(k) for k in python["keys"].tolist())
        random.setstate((python["version"], keys, python["gauss"]))
        np_keys = numpy["keys"].numpy().astype(np.uint32)
        np.random.set_state(
            (numpy["name"], np_keys, numpy["pos"], numpy["has_gauss"], numpy["cached_gaussian"])
        )
    else:  # a checkpoint from before RNG states were tensors
        random.setstate(python)
        np.random.set_state(numpy)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def weights_only(state: dict[str, Any], *, half: bool = True) -> dict[str, Any]:
    """A small checkpoint for shipping and fine-tuning: configs and (fp16) weights, no optimizer."""
    model = {
        k: (v.half() if half and v.is_floating_point() else v) for k, v in state["model"].items()
    }
    keep = (
        "model_kind",
        "model_config",
        "tokenizer",
        "tokenizer_files",  # remi-bpe's trained BPE, for export (issue 15)
        "step",
        "train_config",
        "metrics",
    )
    return {**{k: state[k] for k in keep if k in state}, "model": model}
