"""How each knob is shown and stepped in the TUI: labels, fine/coarse steps, choices, parsing."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from livegen.errors import ConfigError
from livegen.live.control import CC_RANGES, MODES, Knobs

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# "" turns key lock off; then every major and minor key, as "C major" / "A minor".
KEY_LOCK_CHOICES: tuple[str, ...] = (
    "",
    *tuple(f"{root} {quality}" for quality in ("major", "minor") for root in NOTE_NAMES),
)


@dataclass(frozen=True)
class KnobSpec:
    """One knob as the UI sees it; `choices` is empty for numeric knobs."""

    name: str
    label: str
    fine: float = 0.0
    coarse: float = 0.0
    choices: tuple[str, ...] = ()

    @property
    def numeric(self) -> bool:
        return not self.choices and self.name not in ("model", "key_lock", "mode")


KNOB_SPECS: tuple[KnobSpec, ...] = (
    KnobSpec("temperature", "temperature", 0.05, 0.25),
    KnobSpec("top_k", "top-k", 1, 10),
    KnobSpec("top_p", "top-p", 0.01, 0.05),
    KnobSpec("mode", "mode", choices=MODES),
    KnobSpec("answer_bars", "answer bars", 1, 4),
    KnobSpec("density", "density", 0.05, 0.25),
    KnobSpec("velocity_scale", "velocity", 0.05, 0.25),
    KnobSpec("transpose", "transpose", 1, 12),
    KnobSpec("key_lock", "key lock", choices=KEY_LOCK_CHOICES),
    KnobSpec("output_channel", "out channel", 1, 4),
    KnobSpec("bpm", "bpm", 1, 10),
    KnobSpec("model", "model"),
)
SPECS_BY_NAME: dict[str, KnobSpec] = {spec.name: spec for spec in KNOB_SPECS}
_INT_KNOBS = {
    f.name for f in dataclasses.fields(Knobs) if f.type in ("int", int)
}  # annotations are strings under `from __future__ import annotations`


def format_value(name: str, value: Any) -> str:
    """The value as a musician reads it (channels 1-16, top-k 0 = off, signed transpose)."""
    if name == "top_k":
        return "off" if value == 0 else str(value)
    if name == "key_lock":
        return value or "off"
    if name == "output_channel":
        return f"ch {value + 1}"
    if name == "transpose":
        return f"{value:+d} st"
    if name == "velocity_scale":
        return f"×{value:.2f}"
    if name == "bpm":
        return f"{value:.1f}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def stepped(
    knobs: Knobs, name: str, steps: int, *, coarse: bool = False, models: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The change that moves knob `name` by `steps` steps; Control.set validates the result.

    Choice knobs (mode, key lock, model) cycle through their choices and wrap around; numeric
    knobs do not clamp, so a step past the range is rejected by Knobs with a message.
    """
    spec = SPECS_BY_NAME[name]
    current = getattr(knobs, name)
    choices = spec.choices or (models if name == "model" else ())
    if choices or name == "model":
        options = list(choices) or [current]
        if current not in options:
            options.insert(0, current)
        return {name: options[(options.index(current) + steps) % len(options)]}
    step = spec.coarse if coarse else spec.fine
    value = current + steps * step
    if name in _INT_KNOBS:
        return {name: round(value)}
    # Round to the step's precision so 0.9 - 0.05 * 3 shows as 0.75, not 0.7499999.
    return {name: round(value, 6)}


def parse_value(name: str, text: str) -> Any:
    """Turn typed text into a knob value (channels are typed 1-16); ConfigError if not a value."""
    text = text.strip()
    if name not in SPECS_BY_NAME:
        raise ConfigError(f"unknown knob {name!r}; valid knobs: {', '.join(SPECS_BY_NAME)}")
    if name == "key_lock":
        return parse_key(text)
    if name in ("mode", "model"):
        return text
    if name == "top_k" and text.lower() == "off":
        return 0
    try:
        number = float(text)
    except ValueError as err:
        raise ConfigError(f"{name}: {text!r} is not a number") from err
    if not math.isfinite(number):
        raise ConfigError(f"{name}: {text!r} is not a finite number")
    if name == "output_channel":
        number -= 1
    if name in _INT_KNOBS:
        if number != int(number):
            raise ConfigError(f"{name}: {text!r} is not a whole number")
        return int(number)
    return number


def parse_key(text: str) -> str:
    """A typed key as one of KEY_LOCK_CHOICES: "bb" -> "A# major", "f#m" -> "F# minor"."""
    words = text.lower().split()
    if not words or words == ["off"] or words == ["none"]:
        return ""
    root, quality = words[0], " ".join(words[1:])
    if not quality and len(root) > 1 and root.endswith("m"):
        root, quality = root[:-1], "minor"
    quality = {"": "major", "maj": "major", "min": "minor", "m": "minor"}.get(quality, quality)
    letter = root[:1].upper()
    accidentals = root[1:]
    if letter not in NOTE_NAMES or quality not in ("major", "minor") or accidentals.strip("#b"):
        raise ConfigError(f"key lock {text!r} not understood; use e.g. 'C major', 'F# minor', off")
    pitch_class = NOTE_NAMES.index(letter) + accidentals.count("#") - accidentals.count("b")
    return f"{NOTE_NAMES[pitch_class % 12]} {quality}"


def gauge_fraction(name: str, value: Any) -> float | None:
    """Where the value sits in its controller range, 0..1 (None for knobs without a range)."""
    if name not in CC_RANGES or isinstance(value, str):
        return None
    low, high = CC_RANGES[name]
    return max(0.0, min(1.0, (value - low) / (high - low)))
