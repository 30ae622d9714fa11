"""`livegen export -o DIR` replaces an earlier model folder, never any other folder or its input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from livegen.train.models.transformer import ModelConfig, Transformer

from livegen.cli import main
from livegen.inference.model_dir import read_model_dir

TOKENIZER = {"version": "test-1", "steps_per_beat": 24}


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(1)
    config = ModelConfig(vocab_size=120, n_layer=1, n_head=2, d_model=16, d_ff=32, context=64)
    model = Transformer(config)
    fields = {f: getattr(config, f) for f in config.__dataclass_fields__}
    run = tmp_path / "runs" / "mine"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text("{}\n")
    torch.save(
        {"model_config": fields, "tokenizer": TOKENIZER, "model": model.state_dict()},
        run / "checkpoint.pt",
    )
    return run / "checkpoint.pt"


def _export(checkpoint: Path, out: Path) -> int:
    return main(["export", "--onnx", str(checkpoint), "-o", str(out)])


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, lines
    return lines[0]


def test_the_checkpoints_own_run_folder_is_refused(checkpoint: Path, capsys) -> None:
    assert _export(checkpoint, checkpoint.parent) == 1
    assert str(checkpoint.parent) in _error(capsys)
    assert checkpoint.is_file() and (checkpoint.parent / "metrics.jsonl").is_file()


def test_a_folder_that_holds_the_input_is_refused(checkpoint: Path, capsys) -> None:
    home = checkpoint.parents[1]  # like `-o ~` with the run under it
    assert _export(checkpoint, home) == 1
    assert "input" in _error(capsys)
    assert checkpoint.is_file()


def test_a_non_empty_folder_that_is_not_a_model_is_refused(checkpoint, tmp_path, capsys) -> None:
    music = tmp_path / "music"
    music.mkdir()
    (music / "song.mid").write_bytes(b"MThd")
    assert _export(checkpoint, music) == 1
    line = _error(capsys)
    assert str(music) in line and "not a model folder" in line
    assert (music / "song.mid").read_bytes() == b"MThd"


def test_an_empty_folder_or_an_earlier_export_is_replaced(checkpoint, tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _export(checkpoint, empty) == 0
    assert read_model_dir(empty).model["d_model"] == 16
    assert _export(checkpoint, empty) == 0  # now a model folder: exported over again
    assert _export(checkpoint, tmp_path / "new") == 0
