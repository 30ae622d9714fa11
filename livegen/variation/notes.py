"""Condensed notes: a MIDI file's notes as (pitch, velocity, onset gap, duration) rows in windows.

The representation of issue 17 (after the BiLSTM-VAE / DDPM variation work), in beats:
- one row per note, in onset order (ties by pitch): `pitch` 0..127, `velocity` in (0, 1]
  (MIDI velocity / 127), `gap_beats` the time since the previous note's onset, `dur_beats` its
  length. Chord notes have gap 0, so the gap lies in [0, MAX_GAP_BEATS].
- **Beats, not seconds**: times come from livegen's reader in beats (ticks / ticks per beat), so a
  variation keeps to the file's grid at any tempo. MAX_GAP_BEATS = MAX_DUR_BEATS = 4 beats, which
  is the reference's 2 s at 120 bpm. Longer gaps and notes are clipped to 4 beats; that clipping is
  the only loss of the round trip rows -> notes -> rows.
- Drums (channel 9) are left out: they have no pitch to vary. A variation keeps them as they are.
- Windows are N consecutive rows (N = 16 by default), cut without overlap; the notes after the
  last whole window are not in any window. A window's `origin_beat` is the onset of the note
  before its first one (0 for the first window), so its notes are rebuilt at
  origin + cumulative gaps.

Models see `features`: pitch as an integer and the three continuous fields scaled to [0, 1]
(velocity as is, gap / MAX_GAP_BEATS, duration / MAX_DUR_BEATS); `from_features` undoes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livegen.tokenizer import DRUM_CHANNEL, Note, read_midi

MAX_GAP_BEATS = 4.0  # s_max of the reference (2 s) at 120 bpm
MAX_DUR_BEATS = 4.0  # d_max, likewise
DEFAULT_WINDOW = 16
PITCHES = 128
MIDI_VELOCITY_MAX = 127
# columns of a row
PITCH, VELOCITY, GAP, DUR = range(4)
SCALES = np.array([1.0, MAX_GAP_BEATS, MAX_DUR_BEATS], dtype=np.float32)


@dataclass(frozen=True)
class NoteWindows:
    """A file's pitched notes cut into windows of `rows.shape[1]` condensed notes."""

    rows: np.ndarray  # (W, N, 4) float32: pitch, velocity, gap_beats, dur_beats
    origins: np.ndarray  # (W,) float64: onset (beats) of the note before each window's first
    sources: list[Note]  # the pitched notes in row order (channel and program come from here)
    others: list[Note]  # notes in no window: drums and the tail after the last whole window

    @property
    def n_windows(self) -> int:
        return int(self.rows.shape[0])


def pitched_notes(notes: Sequence[Note]) -> list[Note]:
    """The non-drum notes in onset order, ties by pitch."""
    return sorted(
        (n for n in notes if n.channel != DRUM_CHANNEL), key=lambda n: (n.start_beat, n.pitch)
    )


def notes_to_rows(notes: Sequence[Note], origin_beat: float = 0.0) -> np.ndarray:
    """(M, 4) condensed rows of `notes` (taken in the given order), gaps from `origin_beat`."""
    rows = np.zeros((len(notes), 4), dtype=np.float32)
    previous = origin_beat
    for i, note in enumerate(notes):
        rows[i, PITCH] = note.pitch
        rows[i, VELOCITY] = max(note.velocity, 1) / MIDI_VELOCITY_MAX
        rows[i, GAP] = min(max(note.start_beat - previous, 0.0), MAX_GAP_BEATS)
        rows[i, DUR] = min(max(note.end_beat - note.start_beat, 0.0), MAX_DUR_BEATS)
        previous = note.start_beat
    return rows


def rows_to_notes(
    rows: np.ndarray, origin_beat: float = 0.0, like: Sequence[Note] | None = None
) -> list[Note]:
    """Notes of (M, 4) rows: onsets at origin + cumulative gaps; channel and program from `like`
    (the notes the rows stand for), else channel 0 without program."""
    notes = []
    onset = origin_beat
    for i, row in enumerate(np.asarray(rows, dtype=np.float64)):
        onset += float(np.clip(row[GAP], 0.0, MAX_GAP_BEATS))
        duration = float(np.clip(row[DUR], 0.0, MAX_DUR_BEATS))
        velocity = int(np.clip(round(row[VELOCITY] * MIDI_VELOCITY_MAX), 1, MIDI_VELOCITY_MAX))
        pitch = int(np.clip(round(row[PITCH]), 0, PITCHES - 1))
        channel, program = (like[i].channel, like[i].program) if like is not None else (0, None)
        notes.append(Note(pitch, onset, onset + duration, velocity, channel, program))
    return notes


def cut_windows(notes: Sequence[Note], window: int = DEFAULT_WINDOW) -> NoteWindows:
    """Cut the pitched notes into windows of `window` rows (see the module docstring)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    pitched = pitched_notes(notes)
    drums = [n for n in notes if n.channel == DRUM_CHANNEL]
    n_windows = len(pitched) // window
    rows = notes_to_rows(pitched).reshape(-1, 4)
    rows = rows[: n_windows * window].reshape(n_windows, window, 4)
    origins = np.zeros(n_windows, dtype=np.float64)
    for w in range(1, n_windows):
        origins[w] = pitched[w * window - 1].start_beat
    if n_windows:  # a window's first gap is from the note before it (exact, not the clipped sum)
        first = np.array([pitched[w * window].start_beat for w in range(n_windows)])
        rows[:, 0, GAP] = np.clip(first - origins, 0.0, MAX_GAP_BEATS)
    sources = pitched[: n_windows * window]
    return NoteWindows(rows, origins, sources, drums + pitched[n_windows * window :])


def read_windows(path: str | Path, window: int = DEFAULT_WINDOW) -> NoteWindows:
    """`cut_windows` of a MIDI file read with livegen's reader (MidiFileError if unreadable)."""
    return cut_windows(read_midi(path).notes, window)


def windows_to_notes(windows: NoteWindows, rows: np.ndarray | None = None) -> list[Note]:
    """All notes again: each window's rows (`rows`, e.g. a variation, or the originals) placed at
    its origin with the channels of the notes it stands for, plus the notes in no window."""
    rows = windows.rows if rows is None else rows
    window = windows.rows.shape[1] if windows.rows.ndim == 3 else 0
    notes: list[Note] = []
    for w in range(windows.n_windows):
        like = windows.sources[w * window : (w + 1) * window]
        notes.extend(rows_to_notes(rows[w], float(windows.origins[w]), like))
    notes.extend(windows.others)
    return sorted(notes, key=lambda n: (n.start_beat, n.channel, n.pitch))


def to_features(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 4) rows -> pitch (...,) int64 and continuous (..., 3) float32 in [0, 1]."""
    pitch = np.rint(rows[..., PITCH]).astype(np.int64)
    cont = (rows[..., VELOCITY:] / SCALES).astype(np.float32)
    return pitch, np.clip(cont, 0.0, 1.0)


def from_features(pitch: np.ndarray, cont: np.ndarray) -> np.ndarray:
    """Inverse of `to_features`: (..., 4) rows with fields clipped to their ranges."""
    cont = np.clip(np.asarray(cont, dtype=np.float32), 0.0, 1.0)
    rows = np.empty((*pitch.shape, 4), dtype=np.float32)
    rows[..., PITCH] = np.clip(pitch, 0, PITCHES - 1)
    rows[..., VELOCITY:] = cont * SCALES
    rows[..., VELOCITY] = np.maximum(rows[..., VELOCITY], 1.0 / MIDI_VELOCITY_MAX)
    return rows
