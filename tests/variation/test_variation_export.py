"""`livegen export` of vae/ddpm checkpoints: the folder says its kind, and onnxruntime matches
PyTorch on real windows (encoder, unrolled decoder, one denoiser step, a whole DDIM run)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from livegen.train.checkpoint import load_checkpoint
from livegen.train.models import model_family

from livegen.cli import main
from livegen.config import read_toml
from livegen.variation.model import VariationModel
from livegen.variation.notes import read_windows, to_features
from livegen.variation.vary import denoise

MIDI = Path(os.environ["LIVEGEN_TESTDATA"]).resolve() / "midi" / "piano_bach_score.mid"
TOLERANCE = 1e-4


def _torch_model(checkpoint: Path):
    state = load_checkpoint(checkpoint)
    family = model_family(state["model_kind"])
    model = family.build(family.config(**state["model_config"]))
    model.load_state_dict(state["model"])
    return model.eval()


def _real_windows() -> tuple[np.ndarray, np.ndarray]:
    return to_features(read_windows(MIDI, 16).rows[:12])


@pytest.mark.parametrize("kind", ["vae", "ddpm"])
def test_the_folder_records_its_kind_and_parity(kind: str, variation_model_dir) -> None:
    meta = read_toml(variation_model_dir(kind) / "model.toml")
    assert meta["kind"] == kind and meta["model"]["window"] == 16
    assert meta["parity"]["ok"] and meta["parity"]["max_abs_diff"] <= TOLERANCE


def test_vae_encoder_and_decoder_match_pytorch(variation_checkpoint, variation_model_dir) -> None:
    torch_model = _torch_model(variation_checkpoint("vae"))
    onnx_model = VariationModel.load(variation_model_dir("vae"))
    pitch, fields = _real_windows()
    mu, logvar = onnx_model.encode(pitch, fields)
    with torch.no_grad():
        want_mu, want_logvar = torch_model.encode(torch.from_numpy(pitch), torch.from_numpy(fields))
        want_pitch, want_fields = torch_model.greedy(want_mu)
    np.testing.assert_allclose(mu, want_mu.numpy(), atol=TOLERANCE)
    np.testing.assert_allclose(logvar, want_logvar.numpy(), atol=TOLERANCE)
    got_pitch, got_fields = onnx_model.decode(want_mu.numpy())
    np.testing.assert_array_equal(got_pitch, want_pitch.numpy())
    np.testing.assert_allclose(got_fields, want_fields.numpy(), atol=TOLERANCE)


def test_ddpm_denoiser_and_ddim_run_match_pytorch(
    variation_checkpoint, variation_model_dir
) -> None:
    torch_model = _torch_model(variation_checkpoint("ddpm"))
    onnx_model = VariationModel.load(variation_model_dir("ddpm"))
    pitch, fields = _real_windows()
    with torch.no_grad():
        x0 = torch_model.to_x0(torch.from_numpy(pitch), torch.from_numpy(fields))
    np.testing.assert_allclose(onnx_model.to_x0(pitch, fields), x0.numpy(), atol=1e-5)
    noise = np.random.default_rng(0).standard_normal(x0.shape).astype(np.float32)
    x_t = onnx_model.schedule.add_noise(x0.numpy(), noise, 500)
    with torch.no_grad():
        want_eps = torch_model(torch.from_numpy(x_t), torch.full((len(x_t),), 500)).numpy()
        want_x0 = torch_model.reverse(torch.from_numpy(x_t), 500, 10).numpy()
    np.testing.assert_allclose(onnx_model.denoise(x_t, 500), want_eps, atol=TOLERANCE)
    got_x0 = denoise(onnx_model, x_t, 500, 10)
    np.testing.assert_allclose(got_x0, want_x0, atol=1e-3)
    got_pitch, _ = onnx_model.from_x0(got_x0)
    want_pitch, _ = torch_model.from_x0(torch.from_numpy(want_x0))
    np.testing.assert_array_equal(got_pitch, want_pitch.numpy())


def test_a_variation_checkpoint_exports_in_fp32_only(variation_checkpoint, tmp_path, capsys):
    code = main(["export", "--onnx", str(variation_checkpoint("vae")), "-o", str(tmp_path / "m"),
                 "--precision", "fp16"])  # fmt: skip
    assert code != 0 and "fp32 only" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_runtime_load_of_a_transformer_folder_says_what_it_needs(tiny_model) -> None:
    with pytest.raises(Exception, match="varying needs one of vae, ddpm"):
        VariationModel.load(tiny_model())
