"""The hierarchical event/token transformer: a long model over events, a short one over tokens.

Tokens are grouped into events by livegen.tokenizer.event_groups (a note with its velocity, its
releases and the time after it is one event). Two transformers, both built from the flat model's
`Block` with rotary positions (transformer.py):
- the **event transformer** runs once per event, over one embedding per event: the sum of the
  event's token embeddings (rotary position = event index). Its output h_e summarises events
  0..e;
- the **token transformer** decodes event f's tokens one by one. Its sequence is a projection
  of h_{f-1} (zero for the first event of a window) as position 0, then the embeddings of event
  f's tokens; its output at token j predicts the next token: token j+1 of event f, or, if that
  token opens an event, the first token of event f+1. (The state is a position of its own, as
  in SkyTNT's midi-model: added to every token embedding instead, a still-random event state
  drowned the tokens' identity and training stalled near the unigram loss.)

So every token is predicted from exactly the tokens before it (events 0..f-1 through h_{f-1},
event f directly): the loss is the same next-token NLL as the flat model's, per token and per
note. The long context is paid once per event instead of once per token.

Two ways to run it, as for the flat model:
- `forward(idx, targets)`: a whole window (training, evaluation); logits (B, T, V);
- `event_step` (one or more closed events -> their hidden states and event k/v rows) and
  `token_step` (hidden state + tokens of the current event -> logits, token k/v rows), with
  caches passed in as prefixes of preallocated buffers. These two functions are the two ONNX
  graphs of export/hierarchical_onnx.py. `HierCache` drives them for PyTorch generation and
  rolls back to any token position.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from livegen.errors import ConfigError
from livegen.tokenizer.event_groups import EventRules, EventTracker

from .transformer import Block, ModelConfig, rope_tables


@dataclass(frozen=True)
class HierConfig:
    """Shape of both levels; the event level keeps the flat model's field names (n_layer,
    d_model, context in events, ...) so model.toml readers find them where they expect."""

    vocab_size: int = 512
    pad_id: int = 0
    # the event transformer
    n_layer: int = 4
    n_head: int = 4
    n_kv_head: int = 0
    d_model: int = 256
    d_ff: int = 1024
    context: int = 1024  # events
    # the token transformer (context = max_event_tokens + 1: the event state comes first)
    token_layers: int = 1
    token_heads: int = 2
    token_d_model: int = 128
    token_d_ff: int = 256
    max_event_tokens: int = 16
    dropout: float = 0.0
    tie_weights: bool = True
    bias: bool = False
    rope_base: float = 10000.0
    # the grouping rules as token ids (filled from the tokenizer, see event_groups.EventRules)
    opening_ids: tuple[int, ...] = ()
    binding_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        for name in ("token_layers", "token_heads", "token_d_model", "token_d_ff"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.max_event_tokens < 2:
            problems.append("max_event_tokens must be >= 2")
        if self.token_heads >= 1 and self.token_d_model % self.token_heads:
            problems.append(
                f"token_d_model {self.token_d_model} not divisible by token_heads "
                f"{self.token_heads}"
            )
        if problems:
            raise ConfigError("model config: " + "; ".join(problems))
        self.event_config()  # the flat config's own checks (widths, heads, dropout)
        self.token_config()

    def event_config(self) -> ModelConfig:
        return ModelConfig(
            vocab_size=self.vocab_size,
            n_layer=self.n_layer,
            n_head=self.n_head,
            n_kv_head=self.n_kv_head,
            d_model=self.d_model,
            d_ff=self.d_ff,
            context=self.context,
            dropout=self.dropout,
            bias=self.bias,
            pad_id=self.pad_id,
            rope_base=self.rope_base,
        )

    def token_config(self) -> ModelConfig:
        return ModelConfig(
            vocab_size=self.vocab_size,
            n_layer=self.token_layers,
            n_head=self.token_heads,
            d_model=self.token_d_model,
            d_ff=self.token_d_ff,
            context=self.max_event_tokens + 1,
            dropout=self.dropout,
            bias=self.bias,
            pad_id=self.pad_id,
            rope_base=self.rope_base,
        )

    def rules(self) -> EventRules:
        if not self.opening_ids:
            raise ConfigError("hierarchical model config has no opening_ids (event grouping)")
        return EventRules.from_fields(
            self.opening_ids, self.binding_ids, self.vocab_size, self.max_event_tokens
        )


def vocab_fields(vocab) -> dict[str, tuple[int, ...]]:
    """The [model] fields a hierarchical model takes from the tokenizer (its event rules)."""
    return EventRules.from_vocab(vocab, 2).to_fields()


class HierarchicalTransformer(nn.Module):
    def __init__(self, config: HierConfig) -> None:
        super().__init__()
        self.config = config
        ev, tok = config.event_config(), config.token_config()
        rules = config.rules()
        self.register_buffer("opening", torch.from_numpy(rules.opening), persistent=False)
        self.register_buffer("binding", torch.from_numpy(rules.binding), persistent=False)
        # the pad row stays zero: padded slots of an event add nothing to its sum
        self.event_emb = nn.Embedding(config.vocab_size, ev.d_model, padding_idx=config.pad_id)
        self.event_blocks = nn.ModuleList(Block(ev) for _ in range(ev.n_layer))
        self.event_ln = nn.LayerNorm(ev.d_model)
        self.cond = nn.Linear(ev.d_model, tok.d_model, bias=config.bias)
        self.tok_emb = nn.Embedding(config.vocab_size, tok.d_model)
        self.token_blocks = nn.ModuleList(Block(tok) for _ in range(tok.n_layer))
        self.ln_f = nn.LayerNorm(tok.d_model)
        self.lm_head = nn.Linear(tok.d_model, config.vocab_size, bias=False)
        self.drop = nn.Dropout(config.dropout)
        if config.tie_weights:
            self.lm_head.weight = self.tok_emb.weight
        for name, table in (("event", rope_tables(ev)), ("token", rope_tables(tok))):
            self.register_buffer(f"{name}_cos", table[0], persistent=False)
            self.register_buffer(f"{name}_sin", table[1], persistent=False)
        self.apply(self._init_weights)
        for name, param in self.named_parameters():
            if name.endswith(("proj.weight", "down.weight")):
                depth = ev.n_layer if name.startswith("event") else tok.n_layer
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * depth))
        with torch.no_grad():
            self.event_emb.weight[config.pad_id].zero_()

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # --- grouping --------------------------------------------------------------------------
    def offsets(self, idx: torch.Tensor) -> torch.Tensor:
        """Offset of each token in its event, (B, T); torch twin of EventRules.offsets."""
        B, T = idx.shape
        index = torch.arange(T, device=idx.device).expand(B, T)
        natural = torch.ones_like(idx, dtype=torch.bool)
        natural[:, 1:] = self.opening[idx[:, 1:]] & ~self.binding[idx[:, :-1]]
        starts = torch.where(natural, index, torch.zeros_like(index)).cummax(dim=1).values
        return (index - starts) % self.config.max_event_tokens

    # --- whole windows ---------------------------------------------------------------------
    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) -> logits (B, T, V) for the token after each; loss as the flat model's."""
        B, T = idx.shape
        offset = self.offsets(idx)  # (B, T)
        event = (offset == 0).long().cumsum(dim=1) - 1  # (B, T): event index of each token
        n_events = int(event.max()) + 1
        if n_events > self.config.context:
            raise ValueError(f"{n_events} events exceed the context of {self.config.context}")
        d_e = self.config.d_model
        sums = torch.zeros(B, n_events, d_e, device=idx.device, dtype=self.event_emb.weight.dtype)
        sums = sums.scatter_add(1, event.unsqueeze(-1).expand(B, T, d_e), self.event_emb(idx))
        hidden = self._events(sums, 0)  # (B, E, d_e)
        # event f is decoded from h_{f-1}; the window's first event from zeros
        before = torch.cat([torch.zeros_like(hidden[:, :1]), hidden[:, :-1]], dim=1)
        # lay the decoder out as (B*E, L): one row per event, its state at position 0 and its
        # tokens at 1.. (their offset + 1)
        L = int(offset.max()) + 2
        d_t = self.config.token_d_model
        rows = torch.zeros(B, n_events, L, d_t, device=idx.device, dtype=self.tok_emb.weight.dtype)
        rows[:, :, 0] = self.cond(before)
        rows = rows.reshape(B * n_events * L, d_t)
        slot = (torch.arange(B, device=idx.device).view(B, 1) * n_events + event) * L + offset + 1
        rows = rows.index_put((slot.reshape(-1),), self.tok_emb(idx).reshape(B * T, -1))
        h = self.drop(rows.view(B * n_events, L, d_t))
        cos, sin = self.token_cos[:L], self.token_sin[:L]
        for block in self.token_blocks:
            h = block(h, cos, sin)
        out = h.reshape(B * n_events * L, -1)[slot.reshape(-1)].view(B, T, -1)
        logits = self.lm_head(self.ln_f(out))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                targets.reshape(-1),
                ignore_index=self.config.pad_id,
            )
        return logits, loss

    def _events(self, sums: torch.Tensor, start: int) -> torch.Tensor:
        """Full causal pass of the event transformer over event sums (B, E, d) from `start`."""
        E = sums.shape[1]
        cos, sin = self.event_cos[start : start + E], self.event_sin[start : start + E]
        x = self.drop(sums)
        for block in self.event_blocks:
            x = block(x, cos, sin)
        return self.event_ln(x)

    # --- cached steps (the two exported graphs) --------------------------------------------
    def event_step(
        self,
        event_tokens: torch.Tensor,
        past_k: Sequence[torch.Tensor],
        past_v: Sequence[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """event_tokens (B, N, L): N closed events after a past of P events, padded with PAD.

        Returns their hidden states (B, N, d_e) and the new event keys/values
        (n_layer, N, B*kv_dim) for the caller to store at rows P..P+N-1.
        """
        N = event_tokens.shape[1]
        positions = past_k[0].shape[0] + torch.arange(N, device=event_tokens.device)
        x = self.event_emb(event_tokens).sum(dim=2)  # (B, N, d_e)
        cos, sin = self.event_cos[positions], self.event_sin[positions]
        new_k, new_v = [], []
        for layer, block in enumerate(self.event_blocks):
            x, k, v = block.forward_cached(x, positions, past_k[layer], past_v[layer], cos, sin)
            new_k.append(k)
            new_v.append(v)
        return self.event_ln(x), torch.stack(new_k), torch.stack(new_v)

    def token_step(
        self,
        hidden: torch.Tensor,
        tokens: torch.Tensor,
        past_k: Sequence[torch.Tensor],
        past_v: Sequence[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """hidden (B, d_e) = h_{f-1}; tokens (B, T) of event f after P of its tokens.

        The state's own position (0) is recomputed from `hidden` in every call, one position
        through the small decoder, so the cache holds only the event's tokens and the graph has
        no branch for an event's first call. Returns logits (B, T, V) and the new token
        keys/values (token_layers, T, B*kv_dim).
        """
        T = tokens.shape[1]
        positions = 1 + past_k[0].shape[0] + torch.arange(T, device=tokens.device)
        state = self.cond(hidden).unsqueeze(1)  # (B, 1, d_t) at position 0
        x = self.tok_emb(tokens)
        zero = positions[:1] * 0
        cos0, sin0 = self.token_cos[zero], self.token_sin[zero]
        cos, sin = self.token_cos[positions], self.token_sin[positions]
        none = past_k[0][:0]  # (0, B*kv_dim): the state attends to itself only
        new_k, new_v = [], []
        for layer, block in enumerate(self.token_blocks):
            state, k0, v0 = block.forward_cached(state, zero, none, none, cos0, sin0)
            past_k_l = torch.cat([k0, past_k[layer]])
            past_v_l = torch.cat([v0, past_v[layer]])
            x, k, v = block.forward_cached(x, positions, past_k_l, past_v_l, cos, sin)
            new_k.append(k)
            new_v.append(v)
        return self.lm_head(self.ln_f(x)), torch.stack(new_k), torch.stack(new_v)


class HierCache:
    """Both caches for PyTorch decoding (batch 1), with KVCache's feed/rollback contract.

    The event cache holds the closed events; the token cache the current event's tokens. A
    token that opens an event first closes the current one (one event step), then starts an
    empty token cache. Rolling back to a token position regroups the kept tokens, moves the
    event cache back to their closed events (O(1)) and re-feeds the open event's few tokens.
    """

    def __init__(self, model: HierarchicalTransformer) -> None:
        c = model.config
        ev, tok = c.event_config(), c.token_config()
        param = next(model.parameters())
        self.model = model
        self.rules = c.rules()
        like = {"dtype": param.dtype, "device": param.device}
        self.device = param.device
        self.ev_k = torch.zeros(ev.n_layer, ev.context, ev.kv_dim, **like)
        self.ev_v = torch.zeros_like(self.ev_k)
        self.tok_k = torch.zeros(tok.n_layer, tok.context, tok.kv_dim, **like)
        self.tok_v = torch.zeros_like(self.tok_k)
        self.hidden = torch.zeros(ev.context + 1, ev.d_model, **like)  # [e] = h_{e-1}
        self.tokens: list[int] = []
        self.events = 0  # closed events in the cache
        self.event_start = 0  # token position where the open event began
        self.tracker = EventTracker(self.rules)

    @property
    def position(self) -> int:
        return len(self.tokens)

    @torch.no_grad()
    def feed(self, idx: torch.Tensor) -> torch.Tensor:
        """Run idx (1, T) at the current position; returns logits (1, T, V)."""
        if idx.shape[1] == 0:
            return torch.zeros(1, 0, self.model.config.vocab_size, device=self.device)
        return torch.cat([self._feed_one(int(t)) for t in idx[0].tolist()], dim=1)

    def _feed_one(self, token: int) -> torch.Tensor:
        if self.tracker.opens(token) and len(self.tokens) > self.event_start:
            self._close_event()
        self.tokens.append(token)
        j = len(self.tokens) - 1 - self.event_start
        logits, k, v = self.model.token_step(
            self.hidden[self.events].view(1, -1),
            torch.tensor([[token]], device=self.device),
            self.tok_k[:, :j],
            self.tok_v[:, :j],
        )
        self.tok_k[:, j : j + 1] = k
        self.tok_v[:, j : j + 1] = v
        return logits

    def _close_event(self) -> None:
        e = self.events
        if e >= self.model.config.context:
            raise ValueError(f"cache full: {e + 1} events > context {self.model.config.context}")
        event = torch.tensor([[self.tokens[self.event_start :]]], device=self.device)  # (1,1,L)
        hidden, k, v = self.model.event_step(event, self.ev_k[:, :e], self.ev_v[:, :e])
        self.ev_k[:, e : e + 1] = k
        self.ev_v[:, e : e + 1] = v
        self.hidden[e + 1] = hidden[0, 0]
        self.events = e + 1
        self.event_start = len(self.tokens)

    def rollback(self, position: int) -> None:
        """Forget every token from `position` on."""
        if not 0 <= position <= self.position:
            raise ValueError(f"cannot roll back to {position}; cache holds 0..{self.position}")
        kept = self.tokens[:position]
        offsets = self.rules.offsets(np.asarray(kept, dtype=np.int64)) if kept else []
        starts = [i for i, offset in enumerate(offsets) if offset == 0]
        self.events = max(len(starts) - 1, 0)
        self.event_start = starts[-1] if starts else 0
        self.tokens = kept[: self.event_start]
        self.tracker.restart(np.asarray(self.tokens, dtype=np.int64))
        if self.event_start < position:
            self.feed(torch.tensor([kept[self.event_start :]], device=self.device))
