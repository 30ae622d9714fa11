"""The variation DDPM: a small transformer that predicts the noise in a window of notes.

A window of N condensed notes (livegen/variation/notes.py) becomes x0 (B, N, E + 3): each note's
pitch as a learned embedding relaxed to continuous values (rows normalized to length sqrt(E), so
each coordinate is about unit scale like the noise and the table cannot shrink to a point) next to
its three fields mapped from [0, 1] to [-1, 1]. A sample goes back to notes by the nearest
embedding row (pitch) and clipping (fields).

The network sees x_t and t (sinusoidal embedding -> MLP, added to every position): input
projection + learned positions, `n_layer` pre-norm attention blocks over the N notes (no mask: a
window is denoised as a whole), and a projection to the predicted noise (B, N, E + 3).

Loss = MSE of the predicted noise (t uniform in 0..T-1) + `rounding_weight` x the cross-entropy
of the pitches read back from slightly noised clean embeddings (Diffusion-LM's rounding term:
it keeps the embedding rows apart so nearest-neighbour decoding stays sharp).

The noise schedule is livegen.variation.schedule.NoiseSchedule, the runtime's own: `reverse`
runs its DDPM (eta = 1) or DDIM (eta = 0) steps with this network, as `livegen vary` does with
the exported one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from livegen.errors import ConfigError
from livegen.variation.notes import DEFAULT_WINDOW, PITCHES
from livegen.variation.schedule import NoiseSchedule

FIELDS = 3
ROUNDING_NOISE = 0.1  # std of the noise on clean embeddings in the rounding term


@dataclass(frozen=True)
class DDPMConfig:
    window: int = DEFAULT_WINDOW
    pitch_dim: int = 16  # E: the pitch embedding size
    d_model: int = 128
    n_layer: int = 3
    n_head: int = 4
    dropout: float = 0.0
    timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    rounding_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.d_model % self.n_head:
            raise ConfigError(f"[model] d_model {self.d_model} not divisible by n_head")
        for name in ("window", "pitch_dim", "n_layer", "timesteps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"[model] {name} must be >= 1, got {getattr(self, name)}")

    @property
    def schedule(self) -> NoiseSchedule:
        return NoiseSchedule(self.timesteps, self.beta_start, self.beta_end)

    @property
    def channels(self) -> int:
        return self.pitch_dim + FIELDS


class Block(nn.Module):
    def __init__(self, c: DDPMConfig) -> None:
        super().__init__()
        self.n_head = c.n_head
        self.ln1 = nn.LayerNorm(c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        self.proj = nn.Linear(c.d_model, c.d_model)
        self.ln2 = nn.LayerNorm(c.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(c.d_model, 4 * c.d_model), nn.GELU(), nn.Linear(4 * c.d_model, c.d_model)
        )
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.n_head, d // self.n_head).unbind(2)
        q, k, v = (u.transpose(1, 2) for u in (q, k, v))  # (B, nh, N, hs)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.n_head), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.drop(self.proj(y))
        return x + self.drop(self.mlp(self.ln2(x)))


class DDPM(nn.Module):
    def __init__(self, config: DDPMConfig) -> None:
        super().__init__()
        c = self.config = config
        self.pitch_table = nn.Parameter(torch.randn(PITCHES, c.pitch_dim))
        self.inp = nn.Linear(c.channels, c.d_model)
        self.pos = nn.Parameter(torch.randn(c.window, c.d_model) * 0.02)
        self.time_mlp = nn.Sequential(
            nn.Linear(c.d_model, c.d_model), nn.GELU(), nn.Linear(c.d_model, c.d_model)
        )
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.d_model)
        self.out = nn.Linear(c.d_model, c.channels)
        self.register_buffer(
            "alphas_cumprod",
            torch.tensor(c.schedule.alphas_cumprod, dtype=torch.float32),
            persistent=False,
        )

    def embeddings(self) -> torch.Tensor:
        """(128, E) pitch embedding rows, each of length sqrt(E)."""
        return F.normalize(self.pitch_table, dim=-1) * math.sqrt(self.config.pitch_dim)

    def to_x0(self, pitch: torch.Tensor, cont: torch.Tensor) -> torch.Tensor:
        """pitch (B, N), fields (B, N, 3) in [0, 1] -> x0 (B, N, E + 3)."""
        return torch.cat([self.embeddings()[pitch], cont * 2 - 1], dim=-1)

    def from_x0(self, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest embedding row (pitch) and clipped fields of x0 (B, N, E + 3)."""
        e = self.config.pitch_dim
        dist = torch.cdist(x0[..., :e].float(), self.embeddings()[None].float())  # (B, N, 128)
        return dist.argmin(-1), ((x0[..., e:] + 1) / 2).clamp(0, 1)

    def time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        """t (B,) -> (B, d_model): sinusoids of t, through an MLP."""
        half = self.config.d_model // 2
        freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / half)
        angles = t.float()[:, None] * freqs[None]
        return self.time_mlp(torch.cat([angles.sin(), angles.cos()], dim=-1))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predicted noise (B, N, E + 3) of x_t (B, N, E + 3) at steps t (B,)."""
        h = self.inp(x_t) + self.pos[None] + self.time_embedding(t)[:, None]
        for block in self.blocks:
            h = block(h)
        return self.out(self.ln_f(h))

    def loss(
        self, pitch: torch.Tensor, cont: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.config
        x0 = self.to_x0(pitch, cont.to(self.pitch_table.dtype))
        t = torch.randint(0, c.timesteps, (len(pitch),), device=pitch.device)
        a = self.alphas_cumprod[t][:, None, None]
        noise = torch.randn_like(x0)
        eps = self(a.sqrt() * x0 + (1 - a).sqrt() * noise, t)
        mse = F.mse_loss(eps.float(), noise.float())
        table = self.embeddings()
        noisy = table[pitch] + ROUNDING_NOISE * torch.randn_like(table[pitch])
        logits = -(torch.cdist(noisy.float(), table[None].float()) ** 2)  # (B, N, 128)
        rounding = F.cross_entropy(logits.reshape(-1, PITCHES), pitch.reshape(-1))
        total = mse + c.rounding_weight * rounding
        return total, {"mse": float(mse.detach()), "rounding": float(rounding.detach())}

    @torch.no_grad()
    def reverse(
        self,
        x_t: torch.Tensor,
        start_t: int,
        steps: int,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """x0 from x_t at `start_t` in `steps` steps of the schedule (eta 0: DDIM, 1: DDPM)."""
        schedule = self.config.schedule
        plan = schedule.plan(steps, start_t)
        x = x_t.float().cpu().numpy()
        for i, t in enumerate(plan):
            t_batch = torch.full((len(x),), t, dtype=torch.long, device=x_t.device)
            eps = self(torch.from_numpy(x).to(x_t.device), t_batch).float().cpu().numpy()
            noise = None
            if eta > 0:
                noise = torch.randn(x.shape, generator=generator).numpy()
            t_prev = plan[i + 1] if i + 1 < len(plan) else -1
            x = schedule.step(eps, t, t_prev, x, eta, noise)
        return torch.from_numpy(np.ascontiguousarray(x)).to(x_t.device)

    @torch.no_grad()
    def vary(
        self,
        pitch: torch.Tensor,
        cont: torch.Tensor,
        strength: float,
        steps: int,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise each window to t = strength x (T - 1), denoise it back: pitch, fields."""
        start_t = round(strength * (self.config.timesteps - 1))
        x0 = self.to_x0(pitch, cont.float())
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        a = self.alphas_cumprod[start_t]
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
        return self.from_x0(self.reverse(x_t, start_t, steps, eta, generator))

    @torch.no_grad()
    def reconstruct(self, pitch: torch.Tensor, cont: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Validation's reconstruction: DDIM, 10 steps from strength 0.3, a fixed noise draw."""
        return self.vary(pitch, cont, 0.3, 10, 0.0, torch.Generator().manual_seed(0))

    @torch.no_grad()
    def sample(
        self, count: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Windows from pure noise, DDIM in 20 steps."""
        c = self.config
        x_t = torch.randn(count, c.window, c.channels, generator=generator)
        x_t = x_t.to(self.pos.device)
        return self.from_x0(self.reverse(x_t, c.timesteps - 1, 20))
