"""Checkpoints and exported folders of the smoke vae/ddpm, trained once per session (20 steps)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POP909_FILES = str(ROOT.parent / "shared" / "corpus" / "pop909" / "midi" / "00[1-6].mid")


@pytest.fixture(scope="session")
def variation_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    """checkpoint(kind) -> Path of checkpoint.pt after 20 smoke steps."""
    made: dict[str, Path] = {}

    def make(kind: str) -> Path:
        if kind not in made:
            from livegen.train.train_config import load_train_config
            from livegen.train.variation_loop import train

            out = tmp_path_factory.mktemp(f"{kind}_run")
            config = load_train_config(
                ROOT / "configs" / "train" / f"{kind}-smoke.toml",
                {"data.path": POP909_FILES, "run.out_dir": str(out), "optim.max_steps": 20,
                 "run.sample_every": 0},
            )  # fmt: skip
            train(config)
            made[kind] = out / "checkpoint.pt"
        return made[kind]

    return make


@pytest.fixture(scope="session")
def variation_model_dir(variation_checkpoint, tmp_path_factory: pytest.TempPathFactory):
    """model_dir(kind) -> Path of the exported folder (livegen export)."""
    made: dict[str, Path] = {}

    def make(kind: str) -> Path:
        if kind not in made:
            from livegen.cli import main

            out = tmp_path_factory.mktemp(f"{kind}_model") / "model"
            assert main(["export", "--onnx", str(variation_checkpoint(kind)), "-o", str(out)]) == 0
            made[kind] = out
        return made[kind]

    return make
