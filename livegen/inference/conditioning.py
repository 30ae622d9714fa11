"""What a generation is told besides its prompt: a chord progression and a key as tokens to write
at bar lines, and the sampler's constraints from their one-line text form.

Harmony. `livegen generate --chords "C G Am F" --bars-per-chord 1 --key "C major"`: at the first
bar line of the continuation the KEY token and the first chord's CHORD token are written, and at
every later bar line the CHORD token of the chord due there, looping the progression. A chord is
written only when it changes, as in the training data (data/structure_marks.py), so
"C C G G" is C at bar 1 and G at bar 3. These tokens are forced, not sampled: the grammar never
offers them to the sampler. Only a model trained with them (its tokenizer's `structure_tokens`)
can be told chords or a key: the KEY tokens of other models were never trained (no data had
them), so a model without them is a one-line error pointing at `--constraints key=...`, the hard
key lock every model obeys.

A mode (`--key "D dorian"`) is more than its KEY token can say: the token names the tonic and the
third (KEY_Dm, as training data labels keys), and in the data a KEY_Dm piece's sixth is mostly
B flat, so the model plays D minor. Whoever names a mode asks for exactly its seven notes
(music/keys.py), so a mode's scale is also locked (the sampler's key lock), unless
`--constraints key=...` sets a lock of its own.

Constraints text: comma-separated `name=value` pairs, e.g.
`"pitch=48-84, polyphony=4, density=2, channels=1-2, key=D dorian"` (channels as MIDI numbers
1-16, a range or `+`-joined list; density = note onsets per beat).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from livegen.errors import ConfigError
from livegen.inference.chord_bias import ChordToneBias
from livegen.inference.sampler import Constraints
from livegen.music.chords import Chord, parse_progression
from livegen.music.keys import MAJOR_MINOR, Key, parse_key
from livegen.tokenizer.vocab import TokenKind, Vocab

CONSTRAINT_NAMES = ("pitch", "polyphony", "density", "channels", "key")
_CONSTRAINTS_HELP = (
    "write name=value pairs separated by commas: pitch=LOW-HIGH (MIDI 0-127), polyphony=N, "
    "density=ONSETS_PER_BEAT, channels=1-2 or 1+10 (MIDI 1-16), key=D dorian"
)


@dataclass(frozen=True)
class Harmony:
    """A progression that loops per `bars_per_chord` bars from the first bar line, and a key."""

    chords: tuple[Chord, ...] = ()
    bars_per_chord: int = 1
    key: Key | None = None
    # a mode's scale is locked besides its KEY token (off only to measure the token alone)
    lock_mode: bool = True
    # how hard the sampler leans on the bar's chord tones (inference/chord_bias.py; 0: the CHORD
    # token alone, what the model itself makes of it)
    chord_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.bars_per_chord < 1:
            raise ConfigError(f"--bars-per-chord must be >= 1, got {self.bars_per_chord}")
        if not 0 <= self.chord_weight <= 10:
            raise ConfigError(f"--chord-weight must be in 0..10, got {self.chord_weight}")

    @classmethod
    def parse(
        cls,
        chords: str | None,
        bars_per_chord: int = 1,
        key: str | None = None,
        chord_weight: float = 1.0,
    ) -> Harmony:
        """From the command line's texts; ConfigError (one line) for a bad chord or key name."""
        progression = parse_progression(chords) if chords else ()
        key_of = parse_key(key, what="--key") if key else None
        return cls(progression, bars_per_chord, key_of, chord_weight=chord_weight)

    @property
    def active(self) -> bool:
        return bool(self.chords) or self.key is not None

    def chord_at(self, bar: int) -> Chord | None:
        """The chord of bar `bar` (0 = the first bar line of the continuation)."""
        if not self.chords:
            return None
        return self.chords[(bar // self.bars_per_chord) % len(self.chords)]

    def constrain(self, constraints: Constraints) -> Constraints:
        """`constraints` plus the lock of a mode's scale (a key lock already set wins)."""
        key = self.key
        if not self.lock_mode or key is None or key.quality in MAJOR_MINOR or constraints.key:
            return constraints
        return replace(constraints, key=key.name)

    def check_model(self, vocab: Vocab, model: str) -> None:
        """A model without CHORD tokens was never trained with KEY/CHORD tokens: say so."""
        if self.active and not vocab.ids_of_kind(TokenKind.CHORD):
            raise ConfigError(
                f"model {model!r} was not trained with chord and key tokens (its tokenizer has no "
                "structure_tokens), so --chords and --key cannot steer it; train one on data "
                "prepared with them (docs/structure.md), or lock notes to a key with "
                "--constraints 'key=C major'"
            )


class HarmonyWriter:
    """The bar lines of one generated stream and the tokens forced at each.

    The chord of a bar must come at its bar line, so the bar lines are the writer's, not the
    model's: a time shift may not cross the next one, the BAR is written when time reaches it,
    and the model cannot put a BAR anywhere else.
    """

    def __init__(self, harmony: Harmony, vocab: Vocab, steps_per_bar: int, position: int) -> None:
        self.harmony = harmony
        self.vocab = vocab
        self.steps_per_bar = steps_per_bar
        self.bar = 0  # bar lines of the continuation seen so far
        self.last_chord: int | None = None
        # the first bar line after `position` (a prompt ending in BAR calls at_bar_line at once)
        self.next_bar_step = (position // steps_per_bar + 1) * steps_per_bar
        self._shift_base = vocab.offsets[TokenKind.TIME_SHIFT] - 1  # + steps = TIME_SHIFT id
        self._max_shift = vocab.config.max_shift_steps
        self._chord_tones = ChordToneBias(vocab, steps_per_bar)

    def bar_due(self, position: int) -> bool:
        return position >= self.next_bar_step

    def restrict(self, mask: np.ndarray, position: int) -> np.ndarray:
        """`mask` without BAR and without time shifts past the next bar line."""
        room = self.next_bar_step - position
        mask = mask.copy()
        mask[self.vocab.bar] = False
        if room < self._max_shift:
            mask[self._shift_base + room + 1 : self._shift_base + self._max_shift + 1] = False
        return mask

    def lean(self, logits: np.ndarray, position: int, channel: int) -> np.ndarray:
        """`logits` leaning toward the bar's chord tones for a note starting at `position` on
        `channel` (inference/chord_bias.py); unchanged before the first bar line."""
        if self.bar == 0:
            return logits
        in_bar = position - (self.next_bar_step - self.steps_per_bar)
        chord = self.harmony.chord_at(self.bar - 1)
        return self._chord_tones.lean(logits, chord, in_bar, channel, self.harmony.chord_weight)

    def at_bar_line(self, position: int) -> list[int]:
        """Tokens to write right after the BAR at `position` (KEY at the first, then the CHORD
        when it changes)."""
        self.next_bar_step = position + self.steps_per_bar
        tokens = []
        if self.bar == 0 and self.harmony.key is not None:
            tokens.append(self.vocab.key_of(self.harmony.key))
        chord = self.harmony.chord_at(self.bar)
        if chord is not None and self.vocab.chord(chord) != self.last_chord:
            self.last_chord = self.vocab.chord(chord)
            tokens.append(self.last_chord)
        self.bar += 1
        return tokens


def _channels(text: str) -> tuple[int, ...]:
    numbers: list[int] = []
    for part in text.split("+"):
        low, dash, high = part.strip().partition("-")
        first, last = int(low), int(high) if dash else int(low)
        numbers.extend(range(first, last + 1))
    if not numbers or any(not 1 <= n <= 16 for n in numbers):
        raise ValueError(text)
    return tuple(sorted({n - 1 for n in numbers}))


def parse_constraints(text: str) -> Constraints:
    """`--constraints` text to Constraints; ConfigError naming the bad pair and the forms."""
    fields: dict[str, object] = {}
    for pair in (p for p in text.split(",") if p.strip()):
        name, eq, value = (s.strip() for s in pair.partition("="))
        if not eq or name not in CONSTRAINT_NAMES:
            raise ConfigError(
                f"--constraints: {pair.strip()!r} not understood; {_CONSTRAINTS_HELP}"
            )
        if name == "key":
            parse_key(value, what="--constraints key")  # its own one-line error
            fields["key"] = value
            continue
        try:
            if name == "pitch":
                low, _, high = value.partition("-")
                fields["pitch_low"], fields["pitch_high"] = int(low), int(high)
            elif name == "polyphony":
                fields["max_polyphony"] = int(value)
            elif name == "density":
                fields["max_notes_per_beat"] = float(value)
            else:
                fields["channels"] = _channels(value)
        except ValueError as err:
            raise ConfigError(
                f"--constraints: {pair.strip()!r} not understood; {_CONSTRAINTS_HELP}"
            ) from err
    if int(fields.get("max_polyphony", 0)) < 0 or float(fields.get("max_notes_per_beat", 0)) < 0:
        raise ConfigError(f"--constraints: polyphony and density must be >= 0 in {text!r}")
    return Constraints(**fields)  # type: ignore[arg-type]
