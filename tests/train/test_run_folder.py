"""A run folder belongs to one run: locked while it trains, resumed on its own data, saved first."""

from __future__ import annotations

import fcntl
import json
import shutil
from pathlib import Path

import pytest
from conftest import SMOKE_CONFIG
from livegen.train.checkpoint import load_checkpoint

from livegen.cli import main

QUIET = ["--set", "run.sample_every=0", "--set", "run.ngram_baseline=false"]
QUIET += ["--set", "run.progress=false", "--set", "optim.max_steps=2"]


def _train(data: Path, out: Path, *extra: str) -> int:
    argv = ["train", "--config", str(SMOKE_CONFIG), "--data", str(data), "--out", str(out)]
    return main([*argv, *QUIET, *extra])


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1, err
    return err[0]


def test_a_second_run_on_the_same_out_fails_in_one_line(prepared, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    with (out / ".lock").open("w") as held:  # what the first run holds while it trains
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert _train(prepared, out) == 1
    line = _error_line(capsys)
    assert str(out) in line and "another training run" in line
    assert not (out / "checkpoint.pt").exists()
    assert _train(prepared, out) == 0  # the lock goes with the run that held it


def test_resume_on_other_data_is_refused_unless_allowed(prepared, tmp_path, capsys) -> None:
    out, other = tmp_path / "run", tmp_path / "other-data"
    shutil.copytree(prepared, other)
    assert _train(prepared, out) == 0
    capsys.readouterr()
    assert _train(other, out, "--resume", "--set", "optim.max_steps=3") == 1
    line = _error_line(capsys)
    assert str(other) in line and str(prepared) in line and "--allow-data-change" in line
    assert load_checkpoint(out)["step"] == 2
    assert _train(other, out, "--resume", "--allow-data-change", "--set", "optim.max_steps=3") == 0
    assert load_checkpoint(out)["step"] == 3


def test_resume_refuses_data_whose_manifest_changed(prepared, tmp_path, capsys) -> None:
    out, data = tmp_path / "run", tmp_path / "data"
    shutil.copytree(prepared, data)
    assert _train(data, out) == 0
    manifest = data / "manifest.json"
    manifest.write_text(manifest.read_text().replace("{", '{"extra": 1, ', 1))
    capsys.readouterr()
    assert _train(data, out, "--resume", "--set", "optim.max_steps=3") == 1
    assert "changed" in _error_line(capsys)


@pytest.mark.parametrize("extra", ["plot", "samples"])
def test_a_failing_plot_or_sample_warns_after_the_checkpoint_is_saved(
    extra, prepared, tmp_path, monkeypatch, capsys
) -> None:
    def broken(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")

    target = {"plot": "plot.plot_metrics", "samples": "samples.generate"}[extra]
    monkeypatch.setattr(f"livegen.train.{target}", broken)
    out = tmp_path / "run"
    assert _train(prepared, out, "--set", "run.sample_every=1", "--set", "run.plot_every=1") == 0
    assert load_checkpoint(out)["step"] == 2
    err = capsys.readouterr().err
    assert f"warning: step 1: {extra}" in err and "matplotlib" in err


def test_leftover_temp_checkpoints_are_removed_at_start(prepared, tmp_path) -> None:
    out = tmp_path / "run"
    assert _train(prepared, out) == 0
    leftover = out / ".tmp-killed.pt"
    leftover.write_bytes(b"half a checkpoint")
    assert _train(prepared, out, "--resume", "--set", "optim.max_steps=3") == 0
    assert not leftover.exists()
    assert sorted(p.name for p in out.glob(".tmp-*")) == []


def test_a_run_without_a_val_split_says_so_instead_of_a_zero_loss(midi_folder, tmp_path, capsys):
    from livegen.data.prepare import PrepareOptions, prepare

    data = tmp_path / "no-val"
    prepare(midi_folder, data, options=PrepareOptions(val_fraction=0, workers=1, progress=False))
    assert _train(data, tmp_path / "run") == 0
    out, err = capsys.readouterr()
    assert "val loss" not in out and "no val split" in err
    assert all(
        r["kind"] != "val"
        for r in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
    )
