"""Where each DDP rank computes and where its stop flag lives (issue 13, point 5).

No GPU is needed to check the logic: NCCL refuses CPU tensors and every rank on plain `cuda`
shares GPU 0, so the flag follows the backend and a bare `cuda` takes torchrun's LOCAL_RANK.
"""

from __future__ import annotations

import time

import pytest
import torch
import torch.distributed as dist
from livegen.train.loop import rank_device
from livegen.train.stop import StopFlag, flag_device, should_stop
from livegen.train.train_config import RunSection


@pytest.mark.parametrize(
    ("backend", "device", "expected"),
    [
        ("nccl", torch.device("cuda", 1), torch.device("cuda", 1)),
        ("gloo", torch.device("cpu"), torch.device("cpu")),
        ("gloo", torch.device("cuda", 0), torch.device("cpu")),
    ],
    ids=["nccl-on-the-rank-gpu", "gloo-cpu", "gloo-with-a-gpu-stays-on-cpu"],
)
def test_the_stop_flag_lives_where_the_backend_takes_it(
    backend: str, device: torch.device, expected: torch.device
) -> None:
    assert flag_device(backend, device) == expected


@pytest.mark.parametrize(
    ("name", "local_rank", "expected"),
    [
        ("cuda", "1", torch.device("cuda", 1)),
        ("cuda", None, torch.device("cuda", 0)),
        ("cuda:0", "1", torch.device("cuda", 0)),  # an explicit index is kept
        ("cpu", "1", torch.device("cpu")),
    ],
)
def test_a_bare_cuda_device_is_this_rank_s_gpu(
    name: str, local_rank: str | None, expected: torch.device, monkeypatch: pytest.MonkeyPatch
) -> None:
    if local_rank is None:
        monkeypatch.delenv("LOCAL_RANK", raising=False)
    else:
        monkeypatch.setenv("LOCAL_RANK", local_rank)
    assert rank_device(torch.device(name)) == expected


def test_the_stop_flag_is_all_reduced_on_cpu_under_gloo_whatever_the_device() -> None:
    # a real one-process gloo group; a flag put on the (absent) GPU would raise here
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        run = RunSection(stop_after=3)
        started = time.monotonic()
        gpu = torch.device("cuda", 0)
        with StopFlag() as stop:
            assert not should_stop(stop, run, 2, started, world=2, device=gpu)
            assert should_stop(stop, run, 3, started, world=2, device=gpu)
    finally:
        dist.destroy_process_group()
