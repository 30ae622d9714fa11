"""One key parser for the live key lock, the TUI and offline generation: names and scales."""

from __future__ import annotations

import pytest

from livegen.errors import ConfigError
from livegen.music.keys import KEY_CHOICES, key_pitch_classes, parse_key

C_MAJOR = {0, 2, 4, 5, 7, 9, 11}
A_MINOR = {9, 11, 0, 2, 4, 5, 7, 8}  # natural minor (G) and harmonic minor's raised 7th (G#)


@pytest.mark.parametrize(
    ("text", "name", "classes"),
    [
        ("C major", "C major", C_MAJOR),
        ("C", "C major", C_MAJOR),
        ("c", "C major", C_MAJOR),
        ("A minor", "A minor", A_MINOR),
        ("Am", "A minor", A_MINOR),
        ("am", "A minor", A_MINOR),
        ("a  MIN", "A minor", A_MINOR),
        ("F# major", "F# major", {6, 8, 10, 11, 1, 3, 5}),
        ("f#m", "F# minor", None),
        ("Bb maj", "A# major", {10, 0, 2, 3, 5, 7, 9}),
        ("bb", "A# major", None),
        ("Db min", "C# minor", None),
    ],
)
def test_key_names_mean_the_same_everywhere(text: str, name: str, classes: set[int] | None) -> None:
    key = parse_key(text)
    assert key is not None and key.name == name and key.name in KEY_CHOICES
    if classes is not None:
        assert key_pitch_classes(text) == classes


def test_a_minor_key_lock_allows_both_sevenths() -> None:
    assert {7, 8} <= key_pitch_classes("A minor")  # G and G#


@pytest.mark.parametrize("text", ["", "  ", "off", "None"])
def test_off_is_no_key(text: str) -> None:
    assert parse_key(text) is None and key_pitch_classes(text) is None


@pytest.mark.parametrize("text", ["H major", "C blues", "C# major minor", "Cx"])
def test_a_bad_key_is_one_config_error_naming_the_forms(text: str) -> None:
    with pytest.raises(ConfigError, match=f"key lock {text!r} not understood.*C major"):
        parse_key(text)


@pytest.mark.parametrize(
    ("text", "classes", "tonality"),
    [
        ("D dorian", {2, 4, 5, 7, 9, 11, 0}, "minor"),  # the white keys from D
        ("E phrygian", {4, 5, 7, 9, 11, 0, 2}, "minor"),
        ("F lydian", {5, 7, 9, 11, 0, 2, 4}, "major"),
        ("G mixolydian", {7, 9, 11, 0, 2, 4, 5}, "major"),
        ("A aeolian", {9, 11, 0, 2, 4, 5, 7}, "minor"),  # natural minor only: no G#
        ("B locrian", {11, 0, 2, 4, 5, 7, 9}, "minor"),
        ("C ionian", C_MAJOR, "major"),
        ("Bb Dorian", {10, 0, 1, 3, 5, 7, 8}, "minor"),
    ],
)
def test_a_mode_is_exactly_its_seven_notes(text: str, classes: set[int], tonality: str) -> None:
    key = parse_key(text)
    assert key is not None and key.pitch_classes == classes and key.tonality == tonality
    assert parse_key(key.name) == key


def test_major_and_minor_keys_name_their_tonality() -> None:
    assert parse_key("F# minor").tonality == "minor" and parse_key("Eb").tonality == "major"


def test_the_error_names_what_was_asked_for() -> None:
    with pytest.raises(ConfigError, match=r"^--key 'D doric' not understood.*'D dorian'"):
        parse_key("D doric", what="--key")
