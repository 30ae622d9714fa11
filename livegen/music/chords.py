"""Chords: the one vocabulary (12 roots x 15 qualities + "N"), chord names, their pitch classes.

Used by `--chords "C G Am F"` progressions, by the chord estimator (`music/estimate.py`) and by
POP909's labels (`parse_harte`), so "Am7" means the same everywhere.

The vocabulary (QUALITIES): what pop, rock and jazz lead sheets write, and every quality POP909
labels, so its labels map onto it without loss of root or quality:

| quality | intervals | written | | quality | intervals | written |
|---|---|---|---|---|---|---|
| maj | 0 4 7 | C | | min7 | 0 3 7 10 | Cm7 |
| min | 0 3 7 | Cm | | m7b5 | 0 3 6 10 | Cm7b5 (Cø) |
| dim | 0 3 6 | Cdim | | dim7 | 0 3 6 9 | Cdim7 |
| aug | 0 4 8 | Caug | | 6 | 0 4 7 9 | C6 |
| sus2 | 0 2 7 | Csus2 | | min6 | 0 3 7 9 | Cm6 |
| sus4 | 0 5 7 | Csus4 | | 7sus4 | 0 5 7 10 | C7sus4 |
| 7 | 0 4 7 10 | C7 | | minmaj7 | 0 3 7 11 | CmMaj7 |
| maj7 | 0 4 7 11 | Cmaj7 | | | | |

12 roots x 15 qualities = 180 chords, plus "N" (no chord: silence, or drums only). A chord may
name a bass ("G/B"): the bass is kept for the notes it implies, not as a separate chord. Some
chords share their pitch classes (C6 = Am7, Cdim7 = Ebdim7, Caug = Eaug, Csus2 = Gsus4): the
name says which note is the root, which only the bass or the context can tell apart.

Extensions beyond these (9, 11, 13, add9, alterations) are refused rather than silently reduced:
the error lists the qualities there are. Roots are spelled with sharps (keys.NOTE_NAMES), so
"Bb7" comes back as "A#7".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from livegen.errors import ConfigError
from livegen.music.keys import NOTE_NAMES

# Quality -> intervals above the root (root first, then in the order a chord is stacked).
QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "m7b5": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
    "6": (0, 4, 7, 9),
    "min6": (0, 3, 7, 9),
    "7sus4": (0, 5, 7, 10),
    "minmaj7": (0, 3, 7, 11),
}
# How each quality is written after its root: the canonical chord names.
SUFFIXES: dict[str, str] = {
    "maj": "",
    "min": "m",
    "dim": "dim",
    "aug": "aug",
    "sus2": "sus2",
    "sus4": "sus4",
    "7": "7",
    "maj7": "maj7",
    "min7": "m7",
    "m7b5": "m7b5",
    "dim7": "dim7",
    "6": "6",
    "min6": "m6",
    "7sus4": "7sus4",
    "minmaj7": "mMaj7",
}
# Every spelling the parser takes (case matters only for M = major vs m = minor).
_ALIASES: dict[str, str] = {
    **{suffix: quality for quality, suffix in SUFFIXES.items()},
    **{quality: quality for quality in QUALITIES},
    "M": "maj",
    "major": "maj",
    "-": "min",
    "minor": "min",
    "o": "dim",
    "°": "dim",
    "+": "aug",
    "sus": "sus4",
    "M7": "maj7",
    "Maj7": "maj7",
    "Δ": "maj7",
    "Δ7": "maj7",
    "-7": "min7",
    "ø": "m7b5",
    "ø7": "m7b5",
    "hdim7": "m7b5",
    "min7b5": "m7b5",
    "o7": "dim7",
    "°7": "dim7",
    "maj6": "6",
    "M6": "6",
    "-6": "min6",
    "7sus": "7sus4",
    "sus4(b7)": "7sus4",
    "mM7": "minmaj7",
    "m(maj7)": "minmaj7",
}
NO_CHORD = "N"
_LETTERS = {name: pc for pc, name in enumerate(NOTE_NAMES) if len(name) == 1}
_NOTE = re.compile(r"([A-Ga-g])([#b]*)")
_SEPARATORS = re.compile(r"[\s,|]+")
_HELP = (
    "write a root A-G (# or b), a quality ("
    + ", ".join(repr(s) for s in SUFFIXES.values())
    + ") and optionally /bass, e.g. 'C', 'F#m7', 'Bb7', 'G/B', or N for no chord"
)


@dataclass(frozen=True)
class Chord:
    """A chord of the vocabulary: root pitch class 0..11 and quality, or no chord (root None).

    `bass` is the pitch class of a slash chord's bass ("G/B": 11), None when it is the root.
    """

    root: int | None
    quality: str = "maj"
    bass: int | None = None

    @property
    def is_none(self) -> bool:
        return self.root is None

    @property
    def name(self) -> str:
        """The canonical name: "C", "A#m7", "G/B", "N"; parse_chord(name) gives it back."""
        if self.root is None:
            return NO_CHORD
        slash = "" if self.bass is None else "/" + NOTE_NAMES[self.bass]
        return NOTE_NAMES[self.root] + SUFFIXES[self.quality] + slash

    @property
    def pitch_classes(self) -> frozenset[int]:
        """The chord's pitch classes, its bass included; empty for N."""
        if self.root is None:
            return frozenset()
        tones = {(self.root + interval) % 12 for interval in QUALITIES[self.quality]}
        return frozenset(tones if self.bass is None else tones | {self.bass})

    def without_bass(self) -> Chord:
        return Chord(self.root, self.quality) if self.root is not None else NONE


NONE = Chord(None, "")
# Every chord of the vocabulary, "N" first: the order a CHORD token numbering can follow.
VOCABULARY: tuple[Chord, ...] = (
    NONE,
    *(Chord(root, quality) for root in range(12) for quality in QUALITIES),
)


def _note(text: str) -> int | None:
    """Pitch class of a note name ("C", "f#", "Bb", "Ebb"), None if it is not one."""
    match = _NOTE.fullmatch(text)
    if match is None:
        return None
    letter, accidentals = match.groups()
    return (_LETTERS[letter.upper()] + accidentals.count("#") - accidentals.count("b")) % 12


def parse_chord(text: str) -> Chord:
    """A chord from its name: "C", "Am", "F#m7", "Bb7", "G/B", "Cmaj7", "N".

    Raises ConfigError naming the symbol and the accepted forms, on one line.
    """
    symbol = text.strip()
    if symbol.upper() in (NO_CHORD, "NC", "N.C."):
        return NONE
    head, slash, bass_text = symbol.partition("/")
    match = _NOTE.match(head)
    root = _note(match.group(0)) if match else None
    quality = _ALIASES.get(head[match.end() :]) if match else None
    bass = _note(bass_text) if slash else None
    if root is None or quality is None or (slash and bass is None):
        raise ConfigError(f"chord {symbol!r} not understood: {_HELP}")
    return Chord(root, quality, None if bass == root else bass)


def parse_progression(text: str) -> tuple[Chord, ...]:
    """Chords separated by spaces, commas or bar lines: "C G Am F", "| Dm7 | G7 | Cmaj7 |".

    Raises ConfigError naming the bad symbol and the progression, on one line.
    """
    symbols = [s for s in _SEPARATORS.split(text) if s]
    if not symbols:
        raise ConfigError(f"chord progression {text!r} is empty: {_HELP}")
    chords = []
    for symbol in symbols:
        try:
            chords.append(parse_chord(symbol))
        except ConfigError as err:
            raise ConfigError(f"{err} (in progression {text.strip()!r})") from err
    return tuple(chords)


# POP909's (Harte-style) bass degrees: interval above the root.
_DEGREES = {"1": 0, "b2": 1, "2": 2, "b3": 3, "3": 4, "4": 5, "#4": 6, "b5": 6, "5": 7}
_DEGREES |= {"#5": 8, "b6": 8, "6": 9, "bb7": 9, "b7": 10, "7": 11, "9": 2, "b9": 1}


def parse_harte(label: str) -> Chord:
    """A chord from a POP909 (Harte-style) label: "C:maj", "A:min7", "Db:maj/3", "G:hdim7", "N".

    POP909's qualities map one to one: maj, min, dim, aug, sus2, sus4, 7, maj7, min7, dim7 by
    name; hdim7 -> m7b5; maj6 -> 6; min6; sus4(b7) -> 7sus4; minmaj7. The bass is an interval
    above the root ("/3", "/b7") and becomes a pitch class. Raises ConfigError for other labels.
    """
    label = label.strip()
    if label == NO_CHORD:
        return NONE
    root_text, _, rest = label.partition(":")
    quality_text, slash, degree = rest.partition("/")
    root = _note(root_text)
    quality = _ALIASES.get(quality_text or "maj")
    if root is None or quality is None or (slash and degree not in _DEGREES):
        raise ConfigError(f"chord label {label!r} not understood (Harte form, e.g. 'A:min7/b3')")
    bass = (root + _DEGREES[degree]) % 12 if slash and _DEGREES[degree] else None
    return Chord(root, quality, bass)


def majmin(chord: Chord) -> Chord | None:
    """The MIREX "majmin" reduction: maj, min or N by the chord's third and fifth.

    Chords with a major third and perfect fifth reduce to maj (maj, 7, maj7, 6), with a minor
    third and perfect fifth to min (min, min7, min6, minmaj7); the rest (dim, aug, sus, m7b5,
    dim7) have no majmin class and come back as None, left out of majmin scores.
    """
    if chord.root is None:
        return NONE
    intervals = set(QUALITIES[chord.quality])
    if 7 in intervals and 4 in intervals:
        return Chord(chord.root, "maj")
    if 7 in intervals and 3 in intervals:
        return Chord(chord.root, "min")
    return None
