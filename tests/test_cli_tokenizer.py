"""`livegen roundtrip` and `livegen tokens` on real files, and their one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from livegen.cli import main
from livegen.tokenizer import read_midi

SHARED_MIDI = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi"
PROMPT = Path(__file__).resolve().parents[1] / "livegen" / "assets" / "prompts"


def a_midi_file() -> Path:
    shipped = sorted(PROMPT.glob("*.mid"))
    return shipped[0] if shipped else SHARED_MIDI.resolve() / "piano_bach_score.mid"


def test_roundtrip_prints_counts_and_errors_and_writes_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = a_midi_file(), tmp_path / "out.mid"
    assert main(["roundtrip", str(source), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    notes_in = len(read_midi(source).notes)
    assert re.search(rf"^notes in:\s+{notes_in}$", text, re.M), text
    assert re.search(r"^notes out:\s+\d+$", text, re.M)
    assert re.search(r"^dropped:\s+0$", text, re.M)
    onset = float(re.search(r"largest onset error:\s+([\d.]+) grid steps", text).group(1))
    offset = float(re.search(r"largest offset error:\s+([\d.]+) grid steps", text).group(1))
    assert 0 <= onset <= 0.5 and offset >= 0
    assert len(read_midi(out).notes) == notes_in


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
