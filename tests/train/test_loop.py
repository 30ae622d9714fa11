"""The training loop: artifacts, learning, exact resume (stop and SIGTERM), fine-tuning, DDP."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SMOKE_CONFIG, smoke_config
from livegen.train.checkpoint import load_checkpoint, save_checkpoint, weights_only
from livegen.train.loop import train
from livegen.train.optim import lr_at
from livegen.train.train_config import load_train_config

from livegen.data.shards import read_manifest
from livegen.errors import ConfigError, TokenizerMismatchError
from livegen.tokenizer.midi_file import read_midi

CONTRACT_KEYS = {
    "model_config",
    "tokenizer",
    "model",
    "optimizer",
    "scheduler",
    "step",
    "rng",
    "data_position",
    "train_config",
    "metrics",
}
ROOT = Path(__file__).resolve().parents[2]


def _records(run: Path, kind: str = "train") -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def test_a_smoke_run_leaves_checkpoint_metrics_plot_and_samples(smoke_run: Path) -> None:
    state = load_checkpoint(smoke_run / "checkpoint.pt")
    assert set(state) >= CONTRACT_KEYS
    assert state["step"] == 30 and state["data_position"]["step"] == 30
    assert state["tokenizer"]["version"]
    assert [r["step"] for r in _records(smoke_run)] == list(range(1, 31))
    assert [r["step"] for r in _records(smoke_run, "val")] == [10, 20, 30]
    assert all(r["ngram_nll"] and r["ngram_nll"] > 0 for r in _records(smoke_run, "val"))
    assert (smoke_run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    samples = sorted((smoke_run / "samples").glob("*.mid"))
    assert [p.name for p in samples] == ["step_000015.mid", "step_000030.mid"]
    read_midi(samples[-1])  # a real MIDI file


def test_training_lowers_the_loss(smoke_run: Path) -> None:
    losses = [r["loss"] for r in _records(smoke_run)]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.3


def test_warmup_then_cosine_down_to_min_lr() -> None:
    config = load_train_config(SMOKE_CONFIG)
    opt = config.optim
    assert lr_at(0, config) == pytest.approx(opt.lr / opt.warmup_steps)
    assert lr_at(opt.warmup_steps - 1, config) == pytest.approx(opt.lr)
    values = [lr_at(s, config) for s in range(opt.warmup_steps, opt.max_steps + 1)]
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert values[-1] == pytest.approx(opt.min_lr)


def _same_losses(a: Path, b: Path) -> None:
    la, lb = _records(a), _records(b)
    assert [r["step"] for r in la] == [r["step"] for r in lb]
    for ra, rb in zip(la, lb, strict=True):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-6, abs=1e-6), ra["step"]


def test_stopped_and_resumed_run_equals_the_uninterrupted_one(prepared: Path, tmp_path: Path):
    quiet = {"run.sample_every": 0, "run.ngram_baseline": False, "optim.max_steps": 16}
    whole = train(smoke_config(prepared, tmp_path / "whole", **quiet))
    stopped = train(smoke_config(prepared, tmp_path / "cut", **quiet, **{"run.stop_after": 7}))
    assert stopped.interrupted and stopped.step == 7
    resumed = train(smoke_config(prepared, tmp_path / "cut", **quiet), resume=True)
    assert resumed.step == whole.step == 16 and not resumed.interrupted
    _same_losses(tmp_path / "whole", tmp_path / "cut")
    a = load_checkpoint(tmp_path / "whole")["model"]
    b = load_checkpoint(tmp_path / "cut")["model"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


@pytest.mark.slow
def test_sigterm_checkpoints_then_resume_continues_the_same_curve(prepared: Path, tmp_path):
    args = [
        sys.executable,
        "-m",
        "livegen.cli",
        "train",
        "--config",
        str(SMOKE_CONFIG),
        "--data",
        str(prepared),
        "--set",
        "run.sample_every=0",
        "--set",
        "run.ngram_baseline=false",
        "--set",
        "optim.max_steps=120",
        "--set",
        "run.checkpoint_every=1000",
        "--set",
        "run.progress=false",
    ]
    subprocess.run([*args, "--out", str(tmp_path / "whole")], check=True, cwd=ROOT)
    run = tmp_path / "killed"
    proc = subprocess.Popen([*args, "--out", str(run)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (run / "metrics.jsonl").is_file() and len(_records(run)) >= 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    step = load_checkpoint(run)["step"]
    assert 5 <= step < 120 and f"stopped at step {step}" in err
    subprocess.run([*args, "--out", str(run), "--resume"], check=True, cwd=ROOT)
    _same_losses(tmp_path / "whole", run)


def test_fine_tuning_starts_from_the_given_weights(smoke_run: Path, prepared, tmp_path):
    small = tmp_path / "init.pt"
    save_checkpoint(small, weights_only(load_checkpoint(smoke_run)))
    quiet = {"run.sample_every": 0, "run.ngram_baseline": False, "optim.max_steps": 2}
    fresh = train(smoke_config(prepared, tmp_path / "fresh", **quiet))
    tuned = train(smoke_config(prepared, tmp_path / "tuned", **quiet), init_from=str(small))
    assert fresh.step == tuned.step == 2
    first_fresh = _records(tmp_path / "fresh")[0]["loss"]
    first_tuned = _records(tmp_path / "tuned")[0]["loss"]
    assert first_tuned < first_fresh - 0.3
    state = load_checkpoint(tmp_path / "tuned")
    assert state["model_config"] == load_checkpoint(smoke_run)["model_config"]


def test_fine_tuning_refuses_a_model_with_another_tokenizer(smoke_run, prepared, tmp_path):
    state = weights_only(load_checkpoint(smoke_run))
    state["tokenizer"] = {**state["tokenizer"], "steps_per_beat": 12}
    save_checkpoint(tmp_path / "other.pt", state)
    with pytest.raises(TokenizerMismatchError, match="steps_per_beat"):
        train(smoke_config(prepared, tmp_path / "run"), init_from=str(tmp_path / "other.pt"))


def test_a_used_run_folder_needs_resume_and_resume_needs_a_checkpoint(
    smoke_run, prepared, tmp_path
):
    with pytest.raises(ConfigError, match="--resume"):
        train(smoke_config(prepared, smoke_run))
    with pytest.raises(ConfigError, match="no checkpoint"):
        train(smoke_config(prepared, tmp_path / "nothing"), resume=True)


def test_config_mistakes_name_the_file_section_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SMOKE_CONFIG.read_text().replace("grad_accum = 2", "grad_acum = 2"))
    with pytest.raises(ConfigError, match=r"bad.toml \[optim\]: unknown key 'grad_acum'"):
        load_train_config(bad)
    bad.write_text(SMOKE_CONFIG.read_text() + "\n[optimizer]\nlr = 1\n")
    with pytest.raises(ConfigError, match=r"unknown section \[optimizer\]"):
        load_train_config(bad)


def test_fp16_needs_cuda_and_bf16_autocast_trains_on_cpu(prepared: Path, tmp_path: Path):
    quiet = {"run.sample_every": 0, "run.ngram_baseline": False, "optim.max_steps": 3}
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="fp16"):
            train(smoke_config(prepared, tmp_path / "fp16", **quiet, **{"run.precision": "fp16"}))
    result = train(smoke_config(prepared, tmp_path / "bf16", **quiet, **{"run.precision": "bf16"}))
    assert result.step == 3 and result.val_loss is not None
    assert all(r["loss"] == r["loss"] for r in _records(tmp_path / "bf16"))  # no NaN


def test_auto_precision_is_said_at_start_and_recorded(prepared: Path, tmp_path: Path, capsys):
    from livegen.train.loop import choose_precision

    quiet = {"run.sample_every": 0, "run.ngram_baseline": False, "optim.max_steps": 2}
    run = tmp_path / "auto"
    train(smoke_config(prepared, run, **quiet, **{"run.precision": "auto"}))
    expected = choose_precision("auto", torch.device("cpu"))
    assert expected.precision in ("bf16", "fp32")
    assert expected.describe() in capsys.readouterr().err.splitlines()
    assert load_checkpoint(run)["precision"] == expected.to_dict()
    assert {r["precision"] for r in _records(run)} == {expected.precision}


def test_shipped_training_configs_choose_precision_automatically() -> None:
    for name in ("default", "finetune"):
        config = load_train_config(ROOT / "configs" / "train" / f"{name}.toml")
        assert config.run.precision == "auto", name


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu_with_gloo(prepared: Path, tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "livegen.cli",
        "train",
        "--config",
        str(SMOKE_CONFIG),
        "--data",
        str(prepared),
        "--out",
        str(tmp_path / "ddp"),
        "--set",
        "optim.max_steps=6",
        "--set",
        "run.sample_every=0",
        "--set",
        "run.ngram_baseline=false",
        "--set",
        "run.progress=false",
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    state = load_checkpoint(tmp_path / "ddp")
    assert state["step"] == 6 and state["data_position"]["world"] == 2
    assert len(_records(tmp_path / "ddp")) == 6  # rank 0 alone writes metrics


def test_train_config_overrides_from_the_command_line_are_typed() -> None:
    from livegen.commands.train_cmds import _parse_sets

    assert _parse_sets(("optim.max_steps=10", "run.device=cpu", "data.augment=false")) == {
        "optim.max_steps": 10,
        "run.device": "cpu",
        "data.augment": False,
    }
    config = load_train_config(SMOKE_CONFIG, {"optim.max_steps": 10})
    assert config.optim.max_steps == 10
    assert replace(config.optim, max_steps=30) == load_train_config(SMOKE_CONFIG).optim


def test_a_fine_tuned_model_exports_and_runs_in_the_engine(smoke_run, prepared, tmp_path):
    pytest.importorskip("onnx")
    from livegen.export.transformer_onnx import export_checkpoint

    from livegen.inference.engine import Engine
    from livegen.tokenizer import Vocab

    small = tmp_path / "init.pt"
    save_checkpoint(small, weights_only(load_checkpoint(smoke_run)))
    quiet = {"run.sample_every": 0, "run.ngram_baseline": False, "optim.max_steps": 2}
    train(smoke_config(prepared, tmp_path / "tuned", **quiet), init_from=str(small))
    folder, _ = export_checkpoint(tmp_path / "tuned" / "checkpoint.pt", tmp_path / "model")
    engine = Engine.load(folder)
    logits = engine.prefill([Vocab().bos])
    assert logits.shape == (engine.vocab_size,) and np.isfinite(logits).all()


def test_fine_tuning_from_the_shipped_default_model(prepared: Path, tmp_path: Path) -> None:
    from livegen.train.loop import default_checkpoint_path

    if not default_checkpoint_path().is_file():
        pytest.skip("no shipped default checkpoint in livegen/assets/models/default")
    shipped = load_checkpoint(default_checkpoint_path())
    quiet = {"run.sample_every": 0, "run.ngram_baseline": False, "optim.max_steps": 2}
    result = train(smoke_config(prepared, tmp_path / "mine", **quiet), init_from="default")
    assert result.step == 2
    tuned = load_checkpoint(tmp_path / "mine")
    # the architecture comes from the shipped model; only dropout from the fine-tuning config
    assert {**tuned["model_config"], "dropout": None} == {
        **shipped["model_config"],
        "dropout": None,
    }
    # the shipped model knows CHORD tokens this data was prepared without: the run reads the data
    # as a prefix of the model's vocabulary and keeps the model's, and resumes on the same data
    assert tuned["tokenizer"] == shipped["tokenizer"]
    assert not read_manifest(prepared)["tokenizer"].get("structure_tokens")
    more = {**quiet, "optim.max_steps": 3}
    assert train(smoke_config(prepared, tmp_path / "mine", **more), resume=True).step == 3
