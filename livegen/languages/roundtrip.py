"""Any language's round trip of a MIDI file: encode, decode, match notes, measure the errors.

A read note is **kept** when a decoded note of its part (language.part_of) and pitch starts within
half a step of the language's onset grid; each decoded note matches once. Durations and
velocities do not decide kept-or-not (REMI's durations grow coarse past 4 beats by design): their
errors are reported beside. Read notes that struck one key twice within one grid step and lost
one of the strikes are `merged` (a grid limit, as in tokenizer/roundtrip.py); the rest of what is
not kept is `dropped`. The notes in are the notes `read_midi` gives (the same for every language:
see FileRoundTrip for the file's raw note-ons, which `note_ons` and `same_tick` repeat).
"""

from __future__ import annotations

import bisect
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from livegen.languages.base import Language
from livegen.tokenizer import Note, Score, beat_to_step, count_note_ons, read_midi

_EPS = 1e-6


@dataclass(frozen=True)
class LanguageRoundTrip:
    language: str
    note_ons: int  # note-on messages in the file
    same_tick: int  # of those, strikes of a sounding key at the tick it began (read as one)
    notes_in: int  # notes read
    notes_out: int  # notes decoded
    kept: int
    merged: int
    max_onset_error_beats: float
    max_offset_error_beats: float
    median_offset_error_beats: float
    max_velocity_error: int  # MIDI velocity units
    ends_within_half_step: int  # kept notes whose end is within half a grid step too
    tokens: list[int]
    decoded: list[Note]
    score: Score

    @property
    def dropped(self) -> int:
        return self.notes_in - self.kept - self.merged

    @property
    def kept_fraction(self) -> float:
        """Kept over the notes the grid can hold (notes read minus merged)."""
        representable = self.notes_in - self.merged
        return self.kept / representable if representable else 1.0

    @property
    def tokens_per_note(self) -> float:
        return len(self.tokens) / self.notes_in if self.notes_in else 0.0


def round_trip_language(language: Language, score: Score) -> tuple[list[int], list[Note], dict]:
    """Encode `score`, decode, and match: (tokens, decoded notes, measures)."""
    tokens = language.encode(score)
    decoded = language.decode(tokens)
    return tokens, decoded, compare(language, score.notes, decoded)


def compare(language: Language, original: list[Note], decoded: list[Note]) -> dict:
    spb = language.steps_per_beat
    tolerance = 0.5 / spb + _EPS
    pools: dict[tuple, tuple[list[float], list[Note], list[bool]]] = {}
    for note in sorted(decoded, key=lambda n: n.start_beat):
        starts, notes, used = pools.setdefault((language.part_of(note), note.pitch), ([], [], []))
        starts.append(note.start_beat)
        notes.append(note)
        used.append(False)
    strikes = Counter(
        (language.part_of(n), n.pitch, beat_to_step(n.start_beat, spb)) for n in original
    )
    kept = merged = ends = 0
    onset_errors, offset_errors, velocity_errors = [0.0], [], [0]
    for note in sorted(original, key=lambda n: n.start_beat):
        key = (language.part_of(note), note.pitch)
        match = None
        if key in pools:
            starts, notes, used = pools[key]
            i = bisect.bisect_left(starts, note.start_beat - tolerance)
            while i < len(starts) and starts[i] <= note.start_beat + tolerance:
                if not used[i]:
                    used[i] = True
                    match = notes[i]
                    break
                i += 1
        if match is not None:
            kept += 1
            onset_errors.append(abs(match.start_beat - note.start_beat))
            offset_errors.append(abs(match.end_beat - note.end_beat))
            velocity_errors.append(abs(match.velocity - note.velocity))
            ends += abs(match.end_beat - note.end_beat) <= tolerance
        elif strikes[(*key, beat_to_step(note.start_beat, spb))] > 1:
            merged += 1
    return {
        "kept": kept,
        "merged": merged,
        "max_onset_error_beats": max(onset_errors),
        "max_offset_error_beats": max(offset_errors, default=0.0),
        "median_offset_error_beats": statistics.median(offset_errors) if offset_errors else 0.0,
        "max_velocity_error": max(velocity_errors),
        "ends_within_half_step": ends,
    }


def round_trip_file_in(language: Language, path: str | Path) -> LanguageRoundTrip:
    """Read a MIDI file, encode and decode it in `language`, count what survived."""
    score = read_midi(path)
    count = count_note_ons(path)
    tokens, decoded, measures = round_trip_language(language, score)
    return LanguageRoundTrip(
        language=language.name,
        note_ons=count.total,
        same_tick=count.same_tick,
        notes_in=len(score.notes),
        notes_out=len(decoded),
        tokens=tokens,
        decoded=decoded,
        score=score,
        **measures,
    )
