"""Condensed note windows: MIDI notes -> rows -> notes is exact up to the 4-beat clipping."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from livegen.tokenizer import Note, read_midi, write_midi
from livegen.variation.notes import (
    DUR,
    GAP,
    MAX_DUR_BEATS,
    MAX_GAP_BEATS,
    VELOCITY,
    cut_windows,
    from_features,
    notes_to_rows,
    read_windows,
    rows_to_notes,
    to_features,
    windows_to_notes,
)

MIDI_DIR = Path(os.environ["LIVEGEN_TESTDATA"]).resolve() / "midi"
FILES = [
    "short_melody.mid",
    "piano_bach_score.mid",
    "piano_pop_1390.mid",
    "band_funkytown.mid",
    "piano_maestro_1.mid",
    "short_mary_no_tempo.mid",
]


def _key(note: Note) -> tuple:
    return (note.start_beat, note.pitch)


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("window", [8, 16, 32])
def test_windows_cover_the_pitched_notes_in_order(name: str, window: int) -> None:
    notes = read_midi(MIDI_DIR / name).notes
    cut = cut_windows(notes, window)
    pitched = [n for n in notes if n.channel != 9]
    assert cut.rows.shape == (len(pitched) // window, window, 4)
    assert len(cut.sources) + len(cut.others) == len(notes)
    rows = cut.rows
    assert np.all((rows[..., VELOCITY] > 0) & (rows[..., VELOCITY] <= 1))
    assert np.all((rows[..., GAP] >= 0) & (rows[..., GAP] <= MAX_GAP_BEATS))
    assert np.all((rows[..., DUR] >= 0) & (rows[..., DUR] <= MAX_DUR_BEATS))


@pytest.mark.parametrize("name", FILES[1:])  # short_melody has under 16 notes
def test_a_window_round_trips_exactly_up_to_the_clipping(name: str) -> None:
    cut = read_windows(MIDI_DIR / name, 16)
    assert cut.n_windows > 0
    for w in range(cut.n_windows):
        rebuilt = rows_to_notes(cut.rows[w], float(cut.origins[w]), cut.sources[w * 16 :])
        # rows -> notes -> rows is the identity
        again = notes_to_rows(rebuilt, float(cut.origins[w]))
        np.testing.assert_allclose(again, cut.rows[w], atol=1e-5)
        for original, note in zip(cut.sources[w * 16 : (w + 1) * 16], rebuilt, strict=True):
            assert (note.pitch, note.velocity, note.channel, note.program) == (
                original.pitch,
                original.velocity,
                original.channel,
                original.program,
            )
            duration = original.end_beat - original.start_beat
            assert note.end_beat - note.start_beat == pytest.approx(
                min(duration, MAX_DUR_BEATS), abs=1e-5
            )
        gaps = np.diff(
            [cut.origins[w], *(n.start_beat for n in cut.sources[w * 16 : (w + 1) * 16])]
        )
        if np.all(gaps <= MAX_GAP_BEATS):  # no gap clipped: every onset is exact
            for original, note in zip(cut.sources[w * 16 :], rebuilt, strict=False):
                assert note.start_beat == pytest.approx(original.start_beat, abs=1e-4)


@pytest.mark.parametrize("name", FILES)
def test_windows_back_to_a_midi_file_keep_every_note(name: str, tmp_path: Path) -> None:
    score = read_midi(MIDI_DIR / name)
    cut = cut_windows(score.notes, 16)
    out = write_midi(
        windows_to_notes(cut), tmp_path / "out.mid", ticks_per_beat=score.ticks_per_beat
    )
    again = cut_windows(read_midi(out).notes, 16)
    assert again.rows.shape == cut.rows.shape
    np.testing.assert_array_equal(again.rows[..., 0], cut.rows[..., 0])
    # a clipped gap moves the rest of its window (and so the next window's first gap): windows
    # clear of clipping come back exactly
    clipped = np.any(cut.rows[..., GAP] >= MAX_GAP_BEATS, axis=1)
    exact = ~(clipped | np.concatenate([[False], clipped[:-1]]))
    np.testing.assert_allclose(again.rows[exact], cut.rows[exact], atol=1e-5)


def test_a_long_rest_is_clipped_to_four_beats() -> None:
    notes = [Note(60, 0.0, 1.0, 100), Note(62, 10.0, 20.0, 64)]
    rows = notes_to_rows(notes)
    assert rows[1, GAP] == MAX_GAP_BEATS and rows[1, DUR] == MAX_DUR_BEATS
    rebuilt = rows_to_notes(rows)
    assert (rebuilt[1].start_beat, rebuilt[1].end_beat) == (4.0, 8.0)


def test_features_scale_to_the_unit_interval_and_back() -> None:
    cut = read_windows(MIDI_DIR / "piano_bach_score.mid", 16)
    pitch, cont = to_features(cut.rows)
    assert pitch.dtype == np.int64 and cont.min() >= 0 and cont.max() <= 1
    np.testing.assert_allclose(from_features(pitch, cont), cut.rows, atol=1e-6)
