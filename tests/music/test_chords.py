"""The chord vocabulary: names round-trip, pitch classes, POP909's labels, progressions, errors."""

from __future__ import annotations

import pytest

from livegen.errors import ConfigError
from livegen.music.chords import (
    NONE,
    QUALITIES,
    VOCABULARY,
    Chord,
    majmin,
    parse_chord,
    parse_harte,
    parse_progression,
)


def test_the_vocabulary_is_12_roots_by_15_qualities_plus_no_chord() -> None:
    assert len(QUALITIES) == 15
    assert len(VOCABULARY) == 12 * 15 + 1 == len(set(VOCABULARY))
    assert VOCABULARY[0] == NONE


@pytest.mark.parametrize("chord", VOCABULARY, ids=lambda c: c.name)
def test_every_vocabulary_chord_parses_back_from_its_name(chord: Chord) -> None:
    assert parse_chord(chord.name) == chord
    if chord.root is not None:
        slash = Chord(chord.root, chord.quality, (chord.root + 7) % 12)
        assert parse_chord(slash.name) == slash


@pytest.mark.parametrize(
    ("text", "name", "classes"),
    [
        ("C", "C", {0, 4, 7}),
        ("Am", "Am", {9, 0, 4}),
        ("F#m7", "F#m7", {6, 9, 1, 4}),
        ("Bb7", "A#7", {10, 2, 5, 8}),
        ("G/B", "G/B", {7, 11, 2}),
        ("C/Bb", "C/A#", {0, 4, 7, 10}),  # a bass outside the chord adds its note
        ("Cmaj7", "Cmaj7", {0, 4, 7, 11}),
        ("CM7", "Cmaj7", {0, 4, 7, 11}),
        ("C-7", "Cm7", {0, 3, 7, 10}),
        ("Bø", "Bm7b5", {11, 2, 5, 9}),
        ("Ebdim7", "D#dim7", {3, 6, 9, 0}),
        ("Caug", "Caug", {0, 4, 8}),
        ("C+", "Caug", {0, 4, 8}),
        ("Dsus", "Dsus4", {2, 7, 9}),
        ("Dsus2", "Dsus2", {2, 4, 9}),
        ("G7sus4", "G7sus4", {7, 0, 2, 5}),
        ("F6", "F6", {5, 9, 0, 2}),
        ("Am6", "Am6", {9, 0, 4, 6}),
        ("CmMaj7", "CmMaj7", {0, 3, 7, 11}),
        ("Bdim", "Bdim", {11, 2, 5}),
        ("Db", "C#", {1, 5, 8}),
        ("Cb", "B", {11, 3, 6}),
        ("N", "N", set()),
        ("N.C.", "N", set()),
    ],
)
def test_a_chord_name_gives_its_pitch_classes(text: str, name: str, classes: set[int]) -> None:
    chord = parse_chord(text)
    assert chord.name == name
    assert chord.pitch_classes == classes


@pytest.mark.parametrize("text", ["H", "Cmaj9", "C9", "Cadd9", "C/H", "", "Xm", "C#m#", "m7", "C/"])
def test_a_bad_chord_is_one_line_naming_it_and_the_forms(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_chord(text)
    message = str(caught.value)
    assert "\n" not in message
    assert repr(text.strip()) in message
    assert "'m7'" in message and "G/B" in message


def test_a_progression_is_chords_between_spaces_commas_or_bar_lines() -> None:
    assert [c.name for c in parse_progression("C G Am F")] == ["C", "G", "Am", "F"]
    assert [c.name for c in parse_progression("| Dm7 | G7 | Cmaj7 |")] == ["Dm7", "G7", "Cmaj7"]
    assert [c.name for c in parse_progression("Bb, F/A,Gm  N")] == ["A#", "F/A", "Gm", "N"]


@pytest.mark.parametrize(
    ("text", "bad"), [("C G Hm F", "'Hm'"), ("C Gmaj9 Am", "'Gmaj9'"), ("  ", "empty")]
)
def test_a_bad_progression_is_one_line_naming_the_symbol(text: str, bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_progression(text)
    message = str(caught.value)
    assert "\n" not in message
    assert bad in message
    assert repr(text.strip()) in message or bad == "empty"


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("C:maj", "C"),
        ("A:min7", "Am7"),
        ("Db:maj/3", "C#/F"),
        ("E:min/b3", "Em/G"),
        ("G:7/b7", "G7/F"),
        ("F:maj7/7", "Fmaj7/E"),
        ("C:maj/5", "C/G"),
        ("B:hdim7", "Bm7b5"),
        ("A:sus4(b7)", "A7sus4"),
        ("F:maj6", "F6"),
        ("D:min6", "Dm6"),
        ("E:minmaj7", "EmMaj7"),
        ("Gb:dim7", "F#dim7"),
        ("Ab:aug", "G#aug"),
        ("N", "N"),
    ],
)
def test_pop909_labels_map_onto_the_vocabulary(label: str, name: str) -> None:
    assert parse_harte(label).name == name


@pytest.mark.parametrize("label", ["C:maj9", "H:maj", "C:maj/13", "Cmaj"])
def test_an_unknown_pop909_label_is_an_error(label: str) -> None:
    with pytest.raises(ConfigError, match="not understood"):
        parse_harte(label)


@pytest.mark.parametrize(
    ("text", "reduced"),
    [("C7", "C"), ("Cmaj7", "C"), ("C6", "C"), ("Cm7", "Cm"), ("Cm6", "Cm"), ("N", "N")],
)
def test_majmin_reduces_by_third_and_fifth(text: str, reduced: str) -> None:
    chord = majmin(parse_chord(text))
    assert chord is not None and chord.name == reduced


@pytest.mark.parametrize("text", ["Cdim", "Caug", "Csus4", "Csus2", "Cm7b5", "Cdim7"])
def test_chords_without_a_major_or_minor_triad_have_no_majmin_class(text: str) -> None:
    assert majmin(parse_chord(text)) is None
