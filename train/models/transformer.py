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
- `forward_cached(idx, past_k, past_v)` - T new tokens after a past of P cached positions,
  read from a prefix of a preallocated (context, batch*d) buffer per layer; returns the new
  keys/values so the caller writes them at rows P..P+T-1 (gpt-fast style fixed buffer). Rolling
  back is passing a shorter prefix: O(1), nothing is copied or recomputed.
  This exact function is what `livegen.export` turns into the ONNX graph, so the torch and
  onnxruntime paths share one definition. `KVCache` wraps it for PyTorch generation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    n_kv_head: int = 0  # key/value heads: 0 = n_head (multi-head); 1 = multi-query; else grouped
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
        if self.n_kv_head < 0 or (self.n_kv_head and self.n_head % self.n_kv_head):
            problems.append(f"n_kv_head {self.n_kv_head} must divide n_head {self.n_head}")
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

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head or self.n_head

    @property
    def kv_dim(self) -> int:
        """Width of one position's keys (or values) in the cache, per batch row."""
        return self.kv_heads * self.head_size


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
        self.qkv = nn.Linear(config.d_model, config.d_model + 2 * config.kv_dim, bias=config.bias)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        if config.position == "relative":
            # Er: one embedding per head and distance; index L-1-d holds distance d = 0..L-1.
            self.rel = nn.Parameter(
                torch.randn(config.n_head, config.context, config.head_size) * 0.02
            )

    def _split_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, T, _ = x.shape
        c = self.config
        q, k, v = self.qkv(x).split([c.d_model, c.kv_dim, c.kv_dim], dim=2)
        return (
            q.view(B, T, c.n_head, c.head_size).transpose(1, 2),  # (B, nh, T, hs)
            k.view(B, T, c.kv_heads, c.head_size).transpose(1, 2),  # (B, n_kv, T, hs)
            v.view(B, T, c.kv_heads, c.head_size).transpose(1, 2),
        )

    def _repeat_kv(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_kv, T, hs) -> (B, nh, T, hs): query head h reads key/value head h // group."""
        group = self.config.n_head // self.config.kv_heads
        return x if group == 1 else x.repeat_interleave(group, dim=1)

    def _merge_heads(self, y: torch.Tensor) -> torch.Tensor:
        B, _, T, _ = y.shape
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(B, T, self.config.d_model)))

    def forward(self, x: torch.Tensor, cos: torch.Tensor | None, sin: torch.Tensor | None):
        """Full causal pass over x (B, T, d)."""
        T = x.shape[1]
        q, k, v = self._split_heads(x)
        if cos is not None:
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        k, v = self._repeat_kv(k), self._repeat_kv(v)
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
        """x (B, T, d) at `positions` (T,) = P..P+T-1 after a past of P tokens.

        past_k/v are (P, B*kv_dim): one row per position, batch and key/value heads side by side,
        so the past is a contiguous prefix of a preallocated (context, B*kv_dim) buffer and any
        length of it is a free view. The queries of each key/value head are spread into a
        block-diagonal (B*kv_dim, B*nh*T) matrix: one GEMM against the past gives every head's
        scores, reading the cache once and no further than P. With multi-query attention
        (n_kv_head = 1) no work is wasted on the off-diagonal blocks. Returns the output and
        the new k/v as (T, B*kv_dim) rows.
        """
        B, T, _ = x.shape
        nh, n_kv, hs = self.config.n_head, self.config.kv_heads, self.config.head_size
        group = nh // n_kv
        P = past_k.shape[0]
        q, k, v = self._split_heads(x)  # q (B, nh, T, hs); k, v (B, n_kv, T, hs)
        if cos is not None:
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        scale = 1.0 / math.sqrt(hs)
        eye = torch.eye(B * n_kv, dtype=q.dtype, device=x.device)
        # columns (b, kv, g, t) of the query block; rows (b, kv, e) as in the cache
        q_cols = q.view(B, n_kv, group, T, hs).permute(0, 1, 4, 2, 3)  # (B, n_kv, hs, g, T)
        q_cols = q_cols.reshape(B, n_kv, hs, 1, 1, group * T)
        q_block = (q_cols * eye.view(B, n_kv, 1, B, n_kv, 1)).reshape(B * n_kv * hs, -1)
        # -1, not P: ONNX Reshape reads a 0 as "keep this dimension", and P is 0 at the start
        past_scores = (past_k @ q_block).transpose(0, 1).reshape(B, nh, T, -1)  # (B, nh, T, P)
        k_rep, v_rep = self._repeat_kv(k), self._repeat_kv(v)
        new_scores = q @ k_rep.transpose(-1, -2)  # (B, nh, T, T)
        offsets = torch.arange(T, device=x.device)
        new_ok = offsets.view(1, T) <= offsets.view(T, 1)  # causal within the block
        if self.config.position == "relative":
            L = self.config.context
            qer = q @ self.rel.transpose(-1, -2).unsqueeze(0)  # (B, nh, T, L)
            # distance d = pos_i - j lives at column L-1-d (masked entries are clamped)
            slots = torch.arange(P, device=x.device)
            past_idx = (L - 1 - positions.view(T, 1) + slots.view(1, P)).clamp(0, L - 1)
            new_idx = (L - 1 - offsets.view(T, 1) + offsets.view(1, T)).clamp(0, L - 1)
            past_scores = past_scores + qer.gather(3, past_idx.expand(B, nh, T, P))
            new_scores = new_scores + qer.gather(3, new_idx.expand(B, nh, T, T))
        new_scores = (new_scores * scale).masked_fill(~new_ok, torch.finfo(q.dtype).min)
        probs = torch.cat([past_scores * scale, new_scores], dim=-1).softmax(dim=-1)
        past_out = probs[..., :P].reshape(B * nh * T, -1) @ past_v  # (B*nh*T, B*kv_dim)
        past_out = past_out.view(B, n_kv, group, T, B, n_kv, hs)
        past_out = (past_out * eye.view(B, n_kv, 1, 1, B, n_kv, 1)).sum(dim=(4, 5))
        y = past_out.reshape(B, nh, T, hs) + probs[..., P:] @ v_rep  # (B, nh, T, hs)
        k_rows = k.permute(2, 0, 1, 3).reshape(T, B * n_kv * hs)
        v_rows = v.permute(2, 0, 1, 3).reshape(T, B * n_kv * hs)
        return self._merge_heads(y), k_rows, v_rows


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
        past_k: Sequence[torch.Tensor],
        past_v: Sequence[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """idx (B, T) after a past of P tokens; past_k/v: per layer (P, B*d), read only.

        Returns logits (B, T, V) and the new keys/values (n_layer, T, B*d), for the caller to
        store at rows P..P+T-1 of its cache.
        """
        T = idx.shape[1]
        positions = past_k[0].shape[0] + torch.arange(T, device=idx.device)  # (T,)
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
        shape = (c.n_layer, c.context, batch * c.kv_dim)
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
        p = self.position
        logits, k, v = self.model.forward_cached(idx, self.k[:, :p], self.v[:, :p])
        self.k[:, p:end] = k
        self.v[:, p:end] = v
        self.position = end
        return logits

    def rollback(self, position: int) -> None:
        """Forget everything from `position` on (O(1): later rows are simply not read)."""
        if not 0 <= position <= self.position:
            raise ValueError(f"cannot roll back to {position}; cache holds 0..{self.position}")
        self.position = position
