"""Fixtures shared by the generation tests: a hand-set tiny model with chord tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from livegen.tokenizer import TokenizerConfig, TokenKind, Vocab

WITH = TokenizerConfig(structure_tokens=True)
VOCAB = Vocab(WITH)


@pytest.fixture(scope="session")
def chord_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model whose tokenizer has CHORD tokens (real ONNX export), set by hand to like
    time shifts and C, E, G on and off equally and everything else not at all (a random one
    moves time too rarely to reach a bar line before it samples EOS)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from livegen.export.tiny import make_liking_model_dir

    liked = [*VOCAB.ids_of_kind(TokenKind.TIME_SHIFT)]
    liked += [VOCAB.note_on(p) for p in (60, 64, 67)] + [VOCAB.note_off(p) for p in (60, 64, 67)]
    folder = tmp_path_factory.mktemp("chords") / "m"
    return make_liking_model_dir(folder, liked, WITH.to_dict(), VOCAB.size)
