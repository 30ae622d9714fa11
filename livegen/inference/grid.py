"""Quantizing generated notes to a rhythmic grid, as a DAW's quantize does (`generate --grid`).

Why: musicians put generated parts into a DAW beside a drum machine and a score, and ask for
them on the grid (../shared/FIELD.md: "notes off the bar make output useless in a DAW or
score"). The tokenizer's 24 steps a beat carry expressive timing, and the model plays with it:
its continuations of the shared test MIDI put 67-78 % of their onsets off the 16th grid where
the prompts had 26 % (model card), chords spread over a few steps as in the humanized band
renders and the performances it learned from.

How: the model's stream stays as it wrote it; only the notes written out move. Each generated
note starts on the grid point nearest its onset (ties: the later) and keeps its length. A key
struck again before its previous note ends cuts that note there; two notes of one key landing
on one point are one note (the longer).
Steering the sampling instead was tried and dropped: masking the time shifts that leave the
grid left the model, which writes chords as notes 1-3 steps apart, unable to move on (a band
prompt ran to the 20,000-token limit re-striking notes on one step); writing each sampled shift
snapped forward turned those chords into runs of 16ths and halved the notes a bar.

A grid is one or more periods in beats: "1/16" = a quarter beat; "1/16+1/8t" = sixteenths or
eighth-note triplets, whichever point is nearer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction

from livegen.tokenizer import Note

# name -> periods in beats (quarter notes)
GRIDS: dict[str, tuple[Fraction, ...]] = {
    "1/4": (Fraction(1),),
    "1/8": (Fraction(1, 2),),
    "1/16": (Fraction(1, 4),),
    "1/32": (Fraction(1, 8),),
    "1/8t": (Fraction(1, 3),),
    "1/16t": (Fraction(1, 6),),
    "1/16+1/8t": (Fraction(1, 4), Fraction(1, 3)),
}


def nearest_point(beat: float, periods: Sequence[Fraction]) -> float:
    """The grid point nearest `beat` (ties: the later) on any of `periods`."""
    best = None
    for period in periods:
        below = math.floor(beat / period)
        for point in (float(below * period), float((below + 1) * period)):  # exact: 30, not 29.99..
            key = (abs(point - beat), -point)
            if best is None or key < best[0]:
                best = (key, point)
    assert best is not None
    return best[1]


def quantize_notes(notes: Sequence[Note], grid: str, from_beat: float = 0.0) -> list[Note]:
    """`notes` with those starting at or after `from_beat` moved onto `grid` (see the module
    docstring); the others as they are. Sorted by start, channel and pitch."""
    if grid not in GRIDS:
        raise ValueError(f"grid {grid!r} is not one of {', '.join(GRIDS)}")
    periods = GRIDS[grid]
    moved = []
    for note in notes:
        if note.start_beat >= from_beat:
            start = nearest_point(note.start_beat, periods)
            note = replace(note, start_beat=start, end_beat=start + note.end_beat - note.start_beat)
        moved.append(note)
    moved.sort(key=lambda n: (n.start_beat, n.channel, n.pitch, -n.end_beat))
    out: list[Note] = []
    sounding: dict[tuple[int, int], int] = {}  # key -> index in out of its latest note
    for note in moved:
        key = (note.channel, note.pitch)
        last = sounding.get(key)
        if last is not None and out[last].end_beat > note.start_beat:
            if out[last].start_beat == note.start_beat:
                continue  # one key struck twice on one point: the longer (sorted first) stays
            out[last] = replace(out[last], end_beat=note.start_beat)
        sounding[key] = len(out)
        out.append(note)
    return out
