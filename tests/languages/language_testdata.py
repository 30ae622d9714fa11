"""The shared MIDI test files for the language tests, each read once."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from livegen.tokenizer import Score, read_midi
from livegen.tokenizer.midi_file import is_midi_name

# tests/conftest.py sets LIVEGEN_TESTDATA (../shared/testdata beside the checkout).
MIDI_DIR = Path(os.environ["LIVEGEN_TESTDATA"]).resolve() / "midi"


def midi_files() -> list[Path]:
    return sorted(p for p in MIDI_DIR.glob("*") if p.is_file() and is_midi_name(p))


@functools.cache
def score_of(path: Path) -> Score:
    return read_midi(path)
