"""The variation families' exporter: a VAE or DDPM checkpoint to an ONNX model folder.

VAE folder:
  encoder.onnx  pitch (B, N) int64, fields (B, N, 3) float32  ->  mu, logvar (B, Z)
  decoder.onnx  z (B, Z)  ->  pitch (B, N) int64, fields (B, N, 3): the greedy decoder unrolled
                over the window's N notes (each note's argmax pitch and fields fed back), so a
                window is one call instead of N; the window length is fixed by the model anyway
DDPM folder:
  denoiser.onnx x_t (B, N, E + 3) float32, t (B,) int64  ->  eps (B, N, E + 3): one step; the
                schedule (livegen/variation/schedule.py) runs around it in numpy
  pitch_embeddings.npy (128, E) float32: the normalized pitch rows, for encoding and for
                nearest-row decoding at run time
Both: model.toml with `kind`, the model config, the note representation ([notes]) and the parity
figures: `--verify` (always on here) runs PyTorch and onnxruntime on the same random windows and
fails the export beyond TOLERANCE. Written to a temp folder, then swapped in (onnx_folder.py).
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from livegen.export.onnx_folder import check_model_folder, replace_folder
from livegen.train.checkpoint import load_checkpoint
from livegen.train.models import model_family
from livegen.train.models.ddpm import DDPM
from livegen.train.models.vae import VAE
from torch import nn

from livegen.config import dump_toml, to_mapping
from livegen.errors import ModelLoadError
from livegen.variation.notes import MAX_DUR_BEATS, MAX_GAP_BEATS

KINDS = ("vae", "ddpm")
OPSET = 17
TOLERANCE = 1e-4  # max |difference| of continuous outputs, fp32
PARITY_BATCH = 8


def checkpoint_kind(path: str | Path) -> str:
    """The `model_kind` of a checkpoint ("transformer" when it has none)."""
    return str(load_checkpoint(path).get("model_kind", "transformer"))


def is_variation_checkpoint(path: Path) -> bool:
    """Whether `path` is a readable vae/ddpm checkpoint; anything else is the transformer
    exporter's to accept or to explain."""
    if not path.is_file():
        return False
    try:
        return checkpoint_kind(path) in KINDS
    except ModelLoadError:
        return False


class _Encoder(nn.Module):
    def __init__(self, model: VAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, pitch: torch.Tensor, fields: torch.Tensor):
        return self.model.encode(pitch, fields)


class _Decoder(nn.Module):
    def __init__(self, model: VAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor):
        return self.model.greedy(z)


def _export(module: nn.Module, args: tuple, path: Path, inputs: list, outputs: list) -> None:
    dynamic = {name: {0: "batch"} for name in (*inputs, *outputs)}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript exporter notices and tracer warnings
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _random_windows(window: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    pitch = torch.randint(21, 109, (PARITY_BATCH, window), generator=generator)
    return pitch, torch.rand(PARITY_BATCH, window, 3, generator=generator)


def _export_vae(model: VAE, tmp: Path) -> dict[str, Any]:
    c = model.config
    pitch, fields = _random_windows(c.window)
    _export(_Encoder(model), (pitch, fields), tmp / "encoder.onnx", ["pitch", "fields"],
            ["mu", "logvar"])  # fmt: skip
    z = torch.randn(PARITY_BATCH, c.latent, generator=torch.Generator().manual_seed(1))
    _export(_Decoder(model), (z,), tmp / "decoder.onnx", ["z"], ["pitch", "fields"])
    with torch.no_grad():
        mu, logvar = model.encode(pitch, fields)
        want_pitch, want_fields = model.greedy(mu)
    got_mu, got_logvar = _session(tmp / "encoder.onnx").run(
        None, {"pitch": pitch.numpy(), "fields": fields.numpy()}
    )
    got_pitch, got_fields = _session(tmp / "decoder.onnx").run(None, {"z": mu.numpy()})
    same = got_pitch == want_pitch.numpy()
    diff = max(
        float(np.abs(got_mu - mu.numpy()).max()),
        float(np.abs(got_logvar - logvar.numpy()).max()),
        float(np.abs(got_fields - want_fields.numpy())[same].max(initial=0.0)),
    )
    return {"max_abs_diff": diff, "pitch_agreement": float(same.mean()), "windows": PARITY_BATCH}


def _export_ddpm(model: DDPM, tmp: Path) -> dict[str, Any]:
    c = model.config
    x_t = torch.randn(
        PARITY_BATCH, c.window, c.channels, generator=torch.Generator().manual_seed(2)
    )
    t = torch.linspace(0, c.timesteps - 1, PARITY_BATCH).long()
    _export(model, (x_t, t), tmp / "denoiser.onnx", ["x_t", "t"], ["eps"])
    with torch.no_grad():
        want = model(x_t, t).numpy()
        table = model.embeddings().numpy().astype(np.float32)
    np.save(tmp / "pitch_embeddings.npy", table)
    got = _session(tmp / "denoiser.onnx").run(None, {"x_t": x_t.numpy(), "t": t.numpy()})[0]
    return {"max_abs_diff": float(np.abs(got - want).max()), "pitch_agreement": 1.0,
            "windows": PARITY_BATCH}  # fmt: skip


def export_variation(checkpoint: str | Path, out_dir: str | Path) -> tuple[Path, dict[str, Any]]:
    """Export a vae/ddpm checkpoint to `out_dir` (checked, written aside, swapped in); returns the
    folder and the parity figures. A failed parity check raises and leaves no folder."""
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    check_model_folder(out_dir, (checkpoint,))
    state = load_checkpoint(checkpoint)
    kind = state.get("model_kind", "transformer")
    if kind not in KINDS:
        raise ModelLoadError(f"{checkpoint}: a {kind!r} model, not one of {', '.join(KINDS)}")
    family = model_family(kind)
    model = family.build(family.config(**state["model_config"]))
    model.load_state_dict(state["model"])
    return export_variation_model(model, kind, out_dir, int(state.get("step", 0)))


def export_variation_model(
    model: nn.Module, kind: str, out_dir: str | Path, step: int = 0
) -> tuple[Path, dict[str, Any]]:
    """Export a built vae/ddpm (trained or not: bench/vary_bench.py times untrained ones of the
    real configs' size, as speed does not depend on the weights) to `out_dir`, checked."""
    out_dir = Path(out_dir)
    model = model.eval().float()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        parity = _export_vae(model, tmp) if kind == "vae" else _export_ddpm(model, tmp)
        parity["tolerance"] = TOLERANCE
        parity["ok"] = parity["max_abs_diff"] <= TOLERANCE and parity["pitch_agreement"] >= 0.99
        if not parity["ok"]:
            raise ModelLoadError(
                f"export failed verification: max |diff| {parity['max_abs_diff']:.3g} "
                f"(tolerance {TOLERANCE}), pitch agreement {parity['pitch_agreement']:.1%}"
            )
        meta = {
            "kind": kind,
            "opset": OPSET,
            "exported_with": f"torch {torch.__version__}",
            "step": step,
            "model": to_mapping(model.config),
            "notes": {"max_gap_beats": MAX_GAP_BEATS, "max_dur_beats": MAX_DUR_BEATS},
            "parity": parity,
        }
        (tmp / "model.toml").write_text(dump_toml(meta))
        tmp.chmod(0o755)
        replace_folder(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir, parity
