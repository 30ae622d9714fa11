"""How well notes fit a chord progression and a key, bar by bar: the measures of issue 14.

Notes are parallel arrays (MIDI pitch, start and end in beats; drums left out by the caller).
A note belongs to the bar its onset falls in, and counts with its duration ("note-on
durations"). Per bar, against the chord given for that bar:

- chord share: duration share of notes whose pitch class is a chord tone;
- chord-or-key share: chord tones, or diatonic to the key (passing tones);
- strong-beat chord share: of the notes starting on a strong beat (beats 1 and 3 of a 4/4 bar,
  within STRONG_BEAT_TOLERANCE beats), the share (by count) that are chord tones;
- key share: duration share of notes in the key's scale (keys.py: a mode is its seven notes).

Bars without notes (or without strong-beat notes, for that measure) have no share and are left
out of the means. A bar whose chord is N has no chord tones and is left out of the chord measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from livegen.music.chords import Chord
from livegen.music.keys import Key

STRONG_BEAT_TOLERANCE = 1 / 8  # beats: an onset this near beat 1 or 3 is on it


@dataclass
class BarFit:
    bar: int
    chord: str
    notes: int
    chord_share: float | None
    chord_or_key_share: float | None
    strong_chord_share: float | None
    key_share: float | None


@dataclass
class FitReport:
    bars: list[BarFit] = field(default_factory=list)

    def mean(self, measure: str) -> float | None:
        values = [getattr(b, measure) for b in self.bars if getattr(b, measure) is not None]
        return float(np.mean(values)) if values else None

    def share_of_bars_at_least(self, measure: str, threshold: float) -> float | None:
        values = [getattr(b, measure) for b in self.bars if getattr(b, measure) is not None]
        return float(np.mean([v >= threshold for v in values])) if values else None


def _share(weights: np.ndarray, hits: np.ndarray) -> float | None:
    total = float(weights.sum())
    return float(weights[hits].sum() / total) if total > 0 else None


def chord_fit(
    pitches: Sequence[int] | np.ndarray,
    starts: Sequence[float] | np.ndarray,
    ends: Sequence[float] | np.ndarray,
    chords: Sequence[Chord],
    key: Key | None,
    beats_per_bar: float = 4.0,
    first_beat: float = 0.0,
) -> FitReport:
    """One BarFit per chord of `chords` (bar i from first_beat + i x beats_per_bar)."""
    pitches = np.asarray(pitches, dtype=np.int64)
    starts = np.asarray(starts, dtype=float)
    durations = np.asarray(ends, dtype=float) - starts
    classes = pitches % 12
    in_key = np.isin(classes, sorted(key.pitch_classes)) if key is not None else np.zeros(0, bool)
    strong = [0.0, beats_per_bar / 2] if beats_per_bar >= 4 else [0.0]
    report = FitReport()
    for bar, chord in enumerate(chords):
        begin = first_beat + bar * beats_per_bar
        here = (starts >= begin) & (starts < begin + beats_per_bar)
        weights, bar_classes = durations[here], classes[here]
        tones = np.isin(bar_classes, sorted(chord.pitch_classes))
        offsets = starts[here] - begin
        on_strong = np.zeros(offsets.size, bool)
        for beat in strong:
            on_strong |= np.abs(offsets - beat) <= STRONG_BEAT_TOLERANCE
        has_chord = not chord.is_none
        keyed = in_key[here] if key is not None else None
        report.bars.append(
            BarFit(
                bar=bar,
                chord=chord.name,
                notes=int(here.sum()),
                chord_share=_share(weights, tones) if has_chord else None,
                chord_or_key_share=(
                    _share(weights, tones | keyed) if has_chord and keyed is not None else None
                ),
                strong_chord_share=(
                    float(tones[on_strong].mean()) if has_chord and on_strong.any() else None
                ),
                key_share=_share(weights, keyed) if keyed is not None else None,
            )
        )
    return report
