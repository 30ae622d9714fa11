"""The variation VAE: a BiLSTM encoder to a latent, an autoregressive LSTM decoder from it.

Over condensed note windows (livegen/variation/notes.py): each note is a pitch (0..127) and three
continuous fields in [0, 1] (velocity, onset gap / 4 beats, duration / 4 beats).

- Encoder: note -> [pitch embedding, fields] -> Linear -> BiLSTM; the last layer's final forward
  and backward states -> mu, logvar of a diagonal Gaussian latent z.
- Decoder: an LSTM whose memory (h and c of every layer) is overwritten from z at the start of the
  window (tanh of a linear map), with z also fed at every step; input at step i is note i-1
  (a START pitch at i = 0); heads: pitch logits (128) and the fields (sigmoid).
- Teacher forcing is annealed: at training step s each row takes the true previous note with
  probability p(s), going linearly from `teacher_forcing_start` to `teacher_forcing_end` over
  `teacher_forcing_steps`, else its own prediction (argmax pitch, predicted fields), detached.
- Loss = cross-entropy on pitch + `cont_weight` x MSE on the fields + beta(s) x KL, beta rising
  linearly from 0 to `kl_weight` over `kl_anneal_steps` (MusicVAE's annealing); `free_bits` nats
  per latent dimension are not penalized.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from livegen.errors import ConfigError
from livegen.variation.notes import DEFAULT_WINDOW, PITCHES

START = PITCHES  # the decoder's input before the first note
FIELDS = 3  # velocity, gap, duration


@dataclass(frozen=True)
class VAEConfig:
    window: int = DEFAULT_WINDOW  # notes per window
    pitch_dim: int = 32  # pitch embedding size
    hidden: int = 128  # LSTM size (each direction of the encoder)
    latent: int = 32
    layers: int = 1
    dropout: float = 0.0  # between stacked LSTM layers
    teacher_forcing_start: float = 1.0
    teacher_forcing_end: float = 0.5
    teacher_forcing_steps: int = 2000
    kl_weight: float = 1.0
    kl_anneal_steps: int = 2000
    free_bits: float = 0.0  # nats per latent dimension not penalized
    cont_weight: float = 1.0

    def __post_init__(self) -> None:
        for name in ("window", "pitch_dim", "hidden", "latent", "layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"[model] {name} must be >= 1, got {getattr(self, name)}")
        for name in ("teacher_forcing_start", "teacher_forcing_end"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"[model] {name} must be in [0, 1]")

    def teacher_forcing(self, step: int) -> float:
        done = min(step / max(self.teacher_forcing_steps, 1), 1.0)
        return self.teacher_forcing_start + done * (
            self.teacher_forcing_end - self.teacher_forcing_start
        )

    def beta(self, step: int) -> float:
        return self.kl_weight * min(step / max(self.kl_anneal_steps, 1), 1.0)


class VAE(nn.Module):
    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        c = self.config = config
        self.pitch_emb = nn.Embedding(PITCHES + 1, c.pitch_dim)  # + START
        self.enc_in = nn.Linear(c.pitch_dim + FIELDS, c.hidden)
        dropout = c.dropout if c.layers > 1 else 0.0
        self.encoder = nn.LSTM(
            c.hidden, c.hidden, c.layers, batch_first=True, bidirectional=True, dropout=dropout
        )
        self.to_mu = nn.Linear(2 * c.hidden, c.latent)
        self.to_logvar = nn.Linear(2 * c.hidden, c.latent)
        self.to_state = nn.Linear(c.latent, 2 * c.layers * c.hidden)
        self.dec_in = nn.Linear(c.pitch_dim + FIELDS + c.latent, c.hidden)
        self.decoder = nn.LSTM(c.hidden, c.hidden, c.layers, batch_first=True, dropout=dropout)
        self.pitch_head = nn.Linear(c.hidden, PITCHES)
        self.cont_head = nn.Linear(c.hidden, FIELDS)

    def encode(self, pitch: torch.Tensor, cont: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """pitch (B, N) int64, cont (B, N, 3) -> mu, logvar (B, Z)."""
        x = self.enc_in(torch.cat([self.pitch_emb(pitch), cont], dim=-1))  # (B, N, H)
        _, (h, _) = self.encoder(x)  # h: (2 * layers, B, H), last layer's fwd/bwd at the end
        last = torch.cat([h[-2], h[-1]], dim=-1)  # (B, 2H)
        return self.to_mu(last), self.to_logvar(last)

    def initial_state(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's memory overwritten from z: h, c (layers, B, H)."""
        c = self.config
        state = torch.tanh(self.to_state(z)).view(z.shape[0], 2, c.layers, c.hidden)
        return state[:, 0].transpose(0, 1).contiguous(), state[:, 1].transpose(0, 1).contiguous()

    def decode_step(
        self,
        prev_pitch: torch.Tensor,
        prev_cont: torch.Tensor,
        z: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One note: prev_pitch (B,), prev_cont (B, 3), z (B, Z) -> logits (B, 128), cont (B, 3)."""
        x = self.dec_in(torch.cat([self.pitch_emb(prev_pitch), prev_cont, z], dim=-1))
        out, state = self.decoder(x.unsqueeze(1), state)  # (B, 1, H)
        out = out.squeeze(1)
        return self.pitch_head(out), torch.sigmoid(self.cont_head(out)), state

    def decode(
        self,
        z: torch.Tensor,
        pitch: torch.Tensor | None = None,
        cont: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, N, 128) and fields (B, N, 3) of a window; with `teacher_forcing` > 0 each
        row's previous note is the true one (`pitch`, `cont`) with that probability."""
        batch, n = z.shape[0], self.config.window
        prev_pitch = torch.full((batch,), START, dtype=torch.long, device=z.device)
        prev_cont = torch.zeros(batch, FIELDS, device=z.device, dtype=z.dtype)
        state = self.initial_state(z)
        all_logits, all_cont = [], []
        for i in range(n):
            logits, fields, state = self.decode_step(prev_pitch, prev_cont, z, state)
            all_logits.append(logits)
            all_cont.append(fields)
            own_pitch, own_cont = logits.argmax(-1), fields.detach()
            if teacher_forcing > 0 and pitch is not None and cont is not None:
                take = torch.rand(batch, device=z.device) < teacher_forcing
                prev_pitch = torch.where(take, pitch[:, i], own_pitch)
                prev_cont = torch.where(take[:, None], cont[:, i].to(own_cont.dtype), own_cont)
            else:
                prev_pitch, prev_cont = own_pitch, own_cont
        return torch.stack(all_logits, 1), torch.stack(all_cont, 1)

    def greedy(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A window from z, each note fed back: pitch (B, N) int64, fields (B, N, 3)."""
        logits, cont = self.decode(z)
        return logits.argmax(-1), cont

    def loss(
        self, pitch: torch.Tensor, cont: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss at `step` (annealed teacher forcing and beta) and its parts."""
        c = self.config
        mu, logvar = self.encode(pitch, cont)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits, fields = self.decode(z, pitch, cont, c.teacher_forcing(step))
        ce = F.cross_entropy(logits.float().reshape(-1, PITCHES), pitch.reshape(-1))
        mse = F.mse_loss(fields.float(), cont.float())
        kl_dims = 0.5 * (mu.float() ** 2 + logvar.float().exp() - 1 - logvar.float()).mean(0)
        kl = torch.clamp(kl_dims, min=c.free_bits).sum()
        total = ce + c.cont_weight * mse + c.beta(step) * kl
        parts = {
            "ce": float(ce.detach()),
            "mse": float(mse.detach()),
            "kl": float(kl_dims.detach().sum()),
        }
        return total, parts

    @torch.no_grad()
    def reconstruct(self, pitch: torch.Tensor, cont: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Greedy decoding of each window's latent mean: pitch (B, N), fields (B, N, 3)."""
        mu, _ = self.encode(pitch, cont)
        return self.greedy(mu)

    @torch.no_grad()
    def sample(
        self, count: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, ...]:
        z = torch.randn(count, self.config.latent, generator=generator)
        return self.greedy(z.to(self.pitch_head.weight.device))
