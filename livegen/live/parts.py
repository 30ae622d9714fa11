"""The band the model plays: parts (bass, drums, keys, ...), each on its own channel and instrument.

`parts = "bass:33,drums,keys:1"` (serve config or `--set`) names each part's role and General MIDI
program (1..128, as GM lists them; the program change sent is one less). `drums` plays on channel
10 (9 from zero) with no program; the other parts take channels in order from the
`output_channel` knob, skipping the drums' channel. No parts: one part on `output_channel`, as
before. All parts come out of one token stream: the model switches part with CHANNEL tokens.
Each part has a density (scaling the knob's) and a mute, turned live through `Control.set_part`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from livegen.errors import ConfigError
from livegen.live.control import PartMix
from livegen.music.midi import PROGRAM_CHANGE
from livegen.tokenizer import DRUM_CHANNEL

__all__ = [
    "DRUMS",
    "Part",
    "PartMix",
    "describe",
    "parse_parts",
    "part_channels",
    "program_changes",
]

DRUMS = "drums"
_ROLE = re.compile(r"^[a-z][a-z0-9_-]*$")
MAX_PARTS = 8


@dataclass(frozen=True)
class Part:
    """One part: a role name and its GM program (1..128; None for drums or 'as the model likes')."""

    role: str
    program: int | None = None

    @property
    def label(self) -> str:
        return self.role if self.program is None else f"{self.role}:{self.program}"


def parse_parts(text: str) -> tuple[Part, ...]:
    """'bass:33,drums,keys:1' -> parts; a bad item is a ConfigError naming it."""
    parts: list[Part] = []
    for item in (piece.strip() for piece in text.split(",")):
        if not item:
            continue
        role, sep, program_text = item.partition(":")
        role = role.strip().lower()
        if not _ROLE.match(role):
            raise ConfigError(f"parts: {item!r}: a part is ROLE or ROLE:PROGRAM, e.g. bass:33")
        program = None
        if sep:
            if role == DRUMS:
                raise ConfigError(f"parts: {item!r}: drums play on channel 10 and take no program")
            if not (program_text.strip().isdigit() and 1 <= int(program_text) <= 128):
                raise ConfigError(
                    f"parts: {item!r}: program {program_text.strip()!r} not a GM program 1..128"
                )
            program = int(program_text)
        if any(p.role == role for p in parts):
            raise ConfigError(f"parts: {role!r} named twice")
        parts.append(Part(role, program))
    if len(parts) > MAX_PARTS:
        raise ConfigError(f"parts: {len(parts)} parts; at most {MAX_PARTS}")
    return tuple(parts)


def part_channels(parts: tuple[Part, ...], output_channel: int) -> dict[int, Part | None]:
    """Channel (0-based) -> part; with no parts, the output channel alone (part None)."""
    if not parts:
        return {output_channel: None}
    channels: dict[int, Part | None] = {}
    taken = {DRUM_CHANNEL} if any(p.role == DRUMS for p in parts) else set()
    channel = output_channel
    for part in parts:
        if part.role == DRUMS:
            channels[DRUM_CHANNEL] = part
            continue
        while channel in taken:
            channel = (channel + 1) % 16
        channels[channel] = part
        taken.add(channel)
    return dict(sorted(channels.items()))


def program_changes(channels: dict[int, Part | None]) -> list[list[int]]:
    """The program change for every part that names a program (GM 1..128 -> 0..127)."""
    return [
        [PROGRAM_CHANGE | channel, part.program - 1]
        for channel, part in channels.items()
        if part is not None and part.program is not None
    ]


def describe(channels: dict[int, Part | None], mix: dict[str, PartMix] | None = None) -> str:
    """For the TUI: 'bass ch2 #33 · keys ch3 #1 · drums ch10 (muted)'; no band: ''."""
    words = []
    for channel, part in channels.items():
        if part is None:
            return ""
        program = f" #{part.program}" if part.program is not None else ""
        muted = " (muted)" if mix and mix.get(part.role, PartMix()).muted else ""
        words.append(f"{part.role} ch{channel + 1}{program}{muted}")
    return " · ".join(words)
