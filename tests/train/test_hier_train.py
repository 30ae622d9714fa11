"""A hierarchical model trains through the same loop as the flat one: artifacts, learning,
exact resume and fine-tuning (`[model] kind = "hierarchical"`, configs/train/hier-smoke.toml)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import HIER_SMOKE_CONFIG, hier_smoke_config
from livegen.train.checkpoint import load_checkpoint, save_checkpoint, weights_only
from livegen.train.loop import evaluate_windows, train
from livegen.train.models.hierarchical import HierarchicalTransformer, HierConfig

from livegen.tokenizer import Vocab
from livegen.tokenizer.event_groups import EventRules
from livegen.tokenizer.midi_file import read_midi

QUIET = {"run.sample_every": 0, "run.ngram_baseline": False}


def _losses(run: Path) -> list[float]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r["loss"] for r in map(json.loads, lines) if r["kind"] == "train"]


def test_a_hier_smoke_run_leaves_a_hierarchical_checkpoint_plot_and_samples(hier_smoke_run):
    state = load_checkpoint(hier_smoke_run)
    assert state["model_kind"] == "hierarchical" and state["step"] == 30
    config = HierConfig(**state["model_config"])
    vocab = Vocab()
    # the grouping came from the tokenizer's kinds, not from hard-coded ids
    assert config.rules().opening.tolist() == EventRules.from_vocab(vocab, 2).opening.tolist()
    assert (hier_smoke_run / "loss.png").is_file()
    samples = sorted((hier_smoke_run / "samples").glob("*.mid"))
    assert [p.name for p in samples] == ["step_000015.mid", "step_000030.mid"]
    read_midi(samples[-1])


def test_training_lowers_the_loss(hier_smoke_run: Path) -> None:
    losses = _losses(hier_smoke_run)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.3


def test_validation_measures_the_same_next_token_nll_as_the_loss(hier_smoke_run, prepared):
    from livegen.train.dataset import val_windows

    from livegen.data.shards import load_split

    state = load_checkpoint(hier_smoke_run)
    model = HierarchicalTransformer(HierConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    rows = val_windows(load_split(prepared, "val"), 64, 4, model.config.pad_id)
    nll, accuracy = evaluate_windows(model, rows, 4, torch.device("cpu"), contextlib.nullcontext)
    x, y = torch.from_numpy(rows[:, :-1]), torch.from_numpy(rows[:, 1:])
    with torch.no_grad():
        _, loss = model.eval()(x, y)
    assert nll == pytest.approx(float(loss), rel=1e-4)
    assert 0.0 <= accuracy <= 1.0


def test_stopped_and_resumed_run_equals_the_uninterrupted_one(prepared: Path, tmp_path: Path):
    short = {**QUIET, "optim.max_steps": 12}
    train(hier_smoke_config(prepared, tmp_path / "whole", **short))
    stopped = train(hier_smoke_config(prepared, tmp_path / "cut", **short, **{"run.stop_after": 5}))
    assert stopped.interrupted and stopped.step == 5
    resumed = train(hier_smoke_config(prepared, tmp_path / "cut", **short), resume=True)
    assert resumed.step == 12
    assert _losses(tmp_path / "whole") == pytest.approx(_losses(tmp_path / "cut"), rel=1e-6)


def test_fine_tuning_a_hierarchical_checkpoint_keeps_its_kind(hier_smoke_run, prepared, tmp_path):
    start = tmp_path / "init.pt"
    save_checkpoint(start, weights_only(load_checkpoint(hier_smoke_run)))
    tuned = train(
        hier_smoke_config(prepared, tmp_path / "tuned", **QUIET, **{"optim.max_steps": 2}),
        init_from=str(start),
    )
    assert tuned.step == 2
    assert load_checkpoint(tmp_path / "tuned")["model_kind"] == "hierarchical"


def test_bf16_autocast_trains_a_hierarchical_model_on_cpu(prepared: Path, tmp_path: Path) -> None:
    steps = {**QUIET, "optim.max_steps": 3, "run.precision": "bf16"}
    result = train(hier_smoke_config(prepared, tmp_path / "bf16", **steps))
    assert result.step == 3 and result.val_loss is not None
    assert all(math.isfinite(loss) for loss in _losses(tmp_path / "bf16"))


@pytest.mark.slow
def test_torchrun_trains_a_hierarchical_model_in_two_processes(prepared: Path, tmp_path: Path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    sets = ["optim.max_steps=4", "run.sample_every=0", "run.ngram_baseline=false"]
    sets.append("run.progress=false")
    out = tmp_path / "ddp"
    done = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "livegen.cli", "train",
         "--config", str(HIER_SMOKE_CONFIG), "--data", str(prepared), "--out", str(out),
         *[arg for s in sets for arg in ("--set", s)]],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=240,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    state = load_checkpoint(out)
    assert state["model_kind"] == "hierarchical"
    assert state["step"] == 4 and state["data_position"]["world"] == 2
