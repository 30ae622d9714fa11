"""An exported model folder scored and sampled through the runtime's engine (onnxruntime), so
`livegen eval --model FOLDER` measures exactly what `serve` runs."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import numpy as np

from livegen.data.progress import progress_bar
from livegen.tokenizer import Vocab


class EngineModel:
    """An exported model folder, scored and sampled through onnxruntime (inference.engine)."""

    def __init__(self, path: str | Path) -> None:
        from livegen.inference.engine import Engine

        self.engine = Engine.load(path, overflow="sync")
        self.context = self.engine.context
        self.tokenizer = dict(self.engine.tokenizer_config)

    def score(
        self, tokens: np.ndarray, offsets: np.ndarray, progress: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Token by token through the KV cache (the engine slides its window past the context):
        NLL, correctness and confidence (the top token's probability) of each target."""
        nll, hits, confidence = [], [], []
        bar = progress_bar(len(offsets) - 1, "score", enabled=progress)
        for d in range(len(offsets) - 1):
            doc = tokens[offsets[d] : offsets[d + 1]].tolist()
            if len(doc) < 2:
                bar.update()
                continue
            self.engine.reset()
            logits = self.engine.prefill([doc[0]])
            for target in doc[1:]:
                logp = logits - _logsumexp(logits)
                nll.append(-float(logp[target]))
                top = int(np.argmax(logits))
                hits.append(top == target)
                confidence.append(math.exp(float(logp[top])))
                logits = self.engine.step(target)
            bar.update()
        bar.close()
        return np.asarray(nll), np.asarray(hits, dtype=bool), np.asarray(confidence)

    def generate(
        self,
        prompt: list[int],
        n_tokens: int,
        vocab: Vocab,
        seed: int,
        max_hold_beats: float = 0.0,
        temperature: float = 1.0,
    ) -> list[int]:
        from livegen.inference.hold import CappedStream, HoldLimit
        from livegen.inference.sampler import Sampler, SamplingParams
        from livegen.tokenizer import Grammar

        grammar = Grammar(vocab)
        sampler = Sampler(seed)
        params = SamplingParams(temperature=temperature, top_p=0.95)
        stream = CappedStream(HoldLimit(vocab, max_hold_beats), prompt)
        self.engine.reset()
        logits = self.engine.prefill(prompt)
        out: list[int] = []
        prev = prompt[-1]
        while len(out) < n_tokens:
            token = stream.next(grammar.mask_after(prev), partial(sampler.sample, logits, params))
            out.append(token)
            if token == vocab.eos:
                break
            prev = token
            logits = self.engine.step(token)
        return out


def _logsumexp(x: np.ndarray) -> float:
    top = float(np.max(x))
    return top + float(np.log(np.exp(x.astype(np.float64) - top).sum()))
