"""Chord-tone, strong-beat and in-key shares per bar, with answers worked out by hand."""

from __future__ import annotations

import pytest

from livegen.music.chord_fit import chord_fit
from livegen.music.chords import parse_progression
from livegen.music.keys import parse_key

C_MAJOR = parse_key("C major")


def test_a_bar_of_chord_tones_fits_fully_and_a_wrong_chord_not_at_all() -> None:
    # C E G C on the four beats of bar 1; the same notes in bar 2 over F# major (F# A# C#)
    pitches = [60, 64, 67, 72] * 2
    starts = [0, 1, 2, 3, 4, 5, 6, 7]
    ends = [s + 1 for s in starts]
    report = chord_fit(pitches, starts, ends, parse_progression("C F#"), C_MAJOR)
    first, second = report.bars
    assert (first.chord_share, first.strong_chord_share, first.key_share) == (1.0, 1.0, 1.0)
    assert (second.chord_share, second.strong_chord_share) == (0.0, 0.0)
    assert second.chord_or_key_share == 1.0  # all diatonic to C major
    assert report.mean("chord_share") == 0.5
    assert report.share_of_bars_at_least("chord_share", 0.8) == 0.5


def test_shares_weigh_durations_and_strong_beats_count_notes() -> None:
    # over C: a 3-beat C (chord tone) on beat 1, a 1-beat F# (neither) on beat 4
    report = chord_fit([60, 66], [0.0, 3.0], [3.0, 4.0], parse_progression("C"), C_MAJOR)
    bar = report.bars[0]
    assert bar.chord_share == pytest.approx(0.75) and bar.key_share == pytest.approx(0.75)
    assert bar.strong_chord_share == 1.0  # only beat 1's C starts on a strong beat


def test_a_mode_counts_its_own_notes() -> None:
    dorian = parse_key("D dorian")
    report = chord_fit([62, 71, 70], [0, 1, 2], [1, 2, 3], parse_progression("Dm"), dorian)
    assert report.bars[0].key_share == pytest.approx(2 / 3)  # B is in D dorian, Bb is not


def test_empty_bars_and_no_chord_have_no_share() -> None:
    report = chord_fit([60], [0.5], [1.0], parse_progression("C N G"), None)
    assert report.bars[0].chord_share == 1.0 and report.bars[0].key_share is None
    assert report.bars[1].chord_share is None and report.bars[2].chord_share is None
    assert report.mean("chord_share") == 1.0
