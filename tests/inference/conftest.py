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
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from livegen.export.transformer_onnx import export_model_dir
    from livegen.train.models.transformer import ModelConfig, Transformer

    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=VOCAB.size, n_layer=1, n_head=2, d_model=32, d_ff=64, tie_weights=False
    )
    model = Transformer(config)
    liked = [*VOCAB.ids_of_kind(TokenKind.TIME_SHIFT)]
    liked += [VOCAB.note_on(p) for p in (60, 64, 67)] + [VOCAB.note_off(p) for p in (60, 64, 67)]
    with torch.no_grad():  # logits = lm_head(ln_f(x)) = lm_head(ones): 32 for liked, else 0
        model.ln_f.weight.zero_()
        model.ln_f.bias.fill_(1.0)
        model.lm_head.weight.zero_()
        model.lm_head.weight[liked] = 1.0
    folder, _ = export_model_dir(model, WITH.to_dict(), tmp_path_factory.mktemp("chords") / "m")
    return folder
