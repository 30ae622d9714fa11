"""The diffusion noise schedule and its reverse steps, shared by training, export and `vary`.

Like diffusers' schedulers, the schedule is its own object and the denoiser only predicts the
noise: DDPM and DDIM differ here, never in the network. numpy only (the runtime is torch-free);
training reads `alphas_cumprod` from the same object, so both sides use one set of numbers.

One step rule covers both samplers (DDIM, Song et al. 2021, eq. 12): from x_t and the predicted
noise, x0_hat = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t), then
x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - s^2) eps + s z,
s = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev)  (a = cumulative alpha).
eta = 0 is DDIM (deterministic); eta = 1 is DDPM's ancestral step (exactly DDPM's posterior
when t_prev = t - 1, the strided generalization otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLERS = ("ddpm", "ddim")


@dataclass(frozen=True)
class NoiseSchedule:
    timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02

    @property
    def alphas_cumprod(self) -> np.ndarray:
        """(T,) float64: the product of (1 - beta) up to each step (linear betas, DDPM's)."""
        betas = np.linspace(self.beta_start, self.beta_end, self.timesteps, dtype=np.float64)
        return np.cumprod(1.0 - betas)

    def add_noise(self, x0: np.ndarray, noise: np.ndarray, t: int) -> np.ndarray:
        """x_t drawn from q(x_t | x0): sqrt(a_t) x0 + sqrt(1 - a_t) noise."""
        a = self.alphas_cumprod[t]
        return (np.sqrt(a) * x0 + np.sqrt(1.0 - a) * noise).astype(np.float32)

    def plan(self, steps: int, start_t: int | None = None) -> list[int]:
        """`steps` timesteps from `start_t` (default T - 1) down to 0, evenly spaced, descending."""
        start = self.timesteps - 1 if start_t is None else int(start_t)
        if not 0 <= start < self.timesteps:
            raise ValueError(f"start_t must be in 0..{self.timesteps - 1}, got {start}")
        steps = max(1, min(int(steps), start + 1))
        return sorted({round(float(t)) for t in np.linspace(start, 0, steps)}, reverse=True)

    def step(
        self,
        eps: np.ndarray,
        t: int,
        t_prev: int,
        x_t: np.ndarray,
        eta: float = 0.0,
        noise: np.ndarray | None = None,
    ) -> np.ndarray:
        """x at `t_prev` (-1: the clean sample x0_hat) from x_t and the predicted noise."""
        a = self.alphas_cumprod[t]
        x0 = (x_t - np.sqrt(1.0 - a) * eps) / np.sqrt(a)
        if t_prev < 0:
            return x0.astype(np.float32)
        a_prev = self.alphas_cumprod[t_prev]
        sigma = eta * np.sqrt((1.0 - a_prev) / (1.0 - a)) * np.sqrt(1.0 - a / a_prev)
        direction = np.sqrt(max(1.0 - a_prev - sigma**2, 0.0)) * eps
        x_prev = np.sqrt(a_prev) * x0 + direction
        if sigma > 0:
            if noise is None:
                raise ValueError("a stochastic step (eta > 0) needs noise")
            x_prev = x_prev + sigma * noise
        return x_prev.astype(np.float32)
