"""`triplet`: one note = TIME, DURATION, PITCH, VELOCITY; CHANNEL/PROGRAM only where they change.

The compact note-per-group encoding of small RoPE-transformer projects, in pure python:

- **TIME_d** (d = 0..96 steps of 1/24 beat) is the onset's distance from the previous note's
  onset; a gap over 4 beats is written as TIME_96 tokens first, and a note's delta is the sum of
  the TIME tokens before it. Onsets sit on the 24-per-beat grid of `events` (error <= 1/48 beat).
- **DURATION_s**: exact steps 1..96 (to 4 beats), then every quarter beat (6 steps) up to 32
  beats, where `events` closes held notes too; a longer note is cut there. A note shorter than a
  step lasts one.
- **PITCH_p**, **VELOCITY_b** (16 bins, as `events`).
- **CHANNEL_c** / **PROGRAM_p** before a note whose channel / program differs from the last.

Four tokens a note, in the issue's order (time delta, duration, pitch, velocity); nothing folded.
No bar lines and no note-offs: a duration is written at the onset, so a live player's note can
only be encoded at its release. `serve` refuses it (see docs/tokenizers.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from livegen.errors import ConfigError
from livegen.languages.base import Language
from livegen.tokenizer import Note, Score, beat_to_step, bin_to_velocity, velocity_to_bin

VERSION = "1.0"
STEPS_PER_BEAT = 24
MAX_DELTA_STEPS = 96  # 4 beats; longer gaps chain several TIME tokens
EXACT_DURATION_STEPS = 96  # durations to 4 beats keep every step ...
COARSE_DURATION_STEPS = 6  # ... longer ones a quarter beat
MAX_DURATION_STEPS = 32 * STEPS_PER_BEAT
VELOCITY_BINS = 16
N_PITCHES = N_PROGRAMS = 128
N_CHANNELS = 16

DURATIONS: tuple[int, ...] = tuple(range(1, EXACT_DURATION_STEPS + 1)) + tuple(
    range(
        EXACT_DURATION_STEPS + COARSE_DURATION_STEPS,
        MAX_DURATION_STEPS + 1,
        COARSE_DURATION_STEPS,
    )
)


def quantize_duration(steps: int) -> int:
    """Nearest duration the vocabulary holds (1 step at least, 32 beats at most)."""
    if steps <= EXACT_DURATION_STEPS:
        return max(1, steps)
    coarse = round(steps / COARSE_DURATION_STEPS) * COARSE_DURATION_STEPS
    return min(coarse, MAX_DURATION_STEPS)


class TripletLanguage(Language):
    name = "triplet"
    streaming = False
    steps_per_beat = STEPS_PER_BEAT

    def __init__(self) -> None:
        names = ["PAD", "BOS", "EOS"]
        self.pad, self.bos, self.eos = 0, 1, 2
        self.time_base = len(names)
        names += [f"TIME_{d}" for d in range(MAX_DELTA_STEPS + 1)]
        self.duration_base = len(names)
        names += [f"DURATION_{s}" for s in DURATIONS]
        self.pitch_base = len(names)
        names += [f"PITCH_{p}" for p in range(N_PITCHES)]
        self.velocity_base = len(names)
        names += [f"VELOCITY_{b}" for b in range(VELOCITY_BINS)]
        self.channel_base = len(names)
        names += [f"CHANNEL_{c}" for c in range(N_CHANNELS)]
        self.program_base = len(names)
        names += [f"PROGRAM_{p}" for p in range(N_PROGRAMS)]
        self.names = tuple(names)
        self._duration_index = {s: i for i, s in enumerate(DURATIONS)}

    @property
    def size(self) -> int:
        return len(self.names)

    def settings(self) -> dict[str, Any]:
        return {"language": self.name, "version": VERSION, "vocab_size": self.size}

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> TripletLanguage:
        language = cls()
        if settings.get("version") != VERSION or settings.get("vocab_size") != language.size:
            raise ConfigError(
                f"triplet language version {settings.get('version')!r} with "
                f"{settings.get('vocab_size')} tokens; this livegen writes {VERSION!r} with "
                f"{language.size}"
            )
        return language

    def encode(self, score: Score, *, bos: bool = True, eos: bool = True) -> list[int]:
        tokens = [self.bos] if bos else []
        timed = sorted(
            ((beat_to_step(n.start_beat, STEPS_PER_BEAT), n) for n in score.notes),
            key=lambda pair: (pair[0], pair[1].channel, pair[1].pitch),
        )
        channel = 0
        programs: dict[int, int] = {}
        previous_step = 0
        for step, note in timed:
            if note.channel != channel:
                channel = note.channel
                tokens.append(self.channel_base + channel)
            if note.program is not None and programs.get(channel) != note.program:
                programs[channel] = note.program
                tokens.append(self.program_base + note.program)
            delta = step - previous_step
            previous_step = step
            while delta > MAX_DELTA_STEPS:
                tokens.append(self.time_base + MAX_DELTA_STEPS)
                delta -= MAX_DELTA_STEPS
            end_step = beat_to_step(note.end_beat, STEPS_PER_BEAT)
            duration = quantize_duration(end_step - step)
            tokens += [
                self.time_base + delta,
                self.duration_base + self._duration_index[duration],
                self.pitch_base + note.pitch,
                self.velocity_base + velocity_to_bin(note.velocity, VELOCITY_BINS),
            ]
        if eos:
            tokens.append(self.eos)
        return tokens

    def decode(self, tokens: Sequence[int]) -> list[Note]:
        """A note is written at its VELOCITY once a DURATION and a PITCH came after the last
        note; tokens out of that order are skipped."""
        notes: list[Note] = []
        step = channel = 0
        programs: dict[int, int] = {}
        duration = pitch = None
        for token in tokens:
            if token < self.time_base or token >= self.size:
                continue  # PAD, BOS, EOS, unknown ids: no music
            if token < self.duration_base:
                step += token - self.time_base
            elif token < self.pitch_base:
                duration = DURATIONS[token - self.duration_base]
            elif token < self.velocity_base:
                pitch = token - self.pitch_base
            elif token < self.channel_base:
                if duration is not None and pitch is not None:
                    velocity = bin_to_velocity(token - self.velocity_base, VELOCITY_BINS)
                    start = step / STEPS_PER_BEAT
                    end = (step + duration) / STEPS_PER_BEAT
                    notes.append(Note(pitch, start, end, velocity, channel, programs.get(channel)))
                duration = pitch = None
            elif token < self.program_base:
                channel = token - self.channel_base
            else:
                programs[channel] = token - self.program_base
        return notes

    def token_name(self, token: int) -> str:
        return self.names[token] if 0 <= token < self.size else f"UNKNOWN_{token}"
