"""The tokenizer's plain data: timed note events in, timed MIDI events and notes out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NoteEvent:
    """A note-on (velocity 1..127) or note-off (velocity 0) at a musical time in beats."""

    beat: float
    pitch: int
    velocity: int
    channel: int = 0
    program: int | None = None


@dataclass(frozen=True, slots=True)
class Note:
    """A whole note: start and end in beats (quarter notes), MIDI velocity, channel 0..15."""

    pitch: int
    start_beat: float
    end_beat: float
    velocity: int
    channel: int = 0
    program: int | None = None


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    """A MIDI event decoded from tokens, at an integer grid step; velocity 0 is a note-off."""

    step: int
    pitch: int
    velocity: int
    channel: int
    program: int | None

    @property
    def is_note_on(self) -> bool:
        return self.velocity > 0


def velocity_to_bin(velocity: int, bins: int) -> int:
    """MIDI velocity 1..127 -> bin 0..bins-1, equal widths; out-of-range values are clamped."""
    velocity = min(max(int(velocity), 1), 127)
    return min(bins - 1, (velocity - 1) * bins // 127)


def bin_to_velocity(bin_index: int, bins: int) -> int:
    """The centre velocity of a bin; velocity_to_bin(bin_to_velocity(b)) == b."""
    bin_index = min(max(int(bin_index), 0), bins - 1)
    return min(127, max(1, int(1 + (bin_index + 0.5) * 127 / bins)))


def beat_to_step(beat: float, steps_per_beat: int) -> int:
    """Nearest grid step (halves round up); times before zero clamp to step 0."""
    step = int(beat * steps_per_beat + 0.5) if beat > 0 else 0
    return step
