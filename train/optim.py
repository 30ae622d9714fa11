"""The optimizer and its schedule: AdamW with weight decay on matrices only, warmup + cosine."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import torch

from .train_config import TrainConfig


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warmup to lr, then cosine decay to min_lr at max_steps."""
    opt = config.optim
    if step < opt.warmup_steps:
        return opt.lr * (step + 1) / opt.warmup_steps
    span = max(opt.max_steps - opt.warmup_steps, 1)
    progress = min((step - opt.warmup_steps) / span, 1.0)
    return opt.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (opt.lr - opt.min_lr)


class LrFactor:
    """Multiplicative factor for LambdaLR (base lr = config lr). LambdaLR saves this object's
    __dict__ in the scheduler's state, so it holds the optim section as plain data: checkpoints
    load with weights_only=True (train/checkpoint.py)."""

    def __init__(self, config: TrainConfig) -> None:
        self.optim = dataclasses.asdict(config.optim)

    def __call__(self, step: int) -> float:
        config = SimpleNamespace(optim=SimpleNamespace(**self.optim))
        return lr_at(step, config) / self.optim["lr"]  # type: ignore[arg-type]


def make_optimizer(model: torch.nn.Module, config: TrainConfig, fused: bool) -> torch.optim.AdamW:
    """AdamW; norms and biases (tensors under 2-D) take no weight decay."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    opt = config.optim
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": opt.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=opt.lr,
        betas=(opt.beta1, opt.beta2),
        fused=fused,
    )
