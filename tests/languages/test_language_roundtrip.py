"""Every language keeps >= 99.5% of the notes of the real test MIDI files, onsets within half a
step of its 24-per-beat grid (1/48 beat, inside the issue's 1/24)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from language_testdata import midi_files, score_of

from livegen.languages import Language, language_from, new_language
from livegen.languages.remi import RemiBpeLanguage
from livegen.languages.roundtrip import round_trip_language

# The two largest files (38k notes) cost a minute per language on a loaded 2-core machine and
# add nothing the four MAESTRO performances do not test.
FILES = [p for p in midi_files() if not p.name.startswith("large_")]
# BPE encoding and decoding runs MidiTok's merges per bar: the short and type-0 files test it.
BPE_FILES = [p for p in FILES if p.name.startswith(("short_", "type0_", "tempo_pop909"))]
HALF_STEP_BEATS = 0.5 / 24 + 1e-6


@functools.cache
def language(name: str) -> Language:
    if name == "remi-bpe":
        # BPE learned on files the round trip does not see, as on a train split
        train = [score_of(p) for p in FILES if p.name.startswith(("band_", "orch_"))]
        return RemiBpeLanguage.train(train, vocab_size=1000)
    return new_language(name)


def _check(name: str, path: Path) -> None:
    score = score_of(path)
    tokens, _, measures = round_trip_language(language(name), score)
    representable = len(score.notes) - measures["merged"]
    kept = measures["kept"] / representable if representable else 1.0
    assert kept >= 0.995, f"{path.name}: kept {measures['kept']} of {representable}"
    assert measures["max_onset_error_beats"] <= HALF_STEP_BEATS
    if score.notes:
        assert tokens[0] == language(name).bos and tokens[-1] == language(name).eos


@pytest.mark.parametrize("name", ["events", "remi", "triplet"])
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_a_language_keeps_the_notes_of_a_real_file(name: str, path: Path) -> None:
    _check(name, path)


@pytest.mark.parametrize("path", BPE_FILES, ids=lambda p: p.name)
def test_remi_bpe_keeps_the_notes_of_a_real_file(path: Path) -> None:
    _check("remi-bpe", path)


def test_bpe_writes_fewer_tokens_than_plain_remi() -> None:
    scores = [score_of(p) for p in BPE_FILES]
    plain = sum(len(language("remi").encode(s)) for s in scores)
    merged = sum(len(language("remi-bpe").encode(s)) for s in scores)
    assert merged < 0.9 * plain


def test_a_trained_bpe_language_is_rebuilt_from_its_settings_and_file(tmp_path: Path) -> None:
    trained = language("remi-bpe")
    trained.save_files(tmp_path)
    again = language_from(trained.settings(), tmp_path)
    score = score_of(BPE_FILES[0])
    assert again.encode(score) == trained.encode(score)
    assert again.size == trained.size == 1000
