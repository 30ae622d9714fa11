"""`livegen generate` continues the prompt's own parts; `--channels` allows others."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import click
import pytest

from livegen.cli import main
from livegen.commands.model_cmds import parse_channels
from livegen.inference.generate import GenerateRequest, continuation_channels
from livegen.inference.model_dir import DEFAULT_MODEL_DIR
from livegen.inference.sampler import Constraints
from livegen.tokenizer import Note
from livegen.tokenizer.midi_file import read_midi

# a one-voice melody, all on channel 1 (0-based 0): see SOURCES.md
MARY = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi" / "short_mary_no_tempo.mid"


def _channels(path: Path) -> Counter[int]:
    return Counter(note.channel for note in read_midi(path).notes)


@pytest.fixture
def mary() -> Path:
    if not MARY.exists():
        pytest.skip(f"{MARY} not present")
    assert set(_channels(MARY)) == {0}
    return MARY


def _generate(prompt: Path, out: Path, model: Path | str, *extra: str) -> Counter[int]:
    argv = ["generate", str(prompt), "-o", str(out), "--bars", "16", "--seed", "1"]
    assert main([*argv, "--model", str(model), *extra]) == 0
    return _channels(out)


def test_the_shipped_model_continues_a_melody_on_its_own_channel(mary: Path, tmp_path) -> None:
    if not (DEFAULT_MODEL_DIR / "model.onnx").exists():
        pytest.skip("the default model does not ship in this checkout")
    channels = _generate(mary, tmp_path / "out.mid", "default")
    assert set(channels) == {0}
    assert channels[0] > len(read_midi(mary).notes)  # it did continue


def test_channels_all_lets_new_parts_appear(tiny_model, mary: Path, tmp_path) -> None:
    model = tiny_model("rope")
    assert set(_generate(mary, tmp_path / "own.mid", model)) == {0}
    # the random tiny model wanders over channels as soon as it may
    assert set(_generate(mary, tmp_path / "all.mid", model, "--channels", "all")) - {0}
    assert set(_generate(mary, tmp_path / "two.mid", model, "--channels", "1,10")) <= {0, 9}


def test_a_bad_channel_list_is_one_line(tmp_path, capsys) -> None:
    argv = ["generate", "-o", str(tmp_path / "x.mid"), "--channels", "0,17"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--channels" in err and "1-16" in err


@pytest.mark.parametrize(
    ("text", "channels"), [("1", (0,)), ("10,1, 2", (0, 1, 9)), ("all", ()), ("ALL", ())]
)
def test_channel_lists_are_midi_numbers(text: str, channels: tuple[int, ...]) -> None:
    assert parse_channels(text) == channels


@pytest.mark.parametrize("text", ["0", "17", "x", "", "1;2"])
def test_channel_lists_out_of_range_are_refused(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_channels(text)


def test_default_channels_are_the_prompts_and_any_without_a_prompt() -> None:
    notes = [Note(60, 0.0, 1.0, 80, 2), Note(36, 0.0, 1.0, 80, 9), Note(62, 1.0, 2.0, 80, 2)]
    assert continuation_channels(GenerateRequest(), notes) == (2, 9)
    assert continuation_channels(GenerateRequest(), []) == ()
    assert continuation_channels(GenerateRequest(channels=()), notes) == ()
    assert continuation_channels(GenerateRequest(channels=(4,)), notes) == (4,)
    pinned = GenerateRequest(channels=(4,), constraints=Constraints(channels=(5,)))
    assert continuation_channels(pinned, notes) == (5,)
