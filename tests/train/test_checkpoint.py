"""Checkpoints hold tensors and plain data: loading someone's file never runs their code."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from livegen.train.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)

from livegen.cli import main
from livegen.errors import ModelLoadError


class _Touch:
    """Pickles as a call to Path.touch: loading with weights_only=False would create `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _evil_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    state = {"model_config": {}, "tokenizer": {}, "model": {}, "payload": _Touch(marker)}
    torch.save(state, path)
    return path, marker


def test_a_checkpoint_carrying_a_callable_is_refused_without_running_it(tmp_path: Path) -> None:
    path, marker = _evil_checkpoint(tmp_path)
    with pytest.raises(ModelLoadError, match="refused") as caught:
        load_checkpoint(path)
    assert "\n" not in str(caught.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["export", "--onnx", "{ckpt}", "-o", "{tmp}/out"],
        ["bench", "--checkpoint", "{ckpt}", "--repeats", "20", "--json"],
    ],
    ids=["export", "bench"],
)
def test_commands_refuse_it_in_one_line(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, marker = _evil_checkpoint(tmp_path)
    argv = [a.format(ckpt=path, tmp=tmp_path) for a in args]
    assert main(argv) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "refused" in errors[0]
    assert not marker.exists()


def test_rng_states_are_tensors_and_round_trip(tmp_path: Path) -> None:
    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    state = {"model_config": {}, "tokenizer": {}, "model": {}, "rng": rng_state()}
    path = save_checkpoint(tmp_path / "checkpoint.pt", state)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(load_checkpoint(path)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
