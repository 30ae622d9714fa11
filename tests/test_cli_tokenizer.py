"""`livegen roundtrip` and `livegen tokens` on real files, and their one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import mido
import pytest

from livegen.cli import main
from livegen.tokenizer import read_midi

SHARED_MIDI = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi"
PROMPT = Path(__file__).resolve().parents[1] / "livegen" / "assets" / "prompts"


def a_midi_file() -> Path:
    shipped = sorted(PROMPT.glob("*.mid"))
    return shipped[0] if shipped else SHARED_MIDI.resolve() / "piano_bach_score.mid"


def note_ons_in(path: Path) -> int:
    """The note-on messages (velocity > 0) in the file, counted with mido alone."""
    midi = mido.MidiFile(path)
    return sum(1 for msg in midi if msg.type == "note_on" and msg.velocity > 0)


def test_roundtrip_prints_counts_and_errors_and_writes_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = a_midi_file(), tmp_path / "out.mid"
    assert main(["roundtrip", str(source), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    notes_in = note_ons_in(source)
    assert re.search(rf"^notes in:\s+{notes_in} \(note-on messages in the file\)$", text, re.M)
    assert re.search(r"^notes out:\s+\d+$", text, re.M)
    assert re.search(r"^dropped:\s+0$", text, re.M)
    onset = float(re.search(r"largest onset error:\s+([\d.]+) grid steps", text).group(1))
    offset = float(re.search(r"largest offset error:\s+([\d.]+) grid steps", text).group(1))
    assert 0 <= onset <= 0.5 and offset >= 0
    assert len(read_midi(out).notes) == len(read_midi(source).notes)


def test_roundtrip_counts_the_files_own_note_ons_so_no_loss_hides(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A band file whose parts strike keys twice at one tick (41 times) and re-strike keys still
    sounding: notes in is what the file holds, and kept, merged and dropped add up to it."""
    source = SHARED_MIDI.resolve() / "band_mr_blue_sky.mid"
    assert main(["roundtrip", str(source)]) == 0
    text = capsys.readouterr().out
    notes_in = note_ons_in(source)
    assert notes_in == 4308 > len(read_midi(source).notes)
    assert re.search(rf"^notes in:\s+{notes_in} ", text, re.M), text
    kept, percent = re.search(r"^kept:\s+(\d+) \(([\d.]+)% of the notes in\)$", text, re.M).groups()
    assert float(percent) == pytest.approx(100 * int(kept) / notes_in, abs=0.005)
    merged_line = r"^merged:\s+(\d+) \((\d+) struck again at the same tick, (\d+) within one grid"
    merged, same_tick, grid = map(int, re.search(merged_line, text, re.M).groups())
    assert same_tick == 41 and merged == same_tick + grid
    dropped = int(re.search(r"^dropped:\s+(\d+)$", text, re.M).group(1))
    assert int(kept) + merged + dropped == notes_in


def test_tokens_prints_at_most_the_limit_and_counts_by_kind(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["tokens", str(a_midi_file()), "--limit", "7"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert len(lines[0].split()) == 7
    assert lines[0].startswith("BAR ")
    assert re.search(r"^\.\.\. \(\d+ more\)$", text, re.M)
    counts = dict(re.findall(r"^  (\w+)\s+(\d+)$", text, re.M))
    assert counts["NOTE_ON"] == counts["NOTE_OFF"] == counts["VELOCITY"]
    total = int(re.search(r"^(\d+) tokens", text, re.M).group(1))
    assert total == sum(int(c) for c in counts.values())


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livegen", *argv], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "make_argv, named",
    [
        (lambda d: ["roundtrip", str(d / "missing.mid"), "-o", str(d / "o.mid")], "missing.mid"),
        (lambda d: ["tokens", str(d / "notes.txt")], "notes.txt"),
        (lambda d: ["tokens", str(d / "sound.wav.mid")], "sound.wav.mid"),
        (lambda d: ["tokens", "--limit", "-3", str(d / "notes.txt")], "-3"),
        (
            lambda d: ["roundtrip", str(a_midi_file()), "-o", str(d / "no" / "dir" / "o.mid")],
            "o.mid",
        ),
    ],
    ids=["missing-file", "text-file", "wav-renamed", "negative-limit", "unwritable-output"],
)
def test_mistakes_print_one_error_line_and_fail(tmp_path: Path, make_argv, named: str) -> None:
    (tmp_path / "notes.txt").write_text("not midi\n")
    (tmp_path / "sound.wav.mid").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(24))
    (tmp_path / "no").write_text("a file where a folder is expected")
    result = _run(make_argv(tmp_path))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert named in lines[0]
