"""How each knob is shown, stepped and typed in the TUI (the specs: livegen.live.knobs)."""

from __future__ import annotations

import math
from typing import Any

from livegen.errors import ConfigError
from livegen.live.knobs import CC_RANGES, KNOB_SPECS, SPECS_BY_NAME, Knobs, KnobSpec
from livegen.music.keys import KEY_CHOICES, parse_key

# the knobs in the order the TUI lists them, with their labels and steps (livegen.live.knobs)
__all__ = ["KEY_LOCK_CHOICES", "KNOB_SPECS", "SPECS_BY_NAME", "KnobSpec", "format_value"]
KEY_LOCK_CHOICES = KEY_CHOICES


def format_value(name: str, value: Any) -> str:
    """The value as a musician reads it (channels 1-16, top-k 0 = off, signed transpose)."""
    if name == "top_k":
        return "off" if value == 0 else str(value)
    if name in ("key_lock", "chords"):
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


def stepped(knobs: Knobs, name: str, steps: int, *, coarse: bool = False) -> dict[str, Any]:
    """The change that moves knob `name` by `steps` steps; Control.set validates the result.

    Choice knobs (mode, key lock) cycle through their choices and wrap around; numeric
    knobs do not clamp, so a step past the range is rejected by Knobs with a message.
    """
    spec = SPECS_BY_NAME[name]
    current = getattr(knobs, name)
    if spec.choices:
        options = list(spec.choices)
        if current not in options:
            options.insert(0, current)
        return {name: options[(options.index(current) + steps) % len(options)]}
    step = spec.coarse if coarse else spec.fine
    value = current + steps * step
    if spec.integer:
        return {name: round(value)}
    # Round to the step's precision so 0.9 - 0.05 * 3 shows as 0.75, not 0.7499999.
    return {name: round(value, 6)}


def parse_value(name: str, text: str) -> Any:
    """Turn typed text into a knob value (channels are typed 1-16); ConfigError if not a value."""
    text = text.strip()
    if name not in SPECS_BY_NAME:
        raise ConfigError(f"unknown knob {name!r}; valid knobs: {', '.join(SPECS_BY_NAME)}")
    if name == "key_lock":
        key = parse_key(text)
        return "" if key is None else key.name
    if name == "mode":
        return text
    if name == "chords":
        return "" if text.lower() in ("", "off") else text  # Knobs checks the progression
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
    if SPECS_BY_NAME[name].integer:
        if number != int(number):
            raise ConfigError(f"{name}: {text!r} is not a whole number")
        return int(number)
    return number


def gauge_fraction(name: str, value: Any) -> float | None:
    """Where the value sits in its controller range, 0..1 (None for knobs without a range)."""
    if name not in CC_RANGES or isinstance(value, str):
        return None
    low, high = CC_RANGES[name]
    return max(0.0, min(1.0, (value - low) / (high - low)))
