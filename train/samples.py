"""Sampling from a torch model (KV cache, grammar mask, the runtime's sampler) and writing MIDI.

Used for the sample files of a training run and the continuations of `livegen eval`; the live
path samples through onnxruntime instead (livegen.inference.engine, livegen.inference.sampler).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import torch

from livegen.inference.hold import CappedStream, HoldLimit
from livegen.inference.sampler import Sampler, SamplingParams
from livegen.tokenizer import Grammar, TokenizerConfig, Vocab, decode_tokens

from .models.hierarchical import HierarchicalTransformer, HierCache
from .models.transformer import KVCache, Transformer


@torch.no_grad()
def generate(
    model: Transformer | HierarchicalTransformer,
    prompt: Sequence[int],
    n_tokens: int,
    vocab: Vocab,
    *,
    temperature: float = 1.0,
    top_p: float = 0.95,
    seed: int = 0,
    stop_at_eos: bool = True,
    max_hold_beats: float = 0.0,
) -> list[int]:
    """The `n_tokens` (or fewer, at EOS or a full context) tokens sampled after `prompt`;
    `max_hold_beats` > 0 ends a note held that long (livegen.inference.hold)."""
    if not prompt:
        raise ValueError("prompt must hold at least one token (e.g. BOS)")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    grammar = Grammar(vocab)
    sampler = Sampler(seed)
    params = SamplingParams(temperature=temperature, top_p=top_p)
    context = model.config.context
    prompt = list(prompt)[-(context - 1) :]
    stream = CappedStream(HoldLimit(vocab, max_hold_beats), prompt)
    cache = HierCache(model) if isinstance(model, HierarchicalTransformer) else KVCache(model)
    logits = cache.feed(torch.tensor([prompt], device=device))[0, -1]
    out: list[int] = []
    prev = prompt[-1]
    while len(out) < n_tokens and cache.position < context:
        scores = logits.float().cpu().numpy()
        token = stream.next(
            grammar.mask_after(prev)[: scores.size],
            partial(sampler.sample, scores, params),
        )
        out.append(token)
        prev = token
        if stop_at_eos and token == vocab.eos:
            break
        if cache.position >= context:
            break
        logits = cache.feed(torch.tensor([[token]], device=device))[0, -1]
    model.train(was_training)
    return out


def write_sample(
    tokens: Sequence[int], path: str | Path, tokenizer: TokenizerConfig, tempo_bpm: float = 120.0
) -> Path:
    """Decode tokens and write them as a MIDI file (write_midi writes atomically)."""
    from livegen.tokenizer.midi_file import write_midi

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_midi(decode_tokens(tokens, tokenizer), path, tempo_bpm=tempo_bpm)
