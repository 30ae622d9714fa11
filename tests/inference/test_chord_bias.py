"""The lean toward the chord's tones: chord tones' note-ons gain nats, most on beats 1 and 3;
nothing for the drums, for "N", at weight 0; and `generate --chord-weight` plays more of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from livegen.inference.chord_bias import CHORD_TONE_BIAS, OFFBEAT_CHORD_TONE_BIAS, ChordToneBias
from livegen.inference.conditioning import Harmony
from livegen.inference.generate import GenerateRequest, generate_midi
from livegen.music.chords import parse_chord
from livegen.tokenizer import TokenizerConfig, TokenKind, Vocab
from livegen.tokenizer.midi_file import read_midi
from livegen.tokenizer.vocab import DRUM_CHANNEL

VOCAB = Vocab(TokenizerConfig(structure_tokens=True))
SPB = VOCAB.config.steps_per_beat
BAR = 4 * SPB


def _biased_pitches(bias: np.ndarray) -> dict[int, float]:
    return {VOCAB.arg_list[t]: float(bias[t]) for t in np.flatnonzero(bias)}


def test_on_the_strong_beats_every_chord_tone_note_on_gains_the_full_bias() -> None:
    bias = ChordToneBias(VOCAB, BAR).bias(parse_chord("Am"), 2 * SPB, channel=0)
    assert bias is not None
    biased = _biased_pitches(bias)
    assert set(biased) == {p for p in range(128) if p % 12 in (9, 0, 4)}
    assert set(biased.values()) == {CHORD_TONE_BIAS}
    assert all(VOCAB.kind(t) == TokenKind.NOTE_ON for t in np.flatnonzero(bias))


def test_off_the_strong_beats_the_lean_is_smaller_and_a_near_miss_still_counts_as_on() -> None:
    lean = ChordToneBias(VOCAB, BAR)
    chord = parse_chord("C")
    offbeat = lean.bias(chord, SPB, channel=0)
    assert offbeat is not None and offbeat.max() == OFFBEAT_CHORD_TONE_BIAS
    near = lean.bias(chord, 2 * SPB - SPB // 12, channel=0)  # 1/12 beat early: within 1/8
    assert near is not None and near.max() == CHORD_TONE_BIAS


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x.astype(np.float64) - x.max())
    return e / e.sum()


def test_the_lean_chooses_which_note_never_whether_to_play_one() -> None:
    logits = np.random.default_rng(0).normal(size=VOCAB.size).astype(np.float32)
    leaned = ChordToneBias(VOCAB, BAR).lean(logits, parse_chord("G"), 0, channel=0)
    note_on = VOCAB.kinds == TokenKind.NOTE_ON
    g_tones = note_on & np.isin(VOCAB.args % 12, [7, 11, 2])
    before, after = _softmax(logits), _softmax(leaned)
    assert after[note_on].sum() == pytest.approx(before[note_on].sum(), rel=1e-5)
    share = after[g_tones].sum() / after[note_on].sum()
    assert share > before[g_tones].sum() / before[note_on].sum() + 0.3
    np.testing.assert_array_equal(leaned[~note_on], logits[~note_on])
    assert ChordToneBias(VOCAB, BAR).lean(logits, None, 0, channel=0) is logits


def test_a_three_four_bar_has_only_its_bar_line_strong() -> None:
    lean = ChordToneBias(VOCAB, 3 * SPB)
    assert lean.is_strong(0) and not lean.is_strong(SPB) and not lean.is_strong(int(1.5 * SPB))


def test_nothing_to_lean_on_for_drums_no_chord_or_weight_zero() -> None:
    lean = ChordToneBias(VOCAB, BAR)
    assert lean.bias(parse_chord("C"), 0, channel=DRUM_CHANNEL) is None
    assert lean.bias(parse_chord("N"), 0, channel=0) is None
    assert lean.bias(None, 0, channel=0) is None
    assert lean.bias(parse_chord("C"), 0, channel=0, weight=0) is None
    doubled = lean.bias(parse_chord("C"), 0, channel=0, weight=2)
    assert doubled is not None and doubled.max() == 2 * CHORD_TONE_BIAS


def test_a_bad_chord_weight_is_one_line() -> None:
    from livegen.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--chord-weight must be in 0\.\.10"):
        Harmony.parse("C", chord_weight=11)


def _g_chord_share(model: Path, tmp_path: Path, weight: float) -> float:
    request = GenerateRequest(
        bars=32, seed=3, harmony=Harmony.parse("G", chord_weight=weight), channels=()
    )
    result = generate_midi(None, tmp_path / f"w{weight:g}.mid", request, str(model))[0]
    notes = read_midi(result.path).notes
    assert len(notes) >= 15, "too few notes to compare"
    return sum(n.pitch % 12 in (7, 11, 2) for n in notes) / len(notes)


def test_generate_plays_more_of_the_chord_with_a_chord_weight(
    chord_model: Path, tmp_path: Path
) -> None:
    """The hand-set model likes C, E and G equally: over a G chord, the token alone leaves about
    a third of its notes on G's tones (the G itself); leaning on the chord moves most there."""
    alone = _g_chord_share(chord_model, tmp_path, 0)
    leaned = _g_chord_share(chord_model, tmp_path, 3)
    assert alone < 0.5
    assert leaned > alone + 0.2
