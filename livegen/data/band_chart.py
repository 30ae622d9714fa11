"""A POP909 song's chord labels as an mma chart: its beat grid, its bar lines, one chord a beat.

POP909's MIDI files sit on a beat grid that is shifted from tick 0 by a constant fraction of a beat
per song (song 001: 1/12 beat, song 002: 0.53 beat), and its chord labels (seconds) start exactly
on that grid: measured over all 829 songs, every label start is within 1e-6 beat of
`offset + whole beats`, but one song (418, 0.12 beat). So the labels give the grid: the offset is
the circular mean of their fractional beats, and beat k of the music is at tick
`(offset + k) * ticks_per_beat`.

The files carry no usable bar lines (most declare 1/4 or 2/4), so the 4/4 bar phase is guessed
from the labels: a chord that holds a bar or more starts on a downbeat far more often than on
beat 3, so each chord change votes for its beat mod 4 with its length in beats (at most 4), and
the phase with the most votes wins (ties: the earliest).
"""

from __future__ import annotations

import bisect
import cmath
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mido

from livegen.errors import ConfigError
from livegen.music.chords import NONE, Chord, parse_harte
from livegen.music.keys import NOTE_NAMES

BEATS_PER_BAR = 4
# mma's name for each quality of livegen's vocabulary (mma's own chord table: its "dim" is a
# diminished 7th, "mb5" the triad; "CmMaj7" is not a name it knows, "CmM7" is).
MMA_SUFFIXES: dict[str, str] = {
    "maj": "",
    "min": "m",
    "dim": "mb5",
    "aug": "aug",
    "sus2": "sus2",
    "sus4": "sus4",
    "7": "7",
    "maj7": "M7",
    "min7": "m7",
    "m7b5": "m7b5",
    "dim7": "dim7",
    "6": "6",
    "min6": "m6",
    "7sus4": "7sus",
    "minmaj7": "mM7",
}
MMA_REST = "z"  # mma's "no chord": chord and bass tracks rest, drums play on


@dataclass(frozen=True)
class ChordSpan:
    """One label: from `start_s` to `end_s` seconds of the MIDI file."""

    start_s: float
    end_s: float
    chord: Chord


@dataclass(frozen=True)
class BeatGrid:
    """Where the music's beats and bars are in a file's ticks.

    Beat k of the music (k = 0 at the first grid beat at or after tick 0) is at tick
    `(offset_beats + k) * ticks_per_beat`; bars start at the beats k with k % 4 == bar_phase.
    """

    offset_beats: float
    bar_phase: int


def read_chord_labels(path: Path) -> list[ChordSpan]:
    """POP909's `start<TAB>end<TAB>label` lines; ConfigError naming file and line if one is bad."""
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the chord labels ({err.strerror or err})") from err
    spans = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        try:
            if len(parts) != 3:
                raise ValueError("expected 'start<TAB>end<TAB>label'")
            spans.append(ChordSpan(float(parts[0]), float(parts[1]), parse_harte(parts[2])))
        except ValueError as err:  # ConfigError is a ValueError too
            raise ConfigError(f"{path} line {number}: {err}") from err
    if not spans:
        raise ConfigError(f"{path}: no chord labels")
    return spans


class TempoMap:
    """Seconds -> ticks through a MIDI file's set_tempo events (all tracks)."""

    def __init__(self, midi: mido.MidiFile):
        changes: dict[int, int] = {0: 500_000}
        for track in midi.tracks:
            tick = 0
            for msg in track:
                tick += msg.time
                if msg.type == "set_tempo" and msg.tempo > 0:
                    changes[tick] = msg.tempo
        self.ticks_per_beat = midi.ticks_per_beat
        self._ticks = sorted(changes)
        self._tempos = [changes[t] for t in self._ticks]
        self._seconds = [0.0]
        for i in range(1, len(self._ticks)):
            beats = (self._ticks[i] - self._ticks[i - 1]) / self.ticks_per_beat
            self._seconds.append(self._seconds[-1] + beats * self._tempos[i - 1] / 1e6)

    @property
    def first_bpm(self) -> float:
        return 60e6 / self._tempos[0]

    def tick_at(self, seconds: float) -> float:
        i = max(0, bisect.bisect_right(self._seconds, seconds) - 1)
        beats = (seconds - self._seconds[i]) * 1e6 / self._tempos[i]
        return self._ticks[i] + beats * self.ticks_per_beat


def beat_grid(
    spans: Sequence[ChordSpan], tempo: TempoMap
) -> tuple[BeatGrid, list[tuple[int, int, Chord]]]:
    """The song's grid and its labels as (first beat, end beat, chord) on it, N spans included."""
    beats = [tempo.tick_at(s.start_s) / tempo.ticks_per_beat for s in spans]
    mean = sum(cmath.exp(2j * math.pi * b) for b in beats) / len(beats)
    offset = (cmath.phase(mean) / (2 * math.pi)) % 1.0 if abs(mean) > 1e-9 else 0.0
    if offset > 1.0 - 1e-6:  # on the grid, from below: beat k is at tick k, not k + 1
        offset = 0.0
    on_grid = []
    for span, start in zip(spans, beats, strict=True):
        end = tempo.tick_at(span.end_s) / tempo.ticks_per_beat
        first, last = round(start - offset), round(end - offset)
        if last > first:
            on_grid.append((first, last, span.chord))
    votes = [0.0] * BEATS_PER_BAR
    previous: Chord | None = None
    for first, last, chord in on_grid:
        if not chord.is_none and chord != previous:
            votes[first % BEATS_PER_BAR] += min(last - first, BEATS_PER_BAR)
        previous = chord
    phase = max(range(BEATS_PER_BAR), key=lambda p: (votes[p], -p))
    return BeatGrid(offset, phase), on_grid


def mma_name(chord: Chord) -> str:
    """The chord as mma writes it: "C", "A#m7", "Cmb5", "G/B", or "z" for no chord."""
    if chord.root is None:
        return MMA_REST
    slash = "" if chord.bass is None else "/" + NOTE_NAMES[chord.bass]
    return NOTE_NAMES[chord.root] + MMA_SUFFIXES[chord.quality] + slash


def chart_text(
    on_grid: Sequence[tuple[int, int, Chord]],
    first_bar_beat: int,
    bars: int,
    *,
    groove: str,
    tempo_bpm: float,
    seed: int,
) -> str:
    """An mma chart of `bars` 4/4 bars from music beat `first_bar_beat`, one chord name a beat.

    A beat no label covers is a rest (drums only); `/` repeats the chord of the beat before.
    `seed` fixes mma's humanising randomness, so a song renders the same every time.
    """
    chord_at: dict[int, Chord] = {}
    for first, last, chord in on_grid:
        for beat in range(first, last):
            chord_at[beat] = chord
    lines = [
        f"// livegen data render-band: {bars} bars from music beat {first_bar_beat}",
        f"Tempo {tempo_bpm:.2f}",
        f"Time {BEATS_PER_BAR}",
        f"RndSeed {seed}",
        f"Groove {groove}",
    ]
    for bar in range(bars):
        names = []
        for i in range(BEATS_PER_BAR):
            beat = first_bar_beat + bar * BEATS_PER_BAR + i
            name = mma_name(chord_at.get(beat, NONE))
            names.append("/" if names and name == _last_named(names) else name)
        lines.append(f"{bar + 1} {' '.join(names)}")
    return "\n".join(lines) + "\n"


def _last_named(names: list[str]) -> str:
    return next(name for name in reversed(names) if name != "/")
