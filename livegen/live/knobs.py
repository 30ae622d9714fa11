"""The live knobs, each declared once: default (the `Knobs` field), valid range, controller sweep,
TUI label and steps (`KNOB_SPECS`). The CLI, the serve config, the CC table and the TUI read them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from livegen.errors import ConfigError
from livegen.live.harmony import FOLLOW, parse_chords_knob
from livegen.music.keys import KEY_CHOICES, parse_key

Mode = Literal["call", "accompany", "continue"]
MODES: tuple[str, ...] = ("call", "accompany", "continue")


@dataclass(frozen=True)
class KnobSpec:
    """How one knob is checked, swept by a controller and turned in the TUI."""

    name: str
    label: str  # as the TUI shows it
    low: float | None = None  # valid range, inclusive (None: not numeric)
    high: float | None = None
    low_open: bool = False  # the low end itself is not allowed (top_p > 0)
    cc: tuple[float, float] | None = None  # what a 0..127 controller sweeps; None: not by CC
    fine: float = 0.0  # TUI step (←→) and coarse step (shift)
    coarse: float = 0.0
    choices: tuple[str, ...] = ()  # a choice knob cycles through these
    integer: bool = False
    hint: str = ""  # said after the range in errors

    @property
    def numeric(self) -> bool:
        return self.low is not None

    def check(self, value: Any) -> str | None:
        """A problem with `value` in words, or None."""
        if self.choices:
            if self.name in _PARSED:
                try:
                    _PARSED[self.name](value)
                except ConfigError as err:
                    return str(err)
                return None
            if value not in self.choices:
                return f"{self.name} {value!r} not one of {', '.join(self.choices)}"
            return None
        assert self.low is not None and self.high is not None
        below = value <= self.low if self.low_open else value < self.low
        if below or value > self.high:
            low = f"({self.low:g}" if self.low_open else f"{self.low:g}.."
            span = f"{low}, {self.high:g}]" if self.low_open else f"{low}{self.high:g}"
            return f"{self.name} {value} not in {span}{self.hint}"
        return None


# Choice knobs that also take typed values, checked by their parser.
_PARSED = {"key_lock": parse_key, "chords": parse_chords_knob}

# Controller sweeps: temperature 0.1-2.0 as in Magenta's MIDI interface.
KNOB_SPECS: tuple[KnobSpec, ...] = (
    KnobSpec("temperature", "temperature", 0.0, 3.0, cc=(0.1, 2.0), fine=0.05, coarse=0.25,
             hint=" (0 = greedy)"),
    KnobSpec("top_k", "top-k", 0, 1000, cc=(0, 100), fine=1, coarse=10, integer=True),
    KnobSpec("top_p", "top-p", 0.0, 1.0, low_open=True, cc=(0.5, 1.0), fine=0.01, coarse=0.05),
    KnobSpec("mode", "mode", choices=MODES),
    KnobSpec("answer_bars", "answer bars", 1, 64, cc=(1, 16), fine=1, coarse=4, integer=True),
    KnobSpec("density", "density", 0.0, 4.0, cc=(0.0, 2.0), fine=0.05, coarse=0.25),
    KnobSpec("velocity_scale", "velocity", 0.0, 2.0, cc=(0.2, 1.6), fine=0.05, coarse=0.25),
    KnobSpec("transpose", "transpose", -24, 24, cc=(-12, 12), fine=1, coarse=12, integer=True),
    KnobSpec("key_lock", "key lock", choices=KEY_CHOICES),
    KnobSpec("chords", "chords", choices=("", FOLLOW)),
    KnobSpec("output_channel", "out channel", 0, 15, cc=(0, 15), fine=1, coarse=4, integer=True),
    KnobSpec("bpm", "bpm", 20.0, 400.0, cc=(40.0, 240.0), fine=1, coarse=10),
)  # fmt: skip
SPECS_BY_NAME: dict[str, KnobSpec] = {spec.name: spec for spec in KNOB_SPECS}
# The knobs a MIDI controller can move, and the range it sweeps.
CC_RANGES: dict[str, tuple[float, float]] = {s.name: s.cc for s in KNOB_SPECS if s.cc is not None}


@dataclass(frozen=True)
class Knobs:
    """Everything a musician may turn while playing; applied by the daemon within one beat."""

    temperature: float = 0.9  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 0.95
    mode: str = "accompany"
    answer_bars: int = 2
    density: float = 1.0  # scales the note-density constraint; 1.0 = as the model likes
    velocity_scale: float = 1.0
    transpose: int = 0  # semitones applied to generated notes
    key_lock: str = ""  # "" = off, else e.g. "C major", "A minor" (livegen.music.keys)
    chords: str = ""  # "" = off, a progression looping per bar ("C G Am F"), or "follow"
    output_channel: int = 1  # 0-based MIDI channel of the generated part
    bpm: float = 120.0  # internal clock only

    def __post_init__(self) -> None:
        problems = [p for s in KNOB_SPECS if (p := s.check(getattr(self, s.name))) is not None]
        if problems:
            raise ConfigError("; ".join(problems))


KNOB_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Knobs))


def cc_to_value(knob: str, cc_value: int) -> float | int:
    """Map a controller value 0..127 onto a knob's sweep (integer knobs are rounded)."""
    low, high = CC_RANGES[knob]
    value = low + (high - low) * max(0, min(127, cc_value)) / 127
    return round(value) if SPECS_BY_NAME[knob].integer else value


# A controller may also move one part of the band (livegen.live.parts): "mute:ROLE" (value 64 and
# up mutes it) or "density:ROLE" (sweeps that part's density like the density knob's).
PART_CONTROLS = ("mute", "density")


def part_control(name: str) -> tuple[str, str] | None:
    """("mute" or "density", role) for a part binding like "mute:drums"; None for a knob."""
    what, sep, role = name.partition(":")
    return (what, role) if sep and what in PART_CONTROLS and role else None


def parse_cc_table(table: Any, where: str) -> dict[int, str]:
    """A `[cc]` table (controller number = knob name, or a part's "mute:ROLE" /
    "density:ROLE") from a serve config or a preset."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of controller number = knob name")
    bindings: dict[int, str] = {}
    for key, knob in table.items():
        if not (str(key).isdigit() and 0 <= int(key) <= 127):
            raise ConfigError(f"{where}: controller {key!r} is not a number 0..127")
        if knob not in CC_RANGES and part_control(str(knob)) is None:
            raise ConfigError(
                f"{where}: controller {key} -> {knob!r}; knobs a controller can move: "
                f"{', '.join(CC_RANGES)}, or a part's mute:ROLE / density:ROLE"
            )
        bindings[int(key)] = str(knob)
    return bindings
