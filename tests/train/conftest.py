"""Fixtures for the training tests: a tiny prepared dataset and one smoke run, made once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

TESTDATA = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi"
if not TESTDATA.is_dir():
    TESTDATA = Path("/work/shared/testdata/midi")

# small real files: melodies, piano, a drum beat, a multi-channel song, plus two bad ones
SMALL_FILES = (
    "short_melody.mid",
    "type0_english1.mid",
    "type0_english2.mid",
    "piano_mozart_k265_var1_quantized.mid",
    "drums_only_beat.mid",
    "type0_bach_prelude.mid",
    "piano_bach_score.mid",
    "tempo_pop909_010.mid",
    "short_41_tracks_is_drum.mid",
    "tempo_etude_no4.mid",
    "short_empty_no_notes.mid",
    "corrupt/data_byte_168.mid",
)
SMOKE_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train" / "smoke.toml"


def copy_small_midi(dest: Path) -> Path:
    for name in SMALL_FILES:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(TESTDATA / name, target)
    return dest


@pytest.fixture(scope="session")
def midi_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_small_midi(tmp_path_factory.mktemp("midi"))


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory, midi_folder: Path) -> Path:
    from livegen.data.prepare import PrepareOptions, prepare

    out = tmp_path_factory.mktemp("prepared")
    options = PrepareOptions(val_fraction=0.25, test_fraction=0.25, workers=1, progress=False)
    prepare(midi_folder, out, options=options)
    return out


def smoke_config(data: Path, out: Path, **overrides):
    from livegen.train.train_config import load_train_config

    values = {"data.path": str(data), "run.out_dir": str(out), "run.progress": False}
    values.update(overrides)
    return load_train_config(SMOKE_CONFIG, values)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, prepared: Path) -> Path:
    """The smoke config trained once (30 steps) on the tiny dataset; its run folder."""
    from livegen.train.loop import train

    out = tmp_path_factory.mktemp("smoke") / "run"
    train(smoke_config(prepared, out))
    return out


HIER_SMOKE_CONFIG = SMOKE_CONFIG.with_name("hier-smoke.toml")


def hier_smoke_config(data: Path, out: Path, **overrides):
    from livegen.train.train_config import load_train_config

    values = {"data.path": str(data), "run.out_dir": str(out), "run.progress": False}
    values.update(overrides)
    return load_train_config(HIER_SMOKE_CONFIG, values)


@pytest.fixture(scope="session")
def hier_smoke_run(tmp_path_factory: pytest.TempPathFactory, prepared: Path) -> Path:
    """configs/train/hier-smoke.toml trained once (30 steps) on the tiny dataset; its folder."""
    from livegen.train.loop import train

    out = tmp_path_factory.mktemp("hier-smoke") / "run"
    train(hier_smoke_config(prepared, out))
    return out
