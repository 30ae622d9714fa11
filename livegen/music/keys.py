"""Keys and their scales: the one parser of names like "C major", "A minor", "F#m", "D dorian".

Used by the live key lock (knob `key_lock`), by the TUI (typed and stepped keys), by offline
generation (`Constraints.key`, `livegen generate --key`) and by the KEY conditioning tokens, so
"A minor" means the same everywhere.

Minor allows the union of natural and harmonic minor: in A minor both G and G#. Real minor-key
music uses both (the lowered 7th in melodies and descending lines, the raised leading tone in
cadences and dominant chords), so locking either one out would forbid ordinary notes. The church
modes are the strict seven-note scales ("A aeolian" is natural minor only, "C ionian" is major):
whoever names a mode asks for exactly its notes. A KEY token carries only tonic and major/minor
(the labels training data has), so a mode's token is its tonic with the mode's third
(`Key.tonality`: D dorian -> KEY_Dm); the key lock enforces the mode's own scale.
"""

from __future__ import annotations

from dataclasses import dataclass

from livegen.errors import ConfigError

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10, 11),  # natural minor + the raised 7th of harmonic minor
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
}
MODES: tuple[str, ...] = tuple(SCALES)
MAJOR_MINOR = ("major", "minor")  # the qualities a KEY token names; the rest are modes
_QUALITIES = {
    "": "major",
    "maj": "major",
    "major": "major",
    "m": "minor",
    "min": "minor",
    "minor": "minor",
    **{mode: mode for mode in SCALES},
}
# "" is key lock off; then every major and minor key, as "C major" / "A minor" (the TUI steps
# through these; the modes are typed).
KEY_CHOICES: tuple[str, ...] = (
    "",
    *(f"{root} {quality}" for quality in ("major", "minor") for root in NOTE_NAMES),
)


@dataclass(frozen=True)
class Key:
    root: int  # pitch class 0..11 of the tonic
    quality: str  # "major", "minor" or a mode of MODES ("dorian", ...)

    @property
    def name(self) -> str:
        """The canonical name: "A# major", "F# minor" (both in KEY_CHOICES), "D dorian"."""
        return f"{NOTE_NAMES[self.root]} {self.quality}"

    @property
    def tonality(self) -> str:
        """ "major" or "minor" by the scale's third: D dorian is minor, G mixolydian major."""
        return "minor" if 3 in SCALES[self.quality] else "major"

    @property
    def pitch_classes(self) -> frozenset[int]:
        return frozenset((self.root + degree) % 12 for degree in SCALES[self.quality])


def parse_key(text: str, what: str = "key lock") -> Key | None:
    """A key from its name (case and spacing free; sharps "#", flats "b"); None for "", off, none.

    Raises ConfigError naming `what`, the text and the accepted forms.
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
            f"{what} {text!r} not understood; use e.g. 'C major', 'F# minor', 'Bb', 'Am',"
            f" a mode ({', '.join(MODES[2:])}) as in 'D dorian', or off"
        )
    pitch_class = _LETTERS[letter] + accidentals.count("#") - accidentals.count("b")
    return Key(pitch_class % 12, _QUALITIES[quality])


def key_pitch_classes(text: str) -> frozenset[int] | None:
    """The pitch classes a key allows; None when the lock is off ("")."""
    key = parse_key(text)
    return None if key is None else key.pitch_classes
