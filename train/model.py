"""The decoder-only transformer: one file, nanoGPT style, with the field's variants as options.

Options (see `ModelConfig`):
- position: `rope` (rotary, GPT-NeoX rotate-half), `learned` (absolute, GPT-2) or `relative`
  (Music Transformer relative self-attention; the full pass uses the memory-efficient "skew",
  the cached pass gathers the relative logits of each query row directly);
- block: `sequential` (pre-norm, attention then MLP) or `parallel` (GPT-J: attention and MLP
  read the same normalised input and are summed into the residual);
- weight tying, dropout, PyTorch SDPA on the full pass.

Two ways to run it:
- `forward(idx, targets)` - the whole sequence at once (training, evaluation);
- `forward_cached(idx, start, past_k, past_v)` - T new tokens at positions start..start+T-1
  against a preallocated, read-only cache of keys/values; returns the new keys/values so the
  caller writes them into the cache at those positions (gpt-fast style fixed buffer). Rolling
  back is just decoding from an earlier `start`: cache entries at or beyond `start` are masked.
  This exact function is what `livegen.export` turns into the ONNX graph, so the torch and
  onnxruntime paths share one definition. `KVCache` wraps it for PyTorch generation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from livegen.errors import ConfigError

POSITIONS = ("rope", "learned", "relative")
BLOCKS = ("sequential", "parallel")


@dataclass(frozen=True)
class ModelConfig:
    """Shape and variant of the transformer; saved in checkpoints and model.toml."""

    vocab_size: int = 512
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 256
    d_ff: int = 1024
    context: int = 1024  # maximum sequence length (positions 0..context-1)
    position: str = "rope"
    block: str = "sequential"
    dropout: float = 0.0
    tie_weights: bool = True
    bias: bool = False  # biases in Linear layers (LayerNorm always has one)
    pad_id: int = 0  # targets equal to this are ignored by the loss
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        problems = []
        if self.position not in POSITIONS:
            problems.append(f"position {self.position!r} not one of {', '.join(POSITIONS)}")
        if self.block not in BLOCKS:
            problems.append(f"block {self.block!r} not one of {', '.join(BLOCKS)}")
        if self.d_model % self.n_head:
            problems.append(f"d_model {self.d_model} not divisible by n_head {self.n_head}")
        elif self.position == "rope" and (self.d_model // self.n_head) % 2:
            problems.append("rope needs an even head size")
        for name in ("vocab_size", "n_layer", "n_head", "d_model", "d_ff", "context"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout {self.dropout} not in [0, 1)")
        if problems:
            raise ConfigError("model config: " + "; ".join(problems))

    @property
    def head_size(self) -> int:
        return self.d_model // self.n_head


def rope_tables(config: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin for every position, rotate-half layout: each (context, head_size)."""
    hs = config.head_size
    inv_freq = 1.0 / (config.rope_base ** (torch.arange(0, hs, 2, dtype=torch.float32) / hs))
    angles = torch.outer(torch.arange(config.context, dtype=torch.float32), inv_freq)  # (L, hs/2)
    angles = torch.cat([angles, angles], dim=-1)  # (L, hs)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (B, nh, T, hs) by the angles of its positions; cos/sin are (T, hs)."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


def skew(rel_logits: torch.Tensor) -> torch.Tensor:
    """Music Transformer skew: (B, nh, T, T) logits by distance -> logits by key position.

    Input column c holds distance c - (T-1); output [i, j] holds distance i - j for j <= i
    (entries above the diagonal are garbage and must be masked by the caller).
    """
    B, nh, T, _ = rel_logits.shape
    padded = F.pad(rel_logits, (1, 0))  # (B, nh, T, T+1)
    return padded.reshape(B, nh, T + 1, T)[:, :, 1:, :]  # (B, nh, T, T)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=config.bias)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        if config.position == "relative":
            # Er: one embedding per head and distance; index L-1-d holds distance d = 0..L-1.
            self.rel = nn.Parameter(
                torch.randn(config.n_head, config.context, config.head_size) * 0.02
            )

    def _split_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, T, _ = x.shape
        nh, hs = self.config.n_head, self.config.head_size
        q, k, v = self.qkv(x).split(self.config.d_model, dim=2)
        return (
            q.view(B, T, nh, hs).transpose(1, 2),  # (B, nh, T, hs)
            k.view(B, T, nh, hs).transpose(1, 2),
            v.view(B, T, nh, hs).transpose(1, 2),
        )

    def _merge_heads(self, y: torch.Tensor) -> torch.Tensor:
        B, _, T, _ = y.shape
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(B, T, self.config.d_model)))

    def forward(self, x: torch.Tensor, cos: torch.Tensor | None, sin: torch.Tensor | None):
        """Full causal pass over x (B, T, d)."""
        T = x.shape[1]
        q, k, v = self._split_heads(x)
        if cos is not None:
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        dropout = self.config.dropout if self.training else 0.0
        if self.config.position == "relative":
            rel = self.rel[:, -T:, :]  # (nh, T, hs): distances T-1..0
            srel = skew(q @ rel.transpose(-1, -2).unsqueeze(0))  # (B, nh, T, T)
            causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            bias = (srel / math.sqrt(self.config.head_size)).masked_fill(~causal, float("-inf"))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
        return self._merge_heads(y)

    def forward_cached(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        past_k: torch.Tensor,
        past_v: torch.Tensor,
        cos: torch.Tensor | None,
        sin: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, d) at `positions` (T,) = start..start+T-1; past_k/v (B, nh, S, hs) read-only.

        Cache slots j < start are valid; the rest is stale (rolled back or never written) and
        masked. Scores over the cache and over the new block are softmaxed together, so the
        cache is never copied: a step costs one read of it.
        """
        T = x.shape[1]
        S = past_k.shape[2]
        q, k, v = self._split_heads(x)  # (B, nh, T, hs)
        if cos is not None:
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        scale = 1.0 / math.sqrt(self.config.head_size)
        start = positions[:1]  # (1,)
        slots = torch.arange(S, device=x.device)  # (S,)
        offsets = torch.arange(T, device=x.device)  # (T,)
        past_ok = (slots < start).view(1, S)  # (1, S) same for every query row
        new_ok = offsets.view(1, T) <= offsets.view(T, 1)  # (T, T) causal within the block
        past_scores = q @ past_k.transpose(-1, -2)  # (B, nh, T, S)
        new_scores = q @ k.transpose(-1, -2)  # (B, nh, T, T)
        if self.config.position == "relative":
            L = self.config.context
            qer = q @ self.rel.transpose(-1, -2).unsqueeze(0)  # (B, nh, T, L)
            B, nh = q.shape[0], q.shape[1]
            # distance d = pos_i - j lives at column L-1-d; masked slots are clamped then masked
            past_idx = (L - 1 - positions.view(T, 1) + slots.view(1, S)).clamp(0, L - 1)
            new_idx = (L - 1 - offsets.view(T, 1) + offsets.view(1, T)).clamp(0, L - 1)
            past_scores = past_scores + qer.gather(3, past_idx.expand(B, nh, T, S))
            new_scores = new_scores + qer.gather(3, new_idx.expand(B, nh, T, T))
        neg = torch.finfo(q.dtype).min
        past_scores = (past_scores * scale).masked_fill(~past_ok, neg)
        new_scores = (new_scores * scale).masked_fill(~new_ok, neg)
        probs = torch.cat([past_scores, new_scores], dim=-1).softmax(dim=-1)  # (B, nh, T, S+T)
        y = probs[..., :S] @ past_v + probs[..., S:] @ v  # (B, nh, T, hs)
        return self._merge_heads(y), k, v


class MLP(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.up = nn.Linear(config.d_model, config.d_ff, bias=config.bias)
        self.down = nn.Linear(config.d_ff, config.d_model, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(F.gelu(self.up(x))))


class Block(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.parallel = config.block == "parallel"
        self.ln_1 = nn.LayerNorm(config.d_model)
        self.attn = CausalSelfAttention(config)
        # a parallel block reads one normalised input for both branches (GPT-J)
        self.ln_2 = None if self.parallel else nn.LayerNorm(config.d_model)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cos, sin) -> torch.Tensor:
        h = self.ln_1(x)
        if self.parallel:
            return x + self.attn(h, cos, sin) + self.mlp(h)
        x = x + self.attn(h, cos, sin)
        return x + self.mlp(self.ln_2(x))

    def forward_cached(self, x, positions, past_k, past_v, cos, sin):
        h = self.ln_1(x)
        a, k, v = self.attn.forward_cached(h, positions, past_k, past_v, cos, sin)
        if self.parallel:
            return x + a + self.mlp(h), k, v
        x = x + a
        return x + self.mlp(self.ln_2(x)), k, v


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = (
            nn.Embedding(config.context, config.d_model) if config.position == "learned" else None
        )
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_weights:
            self.lm_head.weight = self.tok_emb.weight
        if config.position == "rope":
            cos, sin = rope_tables(config)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # GPT-2: scale the residual projections by depth
        for name, param in self.named_parameters():
            if name.endswith(("proj.weight", "down.weight")):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

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

    def _embed(self, idx: torch.Tensor, positions: torch.Tensor):
        x = self.tok_emb(idx)  # (B, T, d)
        cos = sin = None
        if self.pos_emb is not None:
            x = x + self.pos_emb(positions)
        elif self.config.position == "rope":
            cos, sin = self.rope_cos[positions], self.rope_sin[positions]  # (T, hs)
        return self.drop(x), cos, sin

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) -> logits (B, T, V); loss is mean cross-entropy over non-PAD targets."""
        seq_len = idx.shape[1]
        if seq_len > self.config.context:
            raise ValueError(f"{seq_len} tokens exceed the context of {self.config.context}")
        x, cos, sin = self._embed(idx, torch.arange(seq_len, device=idx.device))
        for block in self.blocks:
            x = block(x, cos, sin)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                targets.reshape(-1),
                ignore_index=self.config.pad_id,
            )
        return logits, loss

    def forward_cached(
        self,
        idx: torch.Tensor,
        start: torch.Tensor,
        past_k: torch.Tensor,
        past_v: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """idx (B, T) at positions start..start+T-1 (start: int64 (1,)).

        past_k/v (n_layer, B, nh, S, hs) are read, never written. Returns logits (B, T, V) and
        the new keys/values (n_layer, B, nh, T, hs) for the caller to store at those positions.
        """
        T = idx.shape[1]
        positions = start + torch.arange(T, device=idx.device)  # (T,)
        x, cos, sin = self._embed(idx, positions)
        new_k, new_v = [], []
        for layer, block in enumerate(self.blocks):
            x, k, v = block.forward_cached(x, positions, past_k[layer], past_v[layer], cos, sin)
            new_k.append(k)
            new_v.append(v)
        logits = self.lm_head(self.ln_f(x))
        return logits, torch.stack(new_k), torch.stack(new_v)


class KVCache:
    """A preallocated fixed-size cache for PyTorch decoding; rollback is setting `position`."""

    def __init__(self, model: Transformer, batch: int = 1) -> None:
        c = model.config
        shape = (c.n_layer, batch, c.n_head, c.context, c.head_size)
        param = next(model.parameters())
        self.model = model
        self.k = torch.zeros(shape, dtype=param.dtype, device=param.device)
        self.v = torch.zeros(shape, dtype=param.dtype, device=param.device)
        self.position = 0

    @torch.no_grad()
    def feed(self, idx: torch.Tensor) -> torch.Tensor:
        """Run idx (B, T) at the current position; returns logits (B, T, V)."""
        T = idx.shape[1]
        end = self.position + T
        if end > self.model.config.context:
            raise ValueError(f"cache full: {end} > context {self.model.config.context}")
        start = torch.tensor([self.position], device=idx.device)
        logits, k, v = self.model.forward_cached(idx, start, self.k, self.v)
        self.k[:, :, :, self.position : end] = k
        self.v[:, :, :, self.position : end] = v
        self.position = end
        return logits

    def rollback(self, position: int) -> None:
        """Forget everything from `position` on (O(1): stale slots are masked, then overwritten)."""
        if not 0 <= position <= self.position:
            raise ValueError(f"cannot roll back to {position}; cache holds 0..{self.position}")
        self.position = position
