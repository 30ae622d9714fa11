"""The hierarchical model through ONNX: two graphs whose onnxruntime logits match PyTorch, an
engine that runs them behind the flat engine's interface, and the commands end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from livegen.export.hierarchical_onnx import export_hierarchical, export_model_dir
from livegen.export.tiny import make_tiny_hier_model_dir
from livegen.train.models.hierarchical import HierarchicalTransformer, HierCache, HierConfig
from livegen.train.models.hierarchical import vocab_fields as hier_vocab_fields

from livegen.errors import ModelLoadError
from livegen.inference.engine import Engine
from livegen.inference.model_dir import read_model_dir
from livegen.tokenizer import TokenizerConfig, Vocab, encode_notes, read_midi

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi"
VOCAB = Vocab()
TOKENIZER = TokenizerConfig().to_dict()


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(context: int = 400) -> HierarchicalTransformer:
    torch.manual_seed(1)
    config = HierConfig(
        vocab_size=VOCAB.size, pad_id=VOCAB.pad, n_layer=2, n_head=2, d_model=32, d_ff=64,
        context=context, token_layers=2, token_heads=2, token_d_model=32, token_d_ff=64,
        max_event_tokens=6, **hier_vocab_fields(VOCAB),
    )  # fmt: skip
    model = HierarchicalTransformer(config).eval()
    with torch.no_grad():  # spread the logits like a trained model's, so parity is meaningful
        model.tok_emb.weight.mul_(40)
    return model


def music(name: str, length: int) -> np.ndarray:
    tokens = encode_notes(read_midi(TESTDATA / name).notes, bos=True, vocab=VOCAB)
    return np.asarray(tokens[:length], dtype=np.int64)


@pytest.fixture(scope="module")
def fp32_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder, parity = export_model_dir(
        tiny(), TOKENIZER, tmp_path_factory.mktemp("h") / "m", verify=True
    )
    assert parity["ok"]
    return folder


def test_the_folder_holds_two_graphs_and_describes_itself(fp32_folder: Path) -> None:
    info = read_model_dir(fp32_folder)
    assert info.kind == "hierarchical"
    assert sorted(p.name for p in fp32_folder.iterdir()) == [
        "event.onnx",
        "model.toml",
        "token.onnx",
    ]
    assert info.parity["steps"] == 300 and info.parity["rollbacks"] == 2
    assert info.parity["max_abs_diff"] <= 1e-4 and info.parity["greedy_agreement"] == 1.0
    assert info.model["opening_ids"] == list(tiny().config.opening_ids)


@pytest.mark.parametrize("precision, tolerance", [("fp32", 1e-4), ("int8", 0.5)])
def test_engine_logits_match_pytorch_on_real_music_with_rollbacks(
    precision: str, tolerance: float, tmp_path: Path
) -> None:
    model = tiny()
    folder, _ = export_model_dir(model, TOKENIZER, tmp_path / "m", precision)
    engine = Engine.load(folder, overflow="sync", check_tokenizer=False)
    cache = HierCache(model)
    tokens = music("tempo_pop909_010.mid", 300)
    diffs = []

    def both(token: int) -> None:
        ours = engine.step(token)
        theirs = cache.feed(torch.tensor([[token]]))[0, -1].numpy()
        diffs.append(np.abs(ours - theirs).max())

    ours = engine.prefill(tokens[:50])
    diffs.append(
        np.abs(ours - cache.feed(torch.from_numpy(tokens[None, :50]))[0, -1].numpy()).max()
    )
    for position in range(50, 300):
        if position in (120, 121, 200):  # a player note: roll back a few tokens, take another way
            engine.rollback(position - 7)
            cache.rollback(position - 7)
            for token in music("short_41_tracks_is_drum.mid", 7).tolist():
                both(token)
        both(int(tokens[position]))
    assert max(diffs) <= tolerance


def test_a_session_longer_than_the_window_slides_and_goes_on(tmp_path: Path) -> None:
    folder = make_tiny_hier_model_dir(tmp_path / "m", context=64)
    engine = Engine.load(folder, overflow="sync")
    tokens = music("piano_mozart_k265_var1_quantized.mid", 300)
    engine.prefill(tokens[:10])
    for token in tokens[10:].tolist():
        logits = engine.step(token)
    assert engine.position == 300 and engine.window_start > 0
    assert engine.stats.slides >= 1 and np.isfinite(logits).all()


def test_a_batch_gives_each_row_the_logits_it_would_have_alone(tmp_path: Path) -> None:
    folder = make_tiny_hier_model_dir(tmp_path / "m")
    rows = np.stack([music(n, 60) for n in ("tempo_pop909_010.mid", "short_41_tracks_is_drum.mid")])
    batch = Engine.load(folder, batch=2, overflow="sync").prefill(rows)
    for i in range(2):
        alone = Engine.load(folder, overflow="sync").prefill(rows[i])
        np.testing.assert_allclose(batch[i], alone, atol=1e-5)


def test_a_flat_checkpoint_is_not_taken_for_a_hierarchical_one(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="checkpoint not found"):
        export_hierarchical(tmp_path / "missing.pt", tmp_path / "m")


@pytest.mark.slow
def test_train_export_generate_bench_end_to_end_through_the_cli(tmp_path: Path) -> None:
    """The issue's 'done when', on a fresh folder: every command a user runs, as they run it."""
    midi = tmp_path / "midi"
    midi.mkdir()
    for name in ("tempo_pop909_010.mid", "piano_mozart_k265_var1_quantized.mid"):
        (midi / name).write_bytes((TESTDATA / name).read_bytes())

    def livegen(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "livegen.cli", *args],
            cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    config = str(ROOT / "configs" / "train" / "hier-smoke.toml")
    livegen("train", "--config", config, "--data", str(midi), "--out", "R")  # prepared into R/data
    said = livegen("export", "--onnx", "R/checkpoint.pt", "-o", "M", "--verify")
    assert "greedy agreement 100.0%" in said
    livegen("export", "--onnx", "R/checkpoint.pt", "-o", "M8", "--precision", "int8", "--verify")
    assert "generated notes" in livegen("generate", "--model", "M", "-o", "out.mid", "--bars", "4")
    read_midi(tmp_path / "out.mid")
    flat_keys = json.loads(livegen("bench", "--model", "M", "--json", "--repeats", "40"))
    assert flat_keys["kind"] == "hierarchical" and not flat_keys["runtime_imported_torch"]
    assert set(flat_keys["ms_per_note"]) == {"64", "512", "2048"}
    assert {"decode_ms", "prefill_256_ms", "tokens_per_s", "rss_mb", "goals"} <= set(flat_keys)
