"""The optimizer and its schedule (AdamW with weight decay on matrices only, warmup + cosine),
the loss scaler and autocast: what every model family's training loop sets up alike."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

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


@dataclass
class Optimization:
    """AdamW, its LambdaLR schedule, the fp16 loss scaler and the step they have reached."""

    optimizer: torch.optim.AdamW
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    step: int = 0

    def state(self) -> dict[str, Any]:
        """Its checkpoint entries (optimization(..., state=...) restores them; `step` is the
        caller's, which counts on)."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
        }


def apply_gradients(training: Optimization, model: torch.nn.Module, grad_clip: float) -> float:
    """One optimizer step from the accumulated (scaled) gradients: unscale and clip them, step,
    clear them, advance the schedule. Returns the learning rate the step used."""
    optimizer, scaler = training.optimizer, training.scaler
    if grad_clip > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    lr = optimizer.param_groups[0]["lr"]
    training.scheduler.step()
    return lr


def optimization(
    model: torch.nn.Module,
    config: TrainConfig,
    device: torch.device,
    precision: str,
    state: dict[str, Any] | None = None,
) -> Optimization:
    """Optimizer, schedule and scaler for `model`; from a checkpoint's `state` when resuming
    (the model's own weights and the RNG are the caller's: ranks differ there)."""
    optimizer = make_optimizer(model, config, fused=device.type == "cuda")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, LrFactor(config))
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    result = Optimization(optimizer, scheduler, scaler)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        result.step = int(state["step"])
    return result


def autocast_for(device: torch.device, precision: str) -> Callable[[], AbstractContextManager]:
    """A factory of autocast contexts for the chosen precision (a no-op context for fp32)."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

    def autocast() -> AbstractContextManager:
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=dtype)

    return autocast
