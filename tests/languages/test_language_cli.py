"""`livegen roundtrip` and `livegen tokens` in every language, from the shell."""

from __future__ import annotations

from pathlib import Path

import pytest
from language_testdata import MIDI_DIR

from livegen.cli import main
from livegen.data.prepare import PrepareOptions, prepare
from livegen.tokenizer import read_midi

SONG = MIDI_DIR / "tempo_pop909_010.mid"


@pytest.mark.parametrize("name", ["events", "remi", "remi-bpe", "triplet"])
def test_roundtrip_writes_the_notes_back(name: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "back.mid"
    assert main(["roundtrip", "--tokenizer", name, str(SONG), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dropped:     0\n" in printed
    assert len(read_midi(out).notes) == len(read_midi(SONG).notes)


def test_tokens_names_them_and_counts_per_note(capsys) -> None:
    assert main(["tokens", "--tokenizer", "triplet", "--limit", "5", str(SONG)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("BOS ") and "per note), triplet vocabulary 596" in printed


def test_tokenizer_from_a_prepared_folder_uses_its_language(tmp_path: Path, capsys) -> None:
    options = PrepareOptions(val_fraction=0.0, test_fraction=0.0, workers=1, progress=False)
    folder = tmp_path / "midi"
    folder.mkdir()
    (folder / SONG.name).write_bytes(SONG.read_bytes())
    prepare(folder, tmp_path / "d", options=options, language="triplet")
    assert main(["roundtrip", "--tokenizer-from", str(tmp_path / "d"), str(SONG)]) == 0
    assert "language:    triplet" in capsys.readouterr().out
    args = ["tokens", "--tokenizer", "remi", "--tokenizer-from", str(tmp_path / "d"), str(SONG)]
    assert main(args) == 1
    assert "--tokenizer remi, but" in capsys.readouterr().err
