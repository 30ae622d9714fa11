"""How faithfully notes survive encode -> decode: what `livegen roundtrip` and the tests report."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from livegen.tokenizer.config import TokenizerConfig
from livegen.tokenizer.decoder import decode_tokens
from livegen.tokenizer.encoder import TimeSignatures, encode_notes
from livegen.tokenizer.events import Note, beat_to_step, velocity_to_bin
from livegen.tokenizer.midi_file import Score, count_note_ons, read_midi
from livegen.tokenizer.vocab import Vocab

_EPS = 1e-6


@dataclass(frozen=True)
class RoundTripReport:
    """A note is kept when a decoded note has its channel and pitch, onset and end within half a
    grid step and velocity within one bin (a note shorter than the grid may end one step after its
    onset: notes last at least a step). `merged` notes started on the same grid step as another
    note of their key: the grid holds one onset per key and step, so those are a limit of the
    grid, not a loss of the coder. The rest are `dropped`."""

    notes_in: int
    notes_out: int
    kept: int
    merged: int
    dropped: int
    max_onset_error_steps: float
    max_offset_error_steps: float
    max_velocity_bin_error: int

    @property
    def kept_fraction(self) -> float:
        """Kept over the notes the grid can hold (notes in minus merged)."""
        representable = self.notes_in - self.merged
        return self.kept / representable if representable else 1.0


def compare_notes(
    original: Sequence[Note], decoded: Sequence[Note], config: TokenizerConfig
) -> RoundTripReport:
    spb, bins = config.steps_per_beat, config.velocity_bins
    tolerance = 0.5 / spb + _EPS
    pools: dict[tuple[int, int], tuple[list[float], list[Note], list[bool]]] = {}
    for note in sorted(decoded, key=lambda n: n.start_beat):
        starts, notes, used = pools.setdefault((note.channel, note.pitch), ([], [], []))
        starts.append(note.start_beat)
        notes.append(note)
        used.append(False)
    onset_steps: dict[tuple[int, int, int], int] = {}
    for note in original:
        key = (note.channel, note.pitch, beat_to_step(note.start_beat, spb))
        onset_steps[key] = onset_steps.get(key, 0) + 1

    kept = merged = 0
    max_onset = max_offset = 0.0
    max_bin = 0
    for note in sorted(original, key=lambda n: n.start_beat):
        match = None
        pool = pools.get((note.channel, note.pitch))
        if pool is not None:
            starts, notes, used = pool
            i = bisect.bisect_left(starts, note.start_beat - tolerance)
            while i < len(starts) and starts[i] <= note.start_beat + tolerance:
                if not used[i] and _ends_match(note, notes[i], spb, tolerance):
                    vel_error = abs(
                        velocity_to_bin(note.velocity, bins)
                        - velocity_to_bin(notes[i].velocity, bins)
                    )
                    if vel_error <= 1:
                        match = notes[i]
                        used[i] = True
                        max_bin = max(max_bin, vel_error)
                        break
                i += 1
        if match is not None:
            kept += 1
            max_onset = max(max_onset, abs(match.start_beat - note.start_beat) * spb)
            max_offset = max(max_offset, abs(match.end_beat - note.end_beat) * spb)
        elif onset_steps[(note.channel, note.pitch, beat_to_step(note.start_beat, spb))] > 1:
            merged += 1
    return RoundTripReport(
        notes_in=len(original),
        notes_out=len(decoded),
        kept=kept,
        merged=merged,
        dropped=len(original) - kept - merged,
        max_onset_error_steps=round(max_onset, 3),
        max_offset_error_steps=round(max_offset, 3),
        max_velocity_bin_error=max_bin,
    )


def _ends_match(original: Note, decoded: Note, spb: int, tolerance: float) -> bool:
    if abs(decoded.end_beat - original.end_beat) <= tolerance:
        return True
    shorter_than_grid = beat_to_step(original.end_beat, spb) <= beat_to_step(
        original.start_beat, spb
    )
    one_step = abs((decoded.end_beat - decoded.start_beat) * spb - 1) < _EPS
    return shorter_than_grid and one_step


def round_trip(
    notes: Sequence[Note],
    config: TokenizerConfig | None = None,
    *,
    time_signatures: TimeSignatures | None = None,
    vocab: Vocab | None = None,
) -> tuple[list[int], list[Note], RoundTripReport]:
    """Encode offline, decode, compare: (tokens, decoded notes, report)."""
    config = config or TokenizerConfig()
    vocab = vocab or Vocab(config)
    tokens = encode_notes(notes, config, time_signatures=time_signatures, vocab=vocab)
    decoded = decode_tokens(tokens, config, vocab=vocab)
    return tokens, decoded, compare_notes(notes, decoded, config)


@dataclass(frozen=True)
class FileRoundTrip:
    """A MIDI file's round trip counted against the file's own note-on messages, not against the
    notes read from it: a note the reader loses is `dropped`, where a count of the read notes
    would not see it.

    Of the file's note-ons, `same_tick` strike a key again at the tick it was struck (unisons
    of doubled tracks, on-off-on retriggers): one voice per key sounds them once, so they are
    read as one note. Those and the grid's merges are limits of one voice per key and step; the
    rest of what is not kept is `dropped`.
    """

    note_ons: int
    same_tick: int
    report: RoundTripReport  # the notes read from the file vs the decoded ones
    score: Score
    tokens: list[int]
    decoded: list[Note]

    @property
    def kept(self) -> int:
        return self.report.kept

    @property
    def merged(self) -> int:
        return self.same_tick + self.report.merged

    @property
    def dropped(self) -> int:
        return self.note_ons - self.kept - self.merged

    @property
    def kept_fraction(self) -> float:
        """Kept over the note-ons in the file."""
        return self.kept / self.note_ons if self.note_ons else 1.0


def round_trip_file(path: str | Path, config: TokenizerConfig | None = None) -> FileRoundTrip:
    """Read a MIDI file, encode, decode, and count the result against the file's note-ons."""
    score = read_midi(path)
    count = count_note_ons(path)
    tokens, decoded, report = round_trip(score.notes, config, time_signatures=score.meter())
    return FileRoundTrip(count.total, count.same_tick, report, score, tokens, decoded)
