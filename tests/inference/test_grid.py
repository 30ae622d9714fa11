"""Generated notes quantized to a grid (livegen/inference/grid.py, `livegen generate --grid`)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from livegen.inference.generate import GenerateRequest, generate_midi
from livegen.inference.grid import GRIDS, nearest_point, quantize_notes
from livegen.tokenizer import Note
from livegen.tokenizer.midi_file import read_midi, write_midi

TESTDATA = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi"


def on_grid(beat: float, grid: str) -> bool:
    return any(abs(beat / float(p) - round(beat / float(p))) < 1e-6 for p in GRIDS[grid])


def test_a_note_moves_to_the_nearest_point_and_a_tie_to_the_later() -> None:
    sixteenths = GRIDS["1/16"]
    assert nearest_point(1.1, sixteenths) == 1.0
    assert nearest_point(1.15, sixteenths) == 1.25
    assert nearest_point(1.125, sixteenths) == 1.25  # halfway: the later point
    assert nearest_point(0.3, GRIDS["1/16+1/8t"]) == pytest.approx(1 / 3)  # the nearer grid


@pytest.mark.parametrize("name", ["piano_maestro_4.mid", "band_funkytown.mid"])
def test_quantized_real_music_is_on_the_grid_keeps_lengths_and_never_overlaps_a_key(
    name: str,
) -> None:
    notes = read_midi(TESTDATA / name).notes[:3000]
    assert sum(not on_grid(n.start_beat, "1/16") for n in notes) > 100  # played, not sequenced
    out = quantize_notes(notes, "1/16", from_beat=8.0)
    kept_before = {(n.start_beat, n.channel, n.pitch, n.velocity) for n in out}
    for note in notes:  # a note before from_beat stays where it was (its end may be cut)
        if note.start_beat < 8.0:
            assert (note.start_beat, note.channel, note.pitch, note.velocity) in kept_before
    moved = [n for n in out if n.start_beat >= 8.0]
    assert all(on_grid(n.start_beat, "1/16") for n in moved)
    lengths = sorted(round(n.end_beat - n.start_beat, 6) for n in notes if n.start_beat >= 8.0)
    kept = sorted(round(n.end_beat - n.start_beat, 6) for n in moved)
    assert len(kept) >= 0.9 * len(lengths)  # few notes merge: one key struck twice on a point
    same = Counter(kept) & Counter(lengths)  # lengths kept, but where a re-strike cut a note
    assert sum(same.values()) >= 0.8 * len(kept)
    last_end: dict[tuple[int, int], float] = {}
    for note in out:
        key = (note.channel, note.pitch)
        assert note.start_beat >= last_end.get(key, -1.0) - 1e-9, f"{key} overlaps itself"
        assert note.end_beat > note.start_beat
        last_end[key] = note.end_beat


def test_a_key_struck_again_cuts_its_sounding_note_and_a_double_strike_is_one_note() -> None:
    notes = [Note(60, 0.0, 1.0, 80), Note(60, 0.55, 1.5, 70), Note(62, 2.02, 3.0, 80),
             Note(62, 1.98, 2.5, 90)]  # fmt: skip
    out = quantize_notes(notes, "1/8")
    expected = [Note(60, 0.0, 0.5, 80), Note(60, 0.5, 1.45, 70), Note(62, 2.0, 2.98, 80)]
    assert [(n.pitch, n.start_beat, n.velocity) for n in out] == [
        (n.pitch, n.start_beat, n.velocity) for n in expected
    ]
    assert [n.end_beat for n in out] == pytest.approx([n.end_beat for n in expected])


def test_an_unknown_grid_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="1/12"):
        quantize_notes([], "1/12")


def test_generate_on_a_grid_puts_every_generated_note_on_it_and_leaves_the_prompt(
    tmp_path: Path,
) -> None:
    prompt = [n for n in read_midi(TESTDATA / "piano_maestro_4.mid").notes if n.start_beat < 16]
    prompt = [replace(n, end_beat=min(n.end_beat, 16.0)) for n in prompt]
    write_midi(prompt, tmp_path / "prompt.mid")
    plain, gridded = tmp_path / "plain.mid", tmp_path / "grid.mid"
    generate_midi(tmp_path / "prompt.mid", plain, GenerateRequest(bars=4, seed=2), "default")
    request = GenerateRequest(bars=4, seed=2, grid="1/8t")
    generate_midi(tmp_path / "prompt.mid", gridded, request, "default")
    free = [n for n in read_midi(plain).notes if n.start_beat >= 16]
    snapped = [n for n in read_midi(gridded).notes if n.start_beat >= 16]
    assert sum(not on_grid(n.start_beat, "1/8t") for n in free) > 10  # the model's own timing
    assert snapped and all(on_grid(n.start_beat, "1/8t") for n in snapped)
    # the same continuation (one seed), moved: one note per key and grid point it lands on
    points = {
        (n.channel, n.pitch, round(nearest_point(n.start_beat, GRIDS["1/8t"]), 6)) for n in free
    }
    assert len(snapped) == len(points)
    earlier = [n for n in read_midi(gridded).notes if n.start_beat < 16 - 1 / 6]
    assert earlier == [n for n in read_midi(plain).notes if n.start_beat < 16 - 1 / 6]
