"""Growing a model's token rows onto a larger vocabulary whose first ids are its own.

`livegen train --init-from` a model made without CHORD tokens onto data prepared with them
(`structure_tokens`): the new vocabulary is the old one with tokens appended (tokenizer/vocab.py),
so every old row keeps its weights and the appended rows of the embedding and the output layer
start small and random, as a fresh model's would (std 0.02, the transformer's init). With tied
weights both names hold one tensor; the rows are drawn once per shape so they stay one.
"""

from __future__ import annotations

import torch

# State-dict entries indexed by token id in their first dimension.
TOKEN_ROW_SUFFIXES = ("tok_emb.weight", "lm_head.weight", "lm_head.bias")
INIT_STD = 0.02


def grow_token_rows(
    weights: dict[str, torch.Tensor], old_size: int, new_size: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """A copy of `weights` whose token-indexed tensors have `new_size` rows (old rows first)."""
    if new_size < old_size:
        raise ValueError(f"cannot shrink the vocabulary from {old_size} to {new_size}")
    generator = torch.Generator().manual_seed(seed)
    drawn: dict[tuple[int, ...], torch.Tensor] = {}
    grown = dict(weights)
    for name, tensor in weights.items():
        if not name.endswith(TOKEN_ROW_SUFFIXES) or tensor.shape[0] != old_size:
            continue
        tail = tuple(tensor.shape[1:])
        if tail not in drawn:
            shape = (new_size - old_size, *tail)
            drawn[tail] = torch.randn(shape, generator=generator) * INIT_STD
            if name.endswith("bias"):
                drawn[tail] = torch.zeros(shape)
        grown[name] = torch.cat([tensor.float(), drawn[tail].to(tensor.device)], dim=0)
    return grown
