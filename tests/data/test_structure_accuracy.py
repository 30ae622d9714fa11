"""`livegen data chord-accuracy`: the estimators against POP909's labels, from the command line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from livegen.cli import main
from livegen.data.structure_accuracy import read_keys_only
from livegen.tokenizer.midi_file import read_midi


POP909 = Path(os.environ["LIVEGEN_POP909"])  # tests/conftest.py finds it


def test_the_command_reports_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert (POP909 / "midi").is_dir(), f"POP909 not found at {POP909}"
    assert main(["data", "chord-accuracy", "--corpus", str(POP909), "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 songs, ")
    for figure in ("chord root", "chord exact", "chord majmin", "key exact", "key mirex", "µs"):
        assert figure in out


def test_a_missing_corpus_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "chord-accuracy", "--corpus", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no POP909 corpus at" in err and str(tmp_path) in err


def test_without_the_pedal_notes_last_as_long_as_their_keys() -> None:
    # Song 044 presses the pedal 165 times and never lifts it: with it, notes ring on for bars.
    path = POP909 / "midi" / "044.mid"
    with_pedal, keys_only = read_midi(path), read_keys_only(path)
    assert len(with_pedal.notes) == len(keys_only.notes)
    longest = sorted(n.end_beat - n.start_beat for n in keys_only.notes)[
        -len(keys_only.notes) // 10
    ]
    ringing = sorted(n.end_beat - n.start_beat for n in with_pedal.notes)[
        -len(keys_only.notes) // 10
    ]
    assert longest < 4 < ringing
