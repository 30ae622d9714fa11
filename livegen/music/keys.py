"""Keys and their scales: the one parser of names like "C major", "A minor", "F#m", "Bb", "off".

Used by the live key lock (knob `key_lock`), by the TUI (typed and stepped keys) and by offline
generation (`Constraints.key`), so "A minor" means the same everywhere.

Minor allows the union of natural and harmonic minor: in A minor both G and G#. Real minor-key
music uses both (the lowered 7th in melodies and descending lines, the raised leading tone in
cadences and dominant chords), so locking either one out would forbid ordinary notes.
"""

from __future__ import annotations

from dataclasses import dataclass

from livegen.errors import ConfigError

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10, 11),  # natural minor + the raised 7th of harmonic minor
}
_QUALITIES = {
    "": "major",
    "maj": "major",
    "major": "major",
    "m": "minor",
    "min": "minor",
    "minor": "minor",
}
# "" is key lock off; then every major and minor key, as "C major" / "A minor".
KEY_CHOICES: tuple[str, ...] = (
    "",
    *(f"{root} {quality}" for quality in ("major", "minor") for root in NOTE_NAMES),
)


@dataclass(frozen=True)
class Key:
    root: int  # pitch class 0..11 of the tonic
    quality: str  # "major" or "minor"

    @property
    def name(self) -> str:
        """The canonical name, one of KEY_CHOICES: "A# major", "F# minor"."""
        return f"{NOTE_NAMES[self.root]} {self.quality}"

    @property
    def pitch_classes(self) -> frozenset[int]:
        return frozenset((self.root + degree) % 12 for degree in SCALES[self.quality])


def parse_key(text: str) -> Key | None:
    """A key from its name (case and spacing free; sharps "#", flats "b"); None for "", off, none.

    Raises ConfigError naming the text and the accepted forms.
    """
    words = text.split()
    if not words or (len(words) == 1 and words[0].lower() in ("off", "none")):
        return None
    root, quality = words[0], " ".join(words[1:]).lower()
    if len(words) == 1 and len(root) > 1 and root.endswith("m"):
        root, quality = root[:-1], "minor"  # "Am", "f#m", as the tokenizer's KEY names write it
    letter, accidentals = root[:1].upper(), root[1:]
    if letter not in _LETTERS or quality not in _QUALITIES or accidentals.strip("#b"):
        raise ConfigError(
            f"key lock {text!r} not understood; use e.g. 'C major', 'F# minor', 'Bb', 'Am' or off"
        )
    pitch_class = _LETTERS[letter] + accidentals.count("#") - accidentals.count("b")
    return Key(pitch_class % 12, _QUALITIES[quality])


def key_pitch_classes(text: str) -> frozenset[int] | None:
    """The pitch classes a key allows; None when the lock is off ("")."""
    key = parse_key(text)
    return None if key is None else key.pitch_classes
