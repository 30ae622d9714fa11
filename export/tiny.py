"""A tiny random model folder for tests: real tokenizer vocabulary, real ONNX export, no training.

The daemon's and engine's tests use it so that they need neither a trained model nor a GPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from livegen.export.transformer_onnx import export_model_dir
from livegen.train.models.transformer import ModelConfig, Transformer


def runtime_tokenizer() -> tuple[int, dict[str, Any]]:
    """The runtime tokenizer's vocabulary size and the record a checkpoint stores for it."""
    from livegen.tokenizer import TokenizerConfig, Vocab

    config = TokenizerConfig()
    return Vocab(config).size, config.to_dict()


def make_tiny_model_dir(
    path: str | Path,
    position: str = "rope",
    vocab_size: int | None = None,
    context: int = 512,
    block: str = "sequential",
    seed: int = 0,
) -> Path:
    """Export a random 2-layer, d=64 model to `path` and return the folder.

    vocab_size defaults to the real tokenizer's, and model.toml records the real tokenizer, so
    `Engine.load(path)` passes its compatibility check.
    """
    real_vocab, tokenizer = runtime_tokenizer()
    torch.manual_seed(seed)
    config = ModelConfig(
        vocab_size=vocab_size or real_vocab,
        n_layer=2,
        n_head=2,
        d_model=64,
        d_ff=128,
        context=context,
        position=position,
        block=block,
    )
    folder, _ = export_model_dir(Transformer(config), tokenizer, path)
    return folder


def make_liking_model_dir(
    path: str | Path, liked: list[int], tokenizer: dict[str, Any], vocab_size: int
) -> Path:
    """A 1-layer model set by hand to give the `liked` token ids equal probability and every
    other token almost none, whatever the context: logits = lm_head(ln_f(x)) with ln_f's weight
    zero and bias one is lm_head's row sums, 32 for a liked token and 0 for the rest.

    Tests of generation under constraints use it: a random model moves time too rarely to reach
    a bar line before it samples EOS, and a trained one takes hours. `tokenizer` is the record a
    checkpoint stores (`TokenizerConfig.to_dict()`), `vocab_size` that tokenizer's vocabulary.
    """
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=vocab_size, n_layer=1, n_head=2, d_model=32, d_ff=64, tie_weights=False
    )
    model = Transformer(config)
    with torch.no_grad():
        model.ln_f.weight.zero_()
        model.ln_f.bias.fill_(1.0)
        model.lm_head.weight.zero_()
        model.lm_head.weight[liked] = 1.0
    folder, _ = export_model_dir(model, tokenizer, path)
    return folder


def make_tiny_hier_model_dir(
    path: str | Path, context: int = 512, seed: int = 0, precision: str = "fp32"
) -> Path:
    """A random hierarchical model folder (2 event layers of d=64, 1 token layer of d=32)."""
    from livegen.export.hierarchical_onnx import export_model_dir as export_hier
    from livegen.train.models.hierarchical import HierarchicalTransformer, HierConfig
    from livegen.train.models.hierarchical import vocab_fields as hier_vocab_fields

    from livegen.tokenizer import TokenizerConfig, Vocab

    _, tokenizer = runtime_tokenizer()
    vocab = Vocab(TokenizerConfig())
    torch.manual_seed(seed)
    config = HierConfig(
        vocab_size=vocab.size, pad_id=vocab.pad, n_layer=2, n_head=2, d_model=64, d_ff=128,
        context=context, token_layers=1, token_heads=2, token_d_model=32, token_d_ff=64,
        max_event_tokens=8, **hier_vocab_fields(vocab),
    )  # fmt: skip
    folder, _ = export_hier(HierarchicalTransformer(config), tokenizer, Path(path), precision)
    return folder
