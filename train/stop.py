"""When a run stops early: a signal, `stop_after` steps or `max_minutes`; all ranks agree."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import torch
import torch.distributed as dist

from .train_config import RunSection


class StopFlag:
    """SIGINT/SIGTERM only set this flag; the loop checkpoints and stops after the step."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        if _in_main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.signal = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def flag_device(backend: str, device: torch.device) -> torch.device:
    """Where a tensor for a collective must live: NCCL takes only CUDA tensors (a CPU one is
    refused), gloo only CPU ones."""
    return device if backend == "nccl" else torch.device("cpu")


def should_stop(
    stop: StopFlag,
    run: RunSection,
    steps_done: int,
    started: float,
    world: int,
    device: torch.device | None = None,
) -> bool:
    """Whether to stop after this step; with `world` > 1 all ranks agree (an all-reduce on the
    process group, whose tensor lives on `device` under NCCL)."""
    wanted = stop.signal is not None
    wanted |= bool(run.stop_after) and steps_done >= run.stop_after
    wanted |= bool(run.max_minutes) and time.monotonic() - started >= run.max_minutes * 60
    if world > 1:  # every process must stop at the same step
        where = flag_device(dist.get_backend(), device or torch.device("cpu"))
        flag = torch.tensor([int(wanted)], device=where)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        wanted = bool(flag.item())
    return wanted
