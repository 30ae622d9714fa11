"""Training with KEY and CHORD tokens: windows drop them at random, transposition moves chord
roots, they are never loss targets, and --init-from grows a model made without CHORD tokens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import smoke_config
from livegen.train.checkpoint import load_checkpoint
from livegen.train.dataset import AugmentConfig, Augmenter, TrainBatches, structure_mask
from livegen.train.grow_vocab import grow_token_rows
from livegen.train.loop import default_checkpoint_path, train

from livegen.data.prepare import PrepareOptions, prepare
from livegen.data.shards import load_split
from livegen.music.chords import parse_chord
from livegen.tokenizer import TokenizerConfig, TokenKind, Vocab

WITH = TokenizerConfig(structure_tokens=True)
VOCAB = Vocab(WITH)
QUIET = {"run.sample_every": 0, "run.ngram_baseline": False, "optim.max_steps": 2}


@pytest.fixture(scope="module")
def prepared_with_chords(tmp_path_factory: pytest.TempPathFactory, midi_folder: Path) -> Path:
    out = tmp_path_factory.mktemp("prepared_chords")
    options = PrepareOptions(val_fraction=0.25, test_fraction=0.0, workers=1, progress=False)
    prepare(midi_folder, out, tokenizer=WITH, options=options)
    return out


def _batches(data: Path, drop: float) -> TrainBatches:
    return TrainBatches(
        load_split(data, "train"),
        WITH,
        seq_len=256,
        batch_size=64,
        seed=3,
        augment=None,
        structure_drop_probability=drop,
    )


def test_about_half_the_windows_lose_their_structure_tokens(prepared_with_chords: Path):
    is_structure = structure_mask(VOCAB)
    x, _ = _batches(prepared_with_chords, 0.5).batch(0)
    with_tokens = int(is_structure[x].any(axis=1).sum())
    assert 16 <= with_tokens <= 48  # of 64 windows, nearly all of which hold some
    x, _ = _batches(prepared_with_chords, 0.0).batch(0)
    assert is_structure[x].any(axis=1).sum() >= 56


def test_structure_tokens_are_never_targets(prepared_with_chords: Path) -> None:
    x, y = _batches(prepared_with_chords, 0.0).batch(1)
    is_structure = structure_mask(VOCAB)
    assert is_structure[x].any() and not is_structure[y].any()
    # the token after a CHORD input is still a target
    after = np.argwhere(VOCAB.kinds[x] == TokenKind.CHORD)
    assert all(y[r, c] != VOCAB.pad for r, c in after)


def test_structure_targets_keeps_them_as_targets_when_asked(prepared_with_chords: Path) -> None:
    batches = TrainBatches(
        load_split(prepared_with_chords, "train"),
        WITH,
        seq_len=256,
        batch_size=8,
        seed=3,
        augment=None,
        structure_targets=True,
    )
    x, y = batches.batch(1)
    assert structure_mask(VOCAB)[y].any() and np.array_equal(x[:, 1:], y[:, :-1])


def test_transposition_moves_chord_roots_with_the_notes() -> None:
    augmenter = Augmenter(VOCAB, AugmentConfig(transpose_semitones=12, velocity_scale=0.0))
    chords = [parse_chord(s) for s in ("C", "F#m7", "Bdim", "N")]
    window = np.array([VOCAB.chord(c) for c in chords] + [VOCAB.note_on(60)], dtype=np.int64)
    rng = np.random.default_rng(5)
    for _ in range(10):
        out = augmenter.transpose(window.copy(), np.zeros(window.size, bool), rng)
        shift = int(VOCAB.args[out[-1]]) - 60
        for chord, token in zip(chords, out[:4], strict=False):
            moved = (
                chord
                if chord.root is None
                else type(chord)((chord.root + shift) % 12, chord.quality)
            )
            assert VOCAB.name(token) == VOCAB.name(VOCAB.chord(moved))


def test_growing_keeps_the_old_rows_and_adds_small_ones_tied_as_before() -> None:
    emb = torch.randn(10, 4)
    weights = {"tok_emb.weight": emb, "lm_head.weight": emb, "blocks.0.w": torch.randn(10, 4)}
    grown = grow_token_rows(weights, 10, 13)
    assert grown["tok_emb.weight"].shape == (13, 4)
    assert torch.equal(grown["tok_emb.weight"][:10], emb)
    assert torch.equal(grown["tok_emb.weight"], grown["lm_head.weight"])
    assert grown["tok_emb.weight"][10:].abs().max() < 0.2
    assert grown["blocks.0.w"] is weights["blocks.0.w"]  # not token-indexed by name


def test_the_shipped_model_fine_tunes_on_chord_data_and_runs_in_the_engine(
    prepared_with_chords: Path, tmp_path: Path, capsys
) -> None:
    # The shipped model was itself grown onto the CHORD tokens (issue 10's run): its vocabulary
    # is the data's, so nothing grows; the growing is specified by the test above.
    pytest.importorskip("onnx")
    from livegen.export.transformer_onnx import export_checkpoint

    from livegen.inference.engine import Engine

    if not default_checkpoint_path().is_file():
        pytest.skip("no shipped default checkpoint in livegen/assets/models/default")
    shipped = load_checkpoint(default_checkpoint_path())
    assert shipped["model_config"]["vocab_size"] == VOCAB.size
    config = smoke_config(prepared_with_chords, tmp_path / "run", **QUIET, **{"optim.lr": 1e-4})
    train(config, init_from="default")
    assert "vocabulary grown" not in capsys.readouterr().err
    tuned = load_checkpoint(tmp_path / "run")
    assert tuned["model_config"]["vocab_size"] == VOCAB.size
    assert tuned["tokenizer"]["structure_tokens"] is True
    rows = tuned["model"]["tok_emb.weight"].float()
    before = shipped["model"]["tok_emb.weight"].float()
    assert (rows - before).abs().max() < 0.01  # two small steps from the shipped rows
    folder, _ = export_checkpoint(tmp_path / "run" / "checkpoint.pt", tmp_path / "model")
    engine = Engine.load(folder)
    logits = engine.prefill([VOCAB.bos, VOCAB.bar, VOCAB.chord(parse_chord("C"))])
    assert logits.shape == (VOCAB.size,) and np.isfinite(logits).all()
