"""The chord and key estimators: rendered vocabulary chords, weighting, and real POP909 songs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from livegen.data.structure_accuracy import measure
from livegen.music.chords import NONE, QUALITIES, VOCABULARY, Chord, parse_chord
from livegen.music.estimate import estimate_chord, estimate_key
from livegen.music.keys import parse_key

POP909 = Path(os.environ["LIVEGEN_POP909"])  # tests/conftest.py finds it


def _notes(
    pitches: list[int], start: float = 0.0, end: float = 4.0, velocity: int = 80
) -> tuple[np.ndarray, ...]:
    count = len(pitches)
    return (
        np.array(pitches),
        np.full(count, start),
        np.full(count, end),
        np.full(count, float(velocity)),
    )


def _join(*parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    return tuple(np.concatenate(columns) for columns in zip(*parts, strict=True))


def _render(chord: Chord) -> tuple[np.ndarray, ...]:
    """Root in the bass (octave 3), the chord stacked from middle C's octave."""
    assert chord.root is not None
    return _notes([48 + chord.root] + [60 + chord.root + i for i in QUALITIES[chord.quality]])


@pytest.mark.parametrize("chord", VOCABULARY[1:], ids=lambda c: c.name)
def test_every_vocabulary_chord_played_in_root_position_is_recognised(chord: Chord) -> None:
    assert estimate_chord(*_render(chord), 0.0, 4.0) == chord


@pytest.mark.parametrize("name", ["C", "Am", "G7", "Fmaj7", "Dm7", "Bdim", "Esus4"])
def test_a_chord_is_recognised_over_a_melody_of_short_soft_passing_tones(name: str) -> None:
    chord = parse_chord(name)
    melody = [
        _notes([72 + (chord.root or 0) + step], start=i * 0.5, end=i * 0.5 + 0.25, velocity=50)
        for i, step in enumerate((1, 2, 5, 6))
    ]
    assert estimate_chord(*_join(_render(chord), *melody), 0.0, 4.0) == chord


def test_only_notes_sounding_in_the_window_count() -> None:
    notes = _join(_notes([48, 60, 64, 67], 0.0, 4.0), _notes([53, 65, 69, 72], 4.0, 8.0))
    assert estimate_chord(*notes, 0.0, 4.0).name == "C"
    assert estimate_chord(*notes, 4.0, 8.0).name == "F"
    assert estimate_chord(*notes, 3.5, 8.0).name == "F"  # mostly F: duration weighs
    assert estimate_chord(*notes, 8.0, 9.0) == NONE


@pytest.mark.parametrize(("c_velocity", "g_velocity", "name"), [(120, 30, "C"), (30, 120, "G")])
def test_louder_notes_weigh_more(c_velocity: int, g_velocity: int, name: str) -> None:
    # A C chord and a G chord for two beats each in one window: the louder one is the chord.
    c_chord = _notes([48, 60, 64, 67], 0.0, 2.0, c_velocity)
    g_chord = _notes([55, 62, 67, 71], 2.0, 4.0, g_velocity)
    assert estimate_chord(*_join(c_chord, g_chord), 0.0, 4.0).name == name


def test_the_bass_tells_chords_of_the_same_notes_apart() -> None:
    upper = [60, 64, 67, 69]  # C E G A: C6 or Am7
    assert estimate_chord(*_notes([45, *upper]), 0.0, 4.0).name == "Am7"
    assert estimate_chord(*_notes([48, *upper]), 0.0, 4.0).name == "C6"


def test_no_notes_is_no_chord_and_no_key() -> None:
    empty = (np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros(0))
    assert estimate_chord(*empty, 0.0, 4.0) == NONE
    assert estimate_key(*empty, 0.0, 4.0) is None


@pytest.mark.parametrize("profile", ["temperley", "krumhansl"])
@pytest.mark.parametrize("key", ["C major", "A minor", "F# major", "Eb minor"])
def test_a_cadence_names_its_key(key: str, profile: str) -> None:
    tonic = parse_key(key)
    assert tonic is not None
    minor = tonic.quality == "minor"
    third = 3 if minor else 4
    # i/I - iv/IV - V7 - i/I, block chords a bar each, then the scale once over the top.
    bars = [(0, third, 7), (5, 5 + (3 if minor else 4), 12), (7, 11, 14, 17), (0, third, 7)]
    scale = (0, 2, third, 5, 7, 8 if minor else 9, 11 if not minor else 10)
    parts = [
        _notes([48 + tonic.root + i for i in bar], 4.0 * n, 4.0 * n + 4)
        for n, bar in enumerate(bars)
    ]
    parts += [_notes([72 + tonic.root + s], 2.0 * n, 2.0 * n + 2) for n, s in enumerate(scale)]
    assert estimate_key(*_join(*parts), 0.0, 16.0, profile=profile) == tonic


# (songs, minimum root, exact, majmin accuracy): measured 0.95 / 0.85 / 0.93 on these.
REAL_SONGS = ("001", "002", "003", "004", "005", "007", "009", "011")


def test_pop909_chords_are_estimated_as_labelled() -> None:
    assert (POP909 / "midi").is_dir(), f"POP909 not found at {POP909}"
    report = measure(POP909, REAL_SONGS)
    assert report.segments > 500
    assert report.root.share >= 0.90
    assert report.exact.share >= 0.80
    assert report.majmin.share >= 0.88


def test_pop909_keys_are_estimated_as_labelled() -> None:
    assert (POP909 / "midi").is_dir(), f"POP909 not found at {POP909}"
    report = measure(POP909, REAL_SONGS)
    assert report.key_segments == len(REAL_SONGS)  # one key each
    assert report.key.hit == len(REAL_SONGS)


def test_a_lone_melody_note_is_read_in_the_key() -> None:
    e = _notes([64])  # E alone: a dozen chords hold it
    in_c = estimate_chord(*e, 0.0, 4.0, key=parse_key("C major"))
    assert in_c.pitch_classes <= parse_key("C major").pitch_classes and 4 in in_c.pitch_classes
    in_e = estimate_chord(*e, 0.0, 4.0, key=parse_key("E major"))
    assert in_e.pitch_classes <= parse_key("E major").pitch_classes


def test_the_chord_followed_so_far_stays_while_it_still_fits_nearly_as_well() -> None:
    e_and_g = _notes([67, 76])  # C and Em hold them both, G in the bass favours neither
    assert estimate_chord(*e_and_g, 0.0, 4.0, previous=parse_chord("C")) == parse_chord("C")
    assert estimate_chord(*e_and_g, 0.0, 4.0, previous=parse_chord("Em")) == parse_chord("Em")
    # a chord without those notes does not hold on
    assert estimate_chord(*e_and_g, 0.0, 4.0, previous=parse_chord("F#")) != parse_chord("F#")
