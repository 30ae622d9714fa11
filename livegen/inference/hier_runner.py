"""The hierarchical model's runner: two onnxruntime graphs, two caches, the flat runner's contract.

A hierarchical model folder (export/hierarchical_onnx.py) holds `event.onnx` (closed events in,
their hidden states and event-level keys/values out) and `token.onnx` (the previous event's
hidden state + the current event's tokens in, logits and token-level keys/values out). This
runner gives them the interface of engine.CacheRunner, so the Engine's prefill, step, rollback
and window slides work unchanged:

- `feed(tokens (B, T))` groups the tokens into events (livegen.tokenizer.event_groups, the
  rules saved in model.toml), closes every event a new token opens (all of them in one event
  run), then runs the open event's new tokens through the token graph. It returns the logits of
  the tokens it ran through the token graph: always the last one, which is all the engine
  reads (a prefill does not decode every token it closes into an event).
- `rollback(position)` keeps the events closed before the event that holds token position-1
  (O(1): a shorter prefix of the event cache); that event's few kept tokens (at most
  max_event_tokens) run through the token graph again with the next feed, in the same run.
- `context` counts tokens: a token opens at most one event, so `context` tokens never overflow
  the event cache, whatever the music.

Batches run row by row (rows group differently), each row with its own caches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from livegen.inference.model_dir import ModelInfo
from livegen.tokenizer.event_groups import EventRules

EVENT_GRAPH = "event.onnx"
TOKEN_GRAPH = "token.onnx"


def _event_kv_dim(model: dict[str, Any]) -> int:
    """Event cache width per position: key/value heads x head size (multi-query aware)."""
    n_head = int(model["n_head"])
    return (int(model.get("n_kv_head", 0)) or n_head) * (int(model["d_model"]) // n_head)


class _Row:
    """One batch row: its event cache, token cache, hidden states and grouping."""

    def __init__(self, runner: HierRunner) -> None:
        m = runner.info.model
        self.runner = runner
        ev_shape = (int(m["n_layer"]), runner.context, _event_kv_dim(m))
        tok_shape = (int(m["token_layers"]), runner.rules.max_tokens, int(m["token_d_model"]))
        dtype = runner.dtype
        self.ev_k, self.ev_v = np.zeros(ev_shape, dtype), np.zeros(ev_shape, dtype)
        self.tok_k, self.tok_v = np.zeros(tok_shape, dtype), np.zeros(tok_shape, dtype)
        self.hidden = np.zeros((runner.context + 1, int(m["d_model"])), dtype)  # [e] = h_{e-1}
        self.tokens = np.zeros(runner.context, dtype=np.int64)
        self.event_of = np.zeros(runner.context, dtype=np.int64)  # event index of each token
        self.natural = np.zeros(runner.context, dtype=np.int64)  # natural offset of each token
        self.position = 0
        self.events = 0  # closed events
        self.event_start = 0  # first token of the open event
        self.in_token_cache = 0  # tokens of the open event already in the token cache

    def feed(self, tokens: np.ndarray) -> np.ndarray:
        """tokens (T,) -> logits (t, V) of the last t of them (see the module docstring)."""
        rules = self.runner.rules
        p = self.position
        if p + len(tokens) > self.runner.context:
            raise ValueError(f"cache full: {p + len(tokens)} > context {self.runner.context}")
        closed: list[np.ndarray] = []
        for i, token in enumerate(tokens.tolist()):
            at = p + i
            if at == 0 or (rules.opening[token] and not rules.binding[self.tokens[at - 1]]):
                natural = 0
            else:
                natural = int(self.natural[at - 1]) + 1
            self.tokens[at] = token
            self.natural[at] = natural
            if natural % rules.max_tokens == 0 and at > self.event_start:
                closed.append(self.tokens[self.event_start : at].copy())
                self.event_start = at
                self.in_token_cache = 0
            self.event_of[at] = self.events + len(closed)
        self.position = p + len(tokens)
        if closed:
            self._close(closed)
        return self._decode(self.tokens[self.event_start + self.in_token_cache : self.position])

    def _close(self, events: list[np.ndarray]) -> None:
        pad = self.runner.pad_id
        width = max(len(e) for e in events)
        block = np.full((1, len(events), width), pad, dtype=np.int64)
        for n, event in enumerate(events):
            block[0, n, : len(event)] = event
        e = self.events
        feeds: dict[str, Any] = {"event_tokens": block}
        for layer in range(self.ev_k.shape[0]):
            feeds[f"past_k_{layer}"] = self.ev_k[layer, :e]
            feeds[f"past_v_{layer}"] = self.ev_v[layer, :e]
        hidden, new_k, new_v = self.runner.event_session.run(None, feeds)
        end = e + len(events)
        self.ev_k[:, e:end] = new_k
        self.ev_v[:, e:end] = new_v
        self.hidden[e + 1 : end + 1] = hidden[0]
        self.events = end

    def _decode(self, tokens: np.ndarray) -> np.ndarray:
        j = self.in_token_cache
        feeds: dict[str, Any] = {
            "hidden": self.hidden[self.events][None, :],
            "tokens": np.ascontiguousarray(tokens[None, :], dtype=np.int64),
        }
        for layer in range(self.tok_k.shape[0]):
            feeds[f"past_k_{layer}"] = self.tok_k[layer, :j]
            feeds[f"past_v_{layer}"] = self.tok_v[layer, :j]
        logits, new_k, new_v = self.runner.token_session.run(None, feeds)
        end = j + len(tokens)
        self.tok_k[:, j:end] = new_k
        self.tok_v[:, j:end] = new_v
        self.in_token_cache = end
        return logits[0]

    def rollback(self, position: int) -> None:
        """Keep tokens 0..position-1: the events closed before the one holding token position-1
        stay cached; that event's kept tokens go through the token graph again with the next
        feed (lazily, in the same run as the new tokens)."""
        self.position = position
        self.in_token_cache = 0
        if position == 0:
            self.events = self.event_start = 0
            return
        self.events = int(self.event_of[position - 1])
        start = position - 1
        while start > 0 and self.event_of[start - 1] == self.events:
            start -= 1
        self.event_start = start


class HierRunner:
    """engine.CacheRunner's contract (feed, rollback, position, context) for a hierarchical
    model folder, over its event and token sessions."""

    def __init__(
        self,
        info: ModelInfo,
        event_session: ort.InferenceSession,
        token_session: ort.InferenceSession,
        batch: int = 1,
    ) -> None:
        m = info.model
        self.info = info
        self.event_session = event_session
        self.token_session = token_session
        self.context = info.context
        self.batch = batch
        self.pad_id = int(m.get("pad_id", 0))
        self.rules = EventRules.from_fields(
            m["opening_ids"], m["binding_ids"], int(m["vocab_size"]), int(m["max_event_tokens"])
        )
        half = token_session.get_inputs()[0].type == "tensor(float16)"
        self.dtype = np.float16 if half else np.float32
        self._rows = [_Row(self) for _ in range(batch)]

    @property
    def position(self) -> int:
        return self._rows[0].position

    def feed(self, tokens: np.ndarray) -> np.ndarray:
        """tokens (B, T) at the current position -> logits (B, t, vocab) of the last t tokens."""
        outs = [row.feed(np.asarray(tokens[b], dtype=np.int64)) for b, row in enumerate(self._rows)]
        count = min(len(o) for o in outs)
        return np.stack([o[-count:] for o in outs]).astype(np.float32, copy=False)

    def rollback(self, position: int) -> None:
        if not 0 <= position <= self.position:
            raise ValueError(f"cannot roll back to {position}; the cache holds 0..{self.position}")
        for row in self._rows:
            row.rollback(position)


def graph_paths(folder: Path) -> tuple[Path, Path]:
    """The event graph and the token graph of a hierarchical model folder."""
    return folder / EVENT_GRAPH, folder / TOKEN_GRAPH
