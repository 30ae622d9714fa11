"""bench/accompany_sim.py: the live session playing beside POP909's real melodies, scored as the
songs' own parts are. The scoring must see a real arranger's part as what it is (chord tones, in
time with the labels) and a wrong one as wrong, or its figures for the model mean nothing."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POP909 = Path(os.environ["LIVEGEN_POP909"])
SONG = "011"  # a test-split song of the default model's data


def _load(name: str):  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "bench"))  # accompany_sim imports replan_sim beside it
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "bench"))


@pytest.fixture(scope="module")
def sim():  # type: ignore[no-untyped-def]
    return _load("accompany_sim")


def _song(sim):  # type: ignore[no-untyped-def]
    notes, bpm = sim.read_notes(POP909 / "midi" / f"{SONG}.mid")
    spans = sim.read_chord_labels(POP909 / "chords" / f"{SONG}.txt")
    return notes, bpm, spans


def test_the_songs_own_piano_part_is_mostly_chord_tones_and_a_tritone_away_it_is_not(sim) -> None:
    notes, bpm, spans = _song(sim)
    melody = [n for n in notes if n.channel == sim.MELODY]
    piano = [(n.start_s, n.pitch) for n in notes if n.channel == sim.PIANO]
    assert melody and piano and 50 < bpm < 200
    bars = (piano[-1][0] - piano[0][0]) / (60 / bpm) / 4
    real = sim.part_stats(piano, melody, spans, bars)
    moved = sim.part_stats([(t, p + 6) for t, p in piano], melody, spans, bars)
    late = sim.part_stats([(t + 60 / bpm * 1.5, p) for t, p in piano], melody, spans, bars)
    assert real["chord_tones"] > 0.85
    assert moved["chord_tones"] < 0.5  # a tritone off the harmony
    assert late["chord_tones"] < real["chord_tones"] - 0.1  # a beat and a half off the labels
    assert real["below_melody"] > 0.6  # an accompaniment sits under its melody
    assert 2 < real["notes_per_bar"] < 40


def test_a_song_run_scores_the_real_parts_and_each_asked_channel_and_repeats(
    sim, tiny_model
) -> None:
    model = tiny_model("rope", context=512)
    first = sim.run_song(
        model, POP909 / "midi" / f"{SONG}.mid", POP909 / "chords" / f"{SONG}.txt",
        seconds=6.0, channels=[1, 2], seeds=1, density=1.0,
    )  # fmt: skip
    again = sim.run_song(
        model, POP909 / "midi" / f"{SONG}.mid", POP909 / "chords" / f"{SONG}.txt",
        seconds=6.0, channels=[1, 2], seeds=1, density=1.0,
    )  # fmt: skip
    assert first == again
    assert set(first) == {"song ch2 (bridge)", "song ch3 (piano)", "model ch2", "model ch3"}
    assert first["song ch3 (piano)"]["notes_per_bar"] > 0
    for part in ("model ch2", "model ch3"):
        assert first[part]["tokens_fed"] > 0  # the melody went in and the model wrote
