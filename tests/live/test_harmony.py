"""The live chords: the knob's forms, CHORD tokens after the bar line or beat they apply from,
the player's chord followed per beat, rollback, and the time-shift limit at a chord boundary."""

from __future__ import annotations

import bisect
import os
from pathlib import Path

import numpy as np
import pytest

from livegen.data.band_chart import read_chord_labels
from livegen.errors import ConfigError
from livegen.live import harmony as harmony_module
from livegen.live.harmony import FOLLOW, LiveHarmony, parse_chords_knob
from livegen.live.knobs import Knobs
from livegen.music import estimate
from livegen.music.chords import parse_progression
from livegen.tokenizer import TokenizerConfig, TokenKind, Vocab
from livegen.tokenizer.midi_file import read_midi

VOCAB = Vocab(TokenizerConfig(structure_tokens=True))
SPB, BAR = 24, 96


def harmony(knob: str) -> LiveHarmony:
    made = LiveHarmony(VOCAB, SPB, BAR)
    made.set_knob(knob)
    return made


def names(tokens: list[int]) -> list[str]:
    return [VOCAB.name(t) for t in tokens]


def test_the_knob_is_off_a_progression_or_follow() -> None:
    assert parse_chords_knob("") == () and parse_chords_knob(" Follow ") == FOLLOW
    assert parse_chords_knob("C G Am F") == parse_progression("C G Am F")
    assert Knobs(chords="| Dm7 | G7 |").chords == "| Dm7 | G7 |"
    with pytest.raises(ConfigError, match=r"^chords: chord 'H7' not understood.*'follow'"):
        Knobs(chords="C H7")


def test_a_progression_loops_per_bar_after_each_bar_line() -> None:
    live = harmony("C G")
    shift = VOCAB.shift(96)
    # the encoder's time: BAR at 0, a bar's shift, BAR at 96, ... (it writes its own bar lines)
    tokens = live.insert([VOCAB.bar, shift, VOCAB.bar, shift, VOCAB.bar, shift, VOCAB.bar], 0)
    assert names(tokens) == [
        "BAR", "CHORD_C", "TIME_SHIFT_96", "BAR", "CHORD_G",
        "TIME_SHIFT_96", "BAR", "CHORD_C", "TIME_SHIFT_96", "BAR", "CHORD_G",
    ]  # fmt: skip


def test_a_model_shift_onto_a_bar_line_gets_its_bar_and_chord() -> None:
    live = harmony("C G")
    assert names(live.due(96, VOCAB.shift(48))) == ["BAR", "CHORD_G"]
    assert live.due(120, VOCAB.shift(24)) == []  # inside the bar: nothing due
    assert live.due(97, VOCAB.note_on(60)) == []


def test_the_same_chord_again_is_not_written() -> None:
    live = harmony("C C G")
    tokens = live.insert([VOCAB.bar, VOCAB.shift(96), VOCAB.bar, VOCAB.shift(96), VOCAB.bar], 0)
    assert names(tokens).count("CHORD_C") == 1 and "CHORD_G" in names(tokens)


def test_rollback_forgets_the_chords_written_after_it() -> None:
    live = harmony("C G")
    live.insert([VOCAB.bar, VOCAB.shift(96), VOCAB.bar], 0)
    live.rollback(50)
    assert [step for step, _ in live.written] == [0]
    assert names(live.due(96, VOCAB.shift(46))) == ["BAR", "CHORD_G"]  # written again


def test_follow_names_the_held_triad_each_beat() -> None:
    live = harmony(FOLLOW)
    for pitch in (60, 64, 67):  # C major held from step 0
        live.note_player(0, pitch, 90, 0)
    assert names(live.due(24, VOCAB.shift(24))) == ["CHORD_C"]
    for pitch in (60, 64, 67):  # released at the bar line, F major pressed there
        live.note_player(0, pitch, 0, 96)
    for pitch in (65, 69, 72):
        live.note_player(0, pitch, 90, 96)
    # at the bar line the F triad is held: it outweighs the C just released
    assert names(live.due(96, VOCAB.shift(72))) == ["BAR", "CHORD_F"]
    assert live.due(120, VOCAB.shift(24)) == []  # still F: not written again


def _leaned_classes(live: LiveHarmony, step: int) -> set[int]:
    flat = np.zeros(VOCAB.size, dtype=np.float32)
    leaned = live.lean(flat, step, channel=0)
    favoured = np.flatnonzero(leaned > leaned[VOCAB.note_on(61)])  # C#: in none of the triads
    return {VOCAB.arg_list[t] % 12 for t in favoured if VOCAB.kind(t) == TokenKind.NOTE_ON}


def test_follow_leans_on_the_chord_the_player_struck_just_after_the_beat_was_decided() -> None:
    """F was written on the bar line; the player's G triad arrives a step later: the model's
    next notes lean toward G at once, while G's token waits for the next beat."""
    live = harmony(FOLLOW)
    for pitch in (65, 69, 72):  # F held before the bar line
        live.note_player(0, pitch, 90, 0)
    assert names(live.due(96, VOCAB.shift(96))) == ["BAR", "CHORD_F"]
    assert _leaned_classes(live, 97) == {5, 9, 0}
    for pitch in (65, 69, 72):
        live.note_player(0, pitch, 0, 97)
    for pitch in (67, 71, 74):
        live.note_player(0, pitch, 90, 97)
    assert names(live.insert([VOCAB.shift(1)], 96)) == ["TIME_SHIFT_1"]  # no token yet
    assert _leaned_classes(live, 98) == {7, 11, 2}
    assert names(live.due(120, VOCAB.shift(22))) == ["CHORD_G"]  # the next beat writes it


def test_follow_with_nothing_played_is_no_chord() -> None:
    assert names(harmony(FOLLOW).due(24, VOCAB.shift(24))) == ["CHORD_N"]


def test_a_time_shift_may_not_cross_the_next_chord_boundary_nor_the_model_write_a_bar() -> None:
    mask = np.ones(VOCAB.size, bool)
    bar_mask = harmony("C G").restrict(mask, 90)
    beat_mask = harmony(FOLLOW).restrict(mask, 30)
    shifts = VOCAB.ids_of_kind(TokenKind.TIME_SHIFT)
    assert [int(VOCAB.args[t]) for t in shifts if bar_mask[t]] == list(range(1, 7))
    assert [int(VOCAB.args[t]) for t in shifts if beat_mask[t]] == list(range(1, 19))
    assert not bar_mask[VOCAB.bar] and bar_mask[VOCAB.note_on(60)]
    assert harmony("").restrict(mask, 90) is mask  # off: nothing changes


def test_a_model_without_chord_tokens_ignores_the_knob(caplog) -> None:
    live = LiveHarmony(Vocab(), SPB, BAR)
    live.set_knob("C G")
    assert not live.active and "not trained with chord tokens" in caplog.text
    assert live.insert([Vocab().bar], 0) == [Vocab().bar]


POP909 = Path(os.environ["LIVEGEN_POP909"])  # tests/conftest.py finds it


def _followed_tone_share(songs: tuple[str, ...]) -> float:
    """Per beat of POP909 melodies played into follow mode: the share of the followed chord's
    tones that the song's chord label there holds (beats with no label or no chord left out)."""
    shares = []
    for song in songs:
        score = read_midi(POP909 / "midi" / f"{song}.mid")
        spans = read_chord_labels(POP909 / "chords" / f"{song}.txt")
        starts = [span.start_s for span in spans]
        melody = sorted((n for n in score.notes if n.channel == 0), key=lambda n: n.start_beat)
        events = sorted(
            [(round(n.start_beat * SPB), 1, n.pitch, n.velocity) for n in melody]
            + [(round(n.end_beat * SPB), 0, n.pitch, 0) for n in melody]
        )
        live, fed = harmony(FOLLOW), 0
        for beat in range(int(melody[0].start_beat) + 1, int(melody[-1].end_beat)):
            step = beat * SPB
            while fed < len(events) and events[fed][0] <= step:
                at, _, pitch, velocity = events[fed]
                live.note_player(0, pitch, velocity, at)
                fed += 1
            live.due(step, VOCAB.shift(SPB))  # writes the beat's chord, as the stream would
            chord = live.followed_chord(step)
            i = bisect.bisect_right(starts, score.seconds_at(beat)) - 1
            if i < 0 or chord.is_none or spans[i].chord.is_none:
                continue
            shares.append(len(chord.pitch_classes & spans[i].chord.pitch_classes) / 3)
    return float(np.mean(shares))


def test_following_a_real_melody_reads_it_in_its_key_over_two_beats(monkeypatch) -> None:
    songs = ("031", "032", "034", "035")
    now = _followed_tone_share(songs)
    # as follow mode read a melody before: the beat before alone, no key, no staying
    monkeypatch.setattr(harmony_module, "FOLLOW_WINDOW_BEATS", 1)
    monkeypatch.setattr(estimate, "IN_KEY_BONUS", 0.0)
    monkeypatch.setattr(estimate, "STAY_MARGIN", 0.0)
    before = _followed_tone_share(songs)
    assert now > before + 0.03, (now, before)
