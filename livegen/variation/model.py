"""An exported variation model folder (vae or ddpm) and its onnxruntime sessions.

The folder is written by livegen/export/variation_onnx.py; model.toml says the `kind`:
- vae:  encoder.onnx (pitch, fields -> mu, logvar), decoder.onnx (z -> pitch, fields)
- ddpm: denoiser.onnx (x_t, t -> eps) and pitch_embeddings.npy (128, E); the noise schedule is
        rebuilt from [model] timesteps / beta_start / beta_end (schedule.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from livegen.config import read_toml
from livegen.errors import LivegenError, ModelLoadError
from livegen.variation.schedule import NoiseSchedule

KINDS = ("vae", "ddpm")
GRAPHS = {"vae": ("encoder.onnx", "decoder.onnx"), "ddpm": ("denoiser.onnx",)}


def is_variation_folder(path: str | Path) -> bool:
    """Whether `path` is an exported vae/ddpm folder (its model.toml says so)."""
    toml = Path(path) / "model.toml"
    try:
        return toml.is_file() and read_toml(toml).get("kind") in KINDS
    except LivegenError:
        return False


@dataclass
class VariationModel:
    path: Path
    kind: str
    config: dict[str, Any]
    threads: int = 1
    _sessions: dict[str, ort.InferenceSession] = field(default_factory=dict, repr=False)
    _embeddings: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: str | Path, threads: int = 1) -> VariationModel:
        """Open a folder (ModelLoadError when it is not a vae/ddpm export)."""
        path = Path(path)
        if not (path / "model.toml").is_file():
            raise ModelLoadError(f"{path}: not a model folder (no model.toml)")
        meta = read_toml(path / "model.toml")
        kind = meta.get("kind")
        if kind not in KINDS:
            raise ModelLoadError(
                f"{path}: a {kind or 'transformer'!r} model; varying needs one of "
                f"{', '.join(KINDS)} (livegen export of a vae/ddpm checkpoint)"
            )
        model = cls(path, kind, dict(meta["model"]), threads)
        for name in GRAPHS[kind]:
            if not (path / name).is_file():
                raise ModelLoadError(f"{path}: {name} missing; export the model again")
            model.session(name)  # opened now, so the first variation is not the slow one
        return model

    @property
    def window(self) -> int:
        return int(self.config["window"])

    def session(self, name: str) -> ort.InferenceSession:
        if name not in self._sessions:
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            self._sessions[name] = ort.InferenceSession(
                str(self.path / name), options, providers=["CPUExecutionProvider"]
            )
        return self._sessions[name]

    # vae
    def encode(self, pitch: np.ndarray, fields: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """pitch (B, N) int64, fields (B, N, 3) -> mu, logvar (B, Z)."""
        mu, logvar = self.session("encoder.onnx").run(
            None, {"pitch": pitch.astype(np.int64), "fields": fields.astype(np.float32)}
        )
        return mu, logvar

    def decode(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """z (B, Z) -> pitch (B, N) int64, fields (B, N, 3) (greedy)."""
        pitch, fields = self.session("decoder.onnx").run(None, {"z": z.astype(np.float32)})
        return pitch, fields

    # ddpm
    @property
    def schedule(self) -> NoiseSchedule:
        c = self.config
        return NoiseSchedule(int(c["timesteps"]), float(c["beta_start"]), float(c["beta_end"]))

    @property
    def embeddings(self) -> np.ndarray:
        if self._embeddings is None:
            self._embeddings = np.load(self.path / "pitch_embeddings.npy")
        return self._embeddings

    def denoise(self, x_t: np.ndarray, t: int) -> np.ndarray:
        """Predicted noise of x_t (B, N, E + 3) at step t."""
        steps = np.full(len(x_t), t, dtype=np.int64)
        return self.session("denoiser.onnx").run(None, {"x_t": x_t, "t": steps})[0]

    def to_x0(self, pitch: np.ndarray, fields: np.ndarray) -> np.ndarray:
        return np.concatenate([self.embeddings[pitch], fields * 2 - 1], axis=-1).astype(np.float32)

    def from_x0(self, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest embedding row (pitch) and clipped fields."""
        e = self.embeddings.shape[1]
        table = self.embeddings
        dist = (x0[..., :e] ** 2).sum(-1, keepdims=True) - 2 * x0[..., :e] @ table.T
        dist += (table**2).sum(-1)
        return dist.argmin(-1), np.clip((x0[..., e:] + 1) / 2, 0.0, 1.0)
