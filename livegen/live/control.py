"""The daemon's control surface: live knobs, commands and a status snapshot, shared with the TUI.

The real-time path takes no locks: a knob change builds a new frozen `Knobs` with
`dataclasses.replace` and swaps one reference; readers take whatever reference is current.
Commands (panic, pause, quit, ...) travel through a queue the daemon drains between tokens.
"""

from __future__ import annotations

import collections
import dataclasses
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from livegen.errors import ConfigError
from livegen.live.knobs import CC_RANGES, KNOB_NAMES, Knobs, cc_to_value, part_control

NoteSource = Literal["player", "model", "planned"]


@dataclass(frozen=True)
class NoteView:
    """One note for the piano roll, in beats on the session's timeline."""

    pitch: int
    start_beat: float
    end_beat: float | None  # None while still sounding
    source: NoteSource
    channel: int = 0


@dataclass(frozen=True)
class Status:
    """A snapshot the daemon publishes (reference swap) for the TUI and logs."""

    clock_source: str = "internal"
    running: bool = False
    bpm: float = 120.0
    bar: int = 1
    beat: int = 1
    position_beats: float = 0.0
    ms_per_token: float = 0.0
    tokens_per_s: float = 0.0
    context_fill: float = 0.0  # 0..1 of the model's context window
    late_notes: int = 0
    dropped_notes: int = 0
    in_port: str = ""
    out_port: str = ""
    port_ok: bool = True
    paused: bool = False
    recording: bool = False
    held_keys: int = 0  # the player's keys held now (a stuck one keeps call mode from answering)
    latency_ms: float = 0.0  # timing.latency_ms: notes go out this early (livegen calibrate)
    parts: str = ""  # the band the model plays (livegen.live.parts.describe)
    message: str = ""


@dataclass(frozen=True)
class PartMix:
    """What a player turns per part while playing (livegen.live.parts)."""

    density: float = 1.0  # scales the density knob for this part's notes
    muted: bool = False


@dataclass(frozen=True)
class Command:
    """A one-shot request to the daemon: panic, pause, resume, record_on, record_off, quit."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


class Control:
    """Shared between the daemon (writer of status, reader of knobs) and the UI (the reverse)."""

    def __init__(self, knobs: Knobs | None = None, *, roll_size: int = 512) -> None:
        self._knobs = knobs or Knobs()
        self._status = Status()
        self.commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        # Set with every command: the daemon's supervisor wakes on it instead of finding the
        # command at its next 50 ms poll (a vary pressed just before a bar line must make it)
        self.wake = threading.Event()
        # deque.append is atomic in CPython: the daemon appends, the UI copies.
        self.roll: collections.deque[NoteView] = collections.deque(maxlen=roll_size)
        # Notes not yet played (speculated) and notes sounding now; the daemon swaps the tuples.
        self.planned: tuple[NoteView, ...] = ()
        self.sounding: tuple[NoteView, ...] = ()
        self.cc_bindings: dict[int, str] = {}  # MIDI CC number -> knob name
        self.learn_target: str | None = None  # knob waiting for MIDI learn
        # part role -> its density and mute (livegen.live.parts); swapped whole, never edited
        self.part_mix: dict[str, PartMix] = {}

    @property
    def knobs(self) -> Knobs:
        return self._knobs

    def set(self, **changes: Any) -> Knobs:
        """Validate and apply knob changes with one reference swap; returns the new knobs."""
        unknown = sorted(set(changes) - set(KNOB_NAMES))
        if unknown:
            valid = ", ".join(KNOB_NAMES)
            raise ConfigError(f"unknown knob {unknown[0]!r}; valid knobs: {valid}")
        new = dataclasses.replace(self._knobs, **changes)
        self._knobs = new
        return new

    @property
    def status(self) -> Status:
        return self._status

    def publish(self, **fields: Any) -> Status:
        """Daemon side: publish a new status snapshot."""
        self._status = dataclasses.replace(self._status, **fields)
        return self._status

    def learn(self, knob: str | None) -> None:
        """UI side: bind the next incoming controller to `knob` (None cancels)."""
        if knob is not None and knob not in CC_RANGES:
            raise ConfigError(
                f"knob {knob!r} cannot be MIDI-learned; choose from {', '.join(CC_RANGES)}"
            )
        self.learn_target = knob

    def handle_cc(self, cc: int, value: int) -> str | None:
        """Daemon side, for every incoming CC: finish a MIDI learn, or move the bound knob.

        Returns the name of the knob that was bound or moved, else None.
        """
        target = self.learn_target
        if target is not None:
            self.cc_bindings = {c: k for c, k in self.cc_bindings.items() if k != target} | {
                cc: target
            }
            self.learn_target = None
            return target
        knob = self.cc_bindings.get(cc)
        if knob is None:
            return None
        part = part_control(knob)
        if part is None:
            self.set(**{knob: cc_to_value(knob, value)})
        elif part[0] == "mute":
            self.set_part(part[1], muted=value >= 64)
        else:
            self.set_part(part[1], density=cc_to_value("density", value))
        return knob

    def set_part(
        self, role: str, *, density: float | None = None, muted: bool | None = None
    ) -> PartMix:
        """Turn one part's density (0..4) or mute; one reference swap of the whole table."""
        if density is not None and not 0.0 <= density <= 4.0:
            raise ConfigError(f"{role} density {density} not in 0..4")
        mix = self.part_mix.get(role, PartMix())
        changes: dict[str, Any] = {}
        if density is not None:
            changes["density"] = float(density)
        if muted is not None:
            changes["muted"] = bool(muted)
        mix = dataclasses.replace(mix, **changes)
        self.part_mix = {**self.part_mix, role: mix}
        return mix

    def send(self, name: str, **args: Any) -> None:
        """UI side: queue a command for the daemon."""
        self.commands.put(Command(name, args))
        self.wake.set()
