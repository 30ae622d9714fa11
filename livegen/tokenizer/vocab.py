"""The vocabulary: every token id, its kind and its argument, in one fixed layout."""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from livegen.music.chords import VOCABULARY as CHORDS
from livegen.music.chords import Chord
from livegen.music.keys import Key
from livegen.tokenizer.config import TokenizerConfig

N_PITCHES = 128
N_CHANNELS = 16
N_PROGRAMS = 128
DRUM_CHANNEL = 9  # MIDI channel 10, counted from zero
MODES: tuple[str, ...] = ("call", "accompany", "continue")
KEY_NAMES: tuple[str, ...] = tuple(
    [f"{n}" for n in ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")]
    + [f"{n}m" for n in ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")]
)


class TokenKind(IntEnum):
    """Token kinds, in vocabulary order. The grammar (grammar.py) is written over these."""

    PAD = 0
    BOS = 1
    EOS = 2
    BAR = 3
    MODE = 4
    KEY = 5
    STYLE = 6
    TIME_SHIFT = 7
    NOTE_ON = 8
    NOTE_OFF = 9
    VELOCITY = 10
    CHANNEL = 11
    PROGRAM = 12
    CHORD = 13


_CHORD_INDEX: dict[Chord, int] = {chord: i for i, chord in enumerate(CHORDS)}
# Kinds the caller writes into a stream to condition the model; never sampled (grammar.py).
CONDITIONING_KINDS: frozenset[TokenKind] = frozenset(
    {TokenKind.MODE, TokenKind.KEY, TokenKind.STYLE, TokenKind.CHORD}
)


class Vocab:
    """Token ids for one TokenizerConfig.

    Layout: PAD BOS EOS BAR, MODE_*, KEY_*, STYLE_*, TIME_SHIFT_1..max, NOTE_ON_0..127,
    NOTE_OFF_0..127, VELOCITY_0..bins-1, CHANNEL_0..15, PROGRAM_0..127, and with
    `structure_tokens` CHORD_N, CHORD_C, CHORD_Cm, ... (music.chords.VOCABULARY's order, 181)
    appended last, so every other id is the same with and without them.
    `kinds[id]` is the TokenKind and `args[id]` the argument (steps, pitch, bin, channel, ...).
    """

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config or TokenizerConfig()
        cfg = self.config
        names: list[str] = []
        kinds: list[int] = []
        args: list[int] = []
        self.offsets: dict[TokenKind, int] = {}

        def add(kind: TokenKind, labels: list[str], values: list[int]) -> None:
            self.offsets[kind] = len(names)
            names.extend(labels)
            kinds.extend([int(kind)] * len(labels))
            args.extend(values)

        add(TokenKind.PAD, ["PAD"], [0])
        add(TokenKind.BOS, ["BOS"], [0])
        add(TokenKind.EOS, ["EOS"], [0])
        add(TokenKind.BAR, ["BAR"], [0])
        add(TokenKind.MODE, [f"MODE_{m}" for m in MODES], list(range(len(MODES))))
        add(TokenKind.KEY, [f"KEY_{k}" for k in KEY_NAMES], list(range(len(KEY_NAMES))))
        add(TokenKind.STYLE, [f"STYLE_{s}" for s in cfg.styles], list(range(len(cfg.styles))))
        shifts = list(range(1, cfg.max_shift_steps + 1))
        add(TokenKind.TIME_SHIFT, [f"TIME_SHIFT_{s}" for s in shifts], shifts)
        add(TokenKind.NOTE_ON, [f"NOTE_ON_{p}" for p in range(N_PITCHES)], list(range(N_PITCHES)))
        add(TokenKind.NOTE_OFF, [f"NOTE_OFF_{p}" for p in range(N_PITCHES)], list(range(N_PITCHES)))
        bins = list(range(cfg.velocity_bins))
        add(TokenKind.VELOCITY, [f"VELOCITY_{b}" for b in bins], bins)
        add(TokenKind.CHANNEL, [f"CHANNEL_{c}" for c in range(N_CHANNELS)], list(range(N_CHANNELS)))
        add(TokenKind.PROGRAM, [f"PROGRAM_{p}" for p in range(N_PROGRAMS)], list(range(N_PROGRAMS)))
        if cfg.structure_tokens:
            add(TokenKind.CHORD, [f"CHORD_{c.name}" for c in CHORDS], list(range(len(CHORDS))))

        self.names: tuple[str, ...] = tuple(names)
        self.kinds = np.asarray(kinds, dtype=np.int8)
        self.args = np.asarray(args, dtype=np.int16)
        # Plain lists: indexing them is several times faster than numpy scalars on the hot path.
        self.kind_list: list[int] = kinds
        self.arg_list: list[int] = args
        self.size = len(names)
        self._ids = {name: i for i, name in enumerate(names)}
        self.pad = self.offsets[TokenKind.PAD]
        self.bos = self.offsets[TokenKind.BOS]
        self.eos = self.offsets[TokenKind.EOS]
        self.bar = self.offsets[TokenKind.BAR]

    def __len__(self) -> int:
        return self.size

    def _id(self, kind: TokenKind, index: int, count: int, what: str) -> int:
        if not 0 <= index < count:
            raise ValueError(f"{what} {index} out of range 0..{count - 1}")
        return self.offsets[kind] + index

    def shift(self, steps: int) -> int:
        """TIME_SHIFT of `steps` grid steps (1..max_shift_steps)."""
        if not 1 <= steps <= self.config.max_shift_steps:
            raise ValueError(f"time shift {steps} out of range 1..{self.config.max_shift_steps}")
        return self.offsets[TokenKind.TIME_SHIFT] + steps - 1

    def note_on(self, pitch: int) -> int:
        return self._id(TokenKind.NOTE_ON, pitch, N_PITCHES, "pitch")

    def note_off(self, pitch: int) -> int:
        return self._id(TokenKind.NOTE_OFF, pitch, N_PITCHES, "pitch")

    def velocity(self, bin_index: int) -> int:
        return self._id(TokenKind.VELOCITY, bin_index, self.config.velocity_bins, "velocity bin")

    def channel(self, channel: int) -> int:
        return self._id(TokenKind.CHANNEL, channel, N_CHANNELS, "channel")

    def program(self, program: int) -> int:
        return self._id(TokenKind.PROGRAM, program, N_PROGRAMS, "program")

    def mode(self, name: str) -> int:
        return self._named(TokenKind.MODE, name, MODES)

    def key(self, name: str) -> int:
        """KEY_ token: "C".."B" major, "Cm".."Bm" minor (see KEY_NAMES)."""
        return self._named(TokenKind.KEY, name, KEY_NAMES)

    def key_of(self, key: Key) -> int:
        """KEY_ token of a parsed key: its tonic and major/minor third (D dorian -> KEY_Dm)."""
        return self.offsets[TokenKind.KEY] + (12 if key.tonality == "minor" else 0) + key.root

    def chord(self, chord: Chord) -> int:
        """CHORD_ token of a chord (a slash chord's bass is dropped: tokens name root + quality).

        Raises ValueError when the tokenizer has no CHORD tokens (structure_tokens off).
        """
        if TokenKind.CHORD not in self.offsets:
            raise ValueError("this tokenizer has no CHORD tokens (structure_tokens is off)")
        return self.offsets[TokenKind.CHORD] + _CHORD_INDEX[chord.without_bass()]

    def style(self, name: str) -> int:
        return self._named(TokenKind.STYLE, name, self.config.styles)

    def _named(self, kind: TokenKind, name: str, options: tuple[str, ...]) -> int:
        if name not in options:
            raise ValueError(f"unknown {kind.name.lower()} {name!r}; choose from {list(options)}")
        return self.offsets[kind] + options.index(name)

    def name(self, token: int) -> str:
        """Readable name of a token id, e.g. "NOTE_ON_60"; unknown ids read "UNKNOWN_<id>"."""
        if 0 <= token < self.size:
            return self.names[token]
        return f"UNKNOWN_{token}"

    def id_of(self, name: str) -> int:
        """Inverse of name()."""
        try:
            return self._ids[name]
        except KeyError:
            raise ValueError(f"unknown token name {name!r}") from None

    def kind(self, token: int) -> TokenKind:
        return TokenKind(self.kind_list[token])

    def ids_of_kind(self, kind: TokenKind) -> range:
        if kind not in self.offsets:
            return range(0)
        start = self.offsets[kind]
        return range(start, start + int(np.count_nonzero(self.kinds == int(kind))))
