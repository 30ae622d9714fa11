"""The engine: onnxruntime logits equal PyTorch's, O(1) rollback, sessions past the context."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from livegen.train.models.transformer import ModelConfig, Transformer

from livegen.config import read_toml
from livegen.errors import DeviceError, ModelLoadError, TokenizerMismatchError
from livegen.inference.engine import Engine


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models: extra torch threads only contend for the shared cores (5x slower here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


POSITIONS = ["rope", "learned", "relative"]


def torch_model(folder: Path) -> Transformer:
    """The PyTorch twin of an exported tiny model (same seed, same weights)."""
    config = read_toml(folder / "model.toml")["model"]
    torch.manual_seed(0)
    return Transformer(ModelConfig(**config)).eval()


def full_logits(model: Transformer, tokens: np.ndarray) -> np.ndarray:
    """Logits of the last token by a full, uncached pass (B, V)."""
    with torch.no_grad():
        return model(torch.from_numpy(np.atleast_2d(tokens)))[0][:, -1].numpy()


def tokens(n: int, seed: int = 0, vocab: int = 100, batch: int | None = None) -> np.ndarray:
    size = n if batch is None else (batch, n)
    return np.random.default_rng(seed).integers(4, vocab, size=size)


@pytest.mark.parametrize("position", POSITIONS)
def test_prefill_step_and_rollback_match_a_full_pytorch_pass(tiny_model, position: str) -> None:
    folder = tiny_model(position)
    model = torch_model(folder)
    engine = Engine.load(folder)
    seq = tokens(60)
    logits = engine.prefill(seq[:20])
    np.testing.assert_allclose(logits, full_logits(model, seq[:20])[0], atol=1e-4)
    for t in range(20, 40):
        logits = engine.step(int(seq[t]))
        np.testing.assert_allclose(logits, full_logits(model, seq[: t + 1])[0], atol=1e-4)
    assert engine.position == 40
    engine.rollback(25)
    other = np.concatenate([seq[:25], tokens(10, seed=9)])
    for t in range(25, 35):
        logits = engine.step(int(other[t]))
    np.testing.assert_allclose(logits, full_logits(model, other)[0], atol=1e-4)


@pytest.mark.parametrize("position", ["rope", "relative"])  # GQA graph and portable graph
def test_a_batch_decodes_like_separate_sessions(tiny_model, position: str) -> None:
    folder = tiny_model(position)
    batch = tokens(30, batch=3)
    engine = Engine.load(folder, batch=3)
    engine.prefill(batch[:, :12])
    logits = engine.prefill(batch[:, 12:20])  # several tokens after a past
    for t in range(20, 30):
        logits = engine.step(batch[:, t])
    assert logits.shape == (3, engine.vocab_size)
    for row in range(3):
        single = Engine.load(folder)
        np.testing.assert_allclose(single.prefill(batch[row]), logits[row], atol=1e-5)
        expected = full_logits(torch_model(folder), batch[row])[0]
        np.testing.assert_allclose(logits[row], expected, atol=1e-4)


@pytest.mark.parametrize("overflow", ["sync", "background"])
@pytest.mark.parametrize("position", POSITIONS)
def test_a_session_runs_past_the_context(tiny_model, position: str, overflow: str) -> None:
    """3.5 contexts of tokens; afterwards the logits are those of the window the model sees."""
    folder = tiny_model(position, context=64)
    model = torch_model(folder)
    engine = Engine.load(folder, overflow=overflow)
    seq = tokens(224, seed=3)
    engine.prefill(seq[:10])
    for t in range(10, 224):
        logits = engine.step(int(seq[t]))
        assert np.isfinite(logits).all()
        if overflow == "background" and t % 50 == 0:
            engine.wait_for_slide()  # vary where the hand-over lands
    assert engine.position == 224
    assert engine.stats.slides >= 3
    window = seq[engine.window_start : engine.position]
    assert 0 < len(window) <= 64
    np.testing.assert_allclose(logits, full_logits(model, window)[0], atol=1e-4)


def test_rollback_during_a_background_slide_is_honoured(tiny_model) -> None:
    folder = tiny_model("rope", context=64)
    model = torch_model(folder)
    engine = Engine.load(folder, overflow="background")
    seq = tokens(80, seed=4)
    engine.prefill(seq[:57])  # crosses context - margin: a slide starts
    engine.rollback(50)  # inside the window the worker is prefilling
    other = np.concatenate([seq[:50], tokens(30, seed=5)])
    engine.wait_for_slide()
    for t in range(50, 80):
        logits = engine.step(int(other[t]))
    window = other[engine.window_start : engine.position]
    np.testing.assert_allclose(logits, full_logits(model, window)[0], atol=1e-4)


def test_rollback_before_the_window_rebuilds_it(tiny_model) -> None:
    folder = tiny_model("learned", context=64)
    model = torch_model(folder)
    engine = Engine.load(folder, overflow="sync")
    seq = tokens(150, seed=6)
    engine.prefill(seq[:140])
    assert engine.window_start > 20
    engine.rollback(20)
    logits = engine.step(int(seq[20]))
    np.testing.assert_allclose(logits, full_logits(model, seq[:21])[0], atol=1e-4)


def test_rollback_is_constant_time_and_refuses_the_future(tiny_model) -> None:
    engine = Engine.load(tiny_model("rope"))
    engine.prefill(tokens(100))
    engine.rollback(3)  # nothing is recomputed: the position moves
    assert engine.position == 3
    with pytest.raises(ValueError, match="roll back"):
        engine.rollback(4)


def test_stats_report_recent_decode_cost(tiny_model) -> None:
    engine = Engine.load(tiny_model("rope"))
    engine.prefill(tokens(10))
    for token in tokens(20, seed=1):
        engine.step(int(token))
    stats = engine.stats
    assert stats.ms_per_token > 0 and stats.tokens_per_s > 0
    assert stats.position == 30
    assert stats.context_fill == pytest.approx(30 / engine.context)


def test_bad_tokens_are_refused(tiny_model) -> None:
    engine = Engine.load(tiny_model("rope"))
    with pytest.raises(ValueError, match="token ids"):
        engine.step(engine.vocab_size)


def test_cuda_asked_for_without_cuda_is_a_device_error(tiny_model) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceError, match="gpu"):
        Engine.load(tiny_model("rope"), device="cuda")
    assert Engine.load(tiny_model("rope"), device="auto").device == "cpu"


def test_a_model_with_another_tokenizer_is_refused(tiny_model, tmp_path: Path) -> None:
    source = tiny_model("rope")
    copy = tmp_path / "other"
    copy.mkdir()
    (copy / "model.onnx").write_bytes((source / "model.onnx").read_bytes())
    text = (source / "model.toml").read_text()
    (copy / "model.toml").write_text(text.replace("steps_per_beat = 24", "steps_per_beat = 12"))
    with pytest.raises(TokenizerMismatchError, match="steps_per_beat"):
        Engine.load(copy)


@pytest.mark.parametrize("where", ["missing", "empty"])
def test_a_missing_or_empty_model_folder_is_a_one_line_error(where: str, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    if where == "empty":
        folder.mkdir()
    with pytest.raises(ModelLoadError, match=str(folder)):
        Engine.load(folder)


def test_the_runtime_side_never_imports_torch() -> None:
    """Engine, sampler, generation, bench and the model CLI load in a process without torch."""
    import subprocess
    import sys

    code = (
        "import sys, livegen.inference.engine, livegen.inference.sampler, "
        "livegen.inference.generate, livegen.bench.engine_bench, livegen.inference.model_dir, "
        "livegen.commands.model_cmds; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
