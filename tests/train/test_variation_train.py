"""The variation families train from the smoke configs: the loss falls, a resume continues exactly,
and `livegen train` routes `kind = "vae" | "ddpm"` to their loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from livegen.train.checkpoint import load_checkpoint
from livegen.train.models import model_family
from livegen.train.train_config import load_train_config
from livegen.train.variation_loop import train

from livegen.cli import main

ROOT = Path(__file__).resolve().parents[2]
POP909 = ROOT.parent / "shared" / "corpus" / "pop909" / "midi"
CONFIGS = {kind: ROOT / "configs" / "train" / f"{kind}-smoke.toml" for kind in ("vae", "ddpm")}


def _config(kind: str, out: Path, **sets: object):
    overrides = {"data.path": str(POP909 / "00[1-6].mid"), "run.out_dir": str(out), **sets}
    return load_train_config(CONFIGS[kind], overrides)


def _records(out: Path, kind: str) -> list[dict]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


@pytest.mark.parametrize("kind", ["vae", "ddpm"])
def test_the_smoke_config_trains_and_its_loss_falls(kind: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = main(["train", "--config", str(CONFIGS[kind]), "--out", str(out),
                 "--data", str(POP909 / "00[1-6].mid")])  # fmt: skip
    assert code == 0
    train_losses = [r["loss"] for r in _records(out, "train")]
    assert sum(train_losses[-3:]) / 3 < 0.9 * sum(train_losses[:2]) / 2
    val = _records(out, "val")
    assert val and val[-1]["loss"] < val[0]["loss"] * 1.05
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["model_kind"] == kind and state["step"] == 60
    model = model_family(kind).build(model_family(kind).config(**state["model_config"]))
    model.load_state_dict(state["model"])
    assert (out / "loss.png").is_file() and list((out / "samples").glob("*.mid"))


@pytest.mark.parametrize("kind", ["vae", "ddpm"])
def test_a_resumed_run_continues_the_uninterrupted_losses(kind: str, tmp_path: Path) -> None:
    steps = {"optim.max_steps": 20, "run.eval_every": 10, "run.checkpoint_every": 10}
    whole = train(_config(kind, tmp_path / "whole", **steps))
    assert whole.step == 20 and not whole.interrupted
    stopped = train(_config(kind, tmp_path / "part", **steps, **{"run.stop_after": 10}))
    assert stopped.step == 10 and stopped.interrupted
    resumed = train(_config(kind, tmp_path / "part", **steps), resume=True)
    assert resumed.step == 20
    expected = [r["loss"] for r in _records(tmp_path / "whole", "train")]
    got = [r["loss"] for r in _records(tmp_path / "part", "train")]
    assert got == pytest.approx(expected, rel=1e-5)
    a = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "part" / "checkpoint.pt")["model"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
