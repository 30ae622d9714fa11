"""Where the shared MIDI test files are, and a cached reader so each file is parsed once."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from livegen.tokenizer import Score, read_midi
from livegen.tokenizer.midi_file import is_midi_name

# tests/conftest.py sets LIVEGEN_TESTDATA (../shared/testdata beside the checkout).
MIDI_DIR = Path(os.environ["LIVEGEN_TESTDATA"]).resolve() / "midi"
CORRUPT_DIR = MIDI_DIR / "corrupt"


def midi_files() -> list[Path]:
    return sorted(p for p in MIDI_DIR.glob("*") if p.is_file() and is_midi_name(p))


def corrupt_files() -> list[Path]:
    return sorted(p for p in CORRUPT_DIR.glob("*") if p.is_file())


@functools.cache
def score_of(path: Path) -> Score:
    return read_midi(path)
