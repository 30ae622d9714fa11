"""A remi-bpe and a triplet model go through training, export and generate; the model folder
carries the language (remi-bpe's BPE file included) and the live path refuses it in one line."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from language_testdata import MIDI_DIR

from livegen.cli import main
from livegen.errors import TokenizerMismatchError
from livegen.inference.engine import Engine
from livegen.languages.recorded import recorded_language
from livegen.languages.remi import BPE_FILE
from livegen.tokenizer import read_midi

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "train" / "smoke.toml"
FILES = ("short_melody.mid", "type0_english1.mid", "type0_bach_prelude.mid", "tempo_pop909_010.mid")
PROMPT = MIDI_DIR / "short_melody.mid"


def _model(root: Path, name: str) -> tuple[Path, Path]:
    """Prepare, train 10 steps and export one language; (data folder, model folder)."""
    from livegen.export.transformer_onnx import export_checkpoint
    from livegen.train.loop import train
    from livegen.train.train_config import load_train_config

    from livegen.data.prepare import PrepareOptions, prepare

    midi = root / "midi"
    midi.mkdir(parents=True)
    for file in FILES:
        shutil.copy(MIDI_DIR / file, midi / file)
    options = PrepareOptions(val_fraction=0.25, test_fraction=0.0, workers=1, progress=False)
    data = root / "data"
    prepare(midi, data, options=options, language=name, bpe_vocab_size=740)
    overrides = {
        "data.path": str(data),
        "run.out_dir": str(root / "run"),
        "run.progress": False,
        "run.sample_every": 0,
        "data.augment": False,
        "optim.max_steps": 10,
    }
    train(load_train_config(SMOKE, overrides))
    export_checkpoint(root / "run" / "checkpoint.pt", root / "model")
    return data, root / "model"


@pytest.fixture(scope="module", params=["remi-bpe", "triplet"])
def made(request, tmp_path_factory) -> tuple[str, Path, Path]:
    name = request.param
    data, model = _model(tmp_path_factory.mktemp(name), name)
    return name, data, model


def test_the_model_folder_records_the_data_language(made) -> None:
    name, data, model = made
    from_data, from_model = recorded_language(data), recorded_language(model)
    assert from_model.name == name
    assert from_model.settings() == from_data.settings()
    assert (model / BPE_FILE).is_file() == (name == "remi-bpe")


def test_the_live_path_refuses_it_in_one_line(made) -> None:
    name, _, model = made
    with pytest.raises(TokenizerMismatchError, match=f"speaks the {name} token language; live"):
        Engine.load(model)


def test_generate_continues_a_prompt_in_the_model_language(made, tmp_path: Path, capsys) -> None:
    _, _, model = made
    out = tmp_path / "out.mid"
    args = ["generate", str(PROMPT), "-o", str(out), "--model", str(model), "--tokens", "64"]
    assert main([*args, "--seed", "3"]) == 0, capsys.readouterr().err
    prompt_notes = len(read_midi(PROMPT).notes)
    assert f"{prompt_notes} prompt notes" in capsys.readouterr().out
    assert len(read_midi(out).notes) >= prompt_notes


def test_fine_tuning_across_languages_is_refused(made, tmp_path: Path) -> None:
    from livegen.train.loop import train
    from livegen.train.train_config import load_train_config

    from livegen.data.prepare import PrepareOptions, prepare

    _, data, model = made
    events = tmp_path / "events"
    options = PrepareOptions(val_fraction=0.0, test_fraction=0.0, workers=1, progress=False)
    prepare(data.parent / "midi", events, options=options)
    overrides = {"data.path": str(events), "run.out_dir": str(tmp_path / "run")}
    config = load_train_config(SMOKE, {**overrides, "run.progress": False})
    with pytest.raises(TokenizerMismatchError):
        train(config, init_from=str(model.parent / "run" / "checkpoint.pt"))


def test_eval_scores_bits_per_note_the_same_through_torch_and_onnx(made) -> None:
    from livegen.train.language_eval import evaluate_in_language

    name, data, model = made
    onnx = evaluate_in_language(model, data, split="val", progress=False)
    torch = evaluate_in_language(model.parent / "run" / "checkpoint.pt", data, split="val")
    assert onnx["language"] == torch["language"] == name
    assert onnx["tokens"] == torch["tokens"] > 0
    assert abs(onnx["nll"] - torch["nll"]) < 1e-3
    per_note = torch["nll"] * torch["tokens"] / torch["notes"] / math.log(2)
    assert torch["bits_per_note"] == pytest.approx(per_note)
