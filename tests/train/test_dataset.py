"""Augmentation on token ids and deterministic batches (train/dataset.py)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from livegen.train.dataset import AugmentConfig, Augmenter, TrainBatches, drum_mask

from livegen.data.shards import load_split
from livegen.tokenizer import Grammar, Note, TokenizerConfig, Vocab, decode_tokens, encode_notes

CONFIG = TokenizerConfig()
VOCAB = Vocab(CONFIG)


def _song() -> list[Note]:
    """Two bars of 4/4: a melody on channel 0 (with a triplet), a bass on 1, drums on 9."""
    notes = [Note(60 + i, i * 0.5, i * 0.5 + 0.5, 80, 0, 0) for i in range(8)]
    notes += [Note(64, 4 + i / 3, 4 + (i + 1) / 3, 70, 0, 0) for i in range(3)]
    notes += [Note(36, 0, 4, 60, 1, 32), Note(43, 4, 8, 60, 1, 32)]
    notes += [Note(36 + (i % 2) * 2, i * 1.0, i * 1.0 + 0.25, 100, 9) for i in range(8)]
    return notes


def _tokens(notes=None) -> np.ndarray:
    return np.array(encode_notes(notes or _song(), CONFIG, bos=True, eos=True), dtype=np.int64)


def _augmenter(transpose=6, velocity=0.0, stretch=0.0) -> Augmenter:
    return Augmenter(VOCAB, AugmentConfig(transpose, velocity, stretch, mode_probability=0.0))


def test_drum_mask_follows_channel_tokens_and_bos_resets() -> None:
    tokens = _tokens()
    mask = drum_mask(tokens, VOCAB)
    decoded_drums = {n.pitch for n in decode_tokens(tokens, CONFIG) if n.channel == 9}
    on_ids = [
        t for t, m in zip(tokens, mask, strict=True) if m and VOCAB.name(t).startswith("NOTE_ON")
    ]
    assert {int(VOCAB.args[t]) for t in on_ids} == decoded_drums
    twice = np.concatenate([tokens, tokens])
    assert not drum_mask(twice, VOCAB)[tokens.size + 1]  # second piece starts on channel 0


@pytest.mark.parametrize("seed", range(8))
def test_transposition_moves_pitched_notes_together_and_leaves_drums(seed: int) -> None:
    tokens = _tokens()
    out = _augmenter()(tokens, drum_mask(tokens, VOCAB), np.random.default_rng(seed))
    before, after = decode_tokens(tokens, CONFIG), decode_tokens(out, CONFIG)
    shifts = {a.pitch - b.pitch for a, b in zip(after, before, strict=True) if b.channel != 9}
    assert len(shifts) == 1 and abs(shifts.pop()) <= 6
    assert [n.pitch for n in after if n.channel == 9] == [n.pitch for n in before if n.channel == 9]
    assert Grammar(VOCAB).is_valid(out.tolist()[1:])


def test_transposition_never_leaves_the_midi_range() -> None:
    notes = [Note(125, 0, 1, 80), Note(2, 1, 2, 80)]  # room for at most +2 / -2
    tokens = _tokens(notes)
    seen = set()
    for seed in range(200):
        out = _augmenter()(tokens, drum_mask(tokens, VOCAB), np.random.default_rng(seed))
        pitches = [n.pitch for n in decode_tokens(out, CONFIG)]
        assert all(0 <= p <= 127 for p in pitches)
        seen.add(pitches[0] - 125)
    assert seen == {-2, -1, 0, 1, 2}


def test_key_tokens_follow_the_transposition() -> None:
    tokens = np.array(
        [
            VOCAB.bos,
            VOCAB.key("Am"),
            VOCAB.note_on(60),
            VOCAB.velocity(5),
            VOCAB.shift(24),
            VOCAB.note_off(60),
        ]
    )
    out = _augmenter()(tokens, drum_mask(tokens, VOCAB), np.random.default_rng(3))
    shift = int(VOCAB.args[out[2]]) - 60
    names = ["C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm", "Cm"]
    assert VOCAB.name(int(out[1])) == "KEY_" + names[(8 + shift) % 12]


def test_velocity_scaling_keeps_bins_in_range_and_order() -> None:
    tokens = _tokens()
    aug = _augmenter(transpose=0, velocity=0.5)
    for seed in range(20):
        out = aug(tokens, drum_mask(tokens, VOCAB), np.random.default_rng(seed))
        vel = VOCAB.kinds[out] == VOCAB.kinds[VOCAB.velocity(0)]
        bins = VOCAB.args[out[vel]]
        assert bins.min() >= 0 and bins.max() < CONFIG.velocity_bins
        original = VOCAB.args[tokens[vel]]
        assert np.all(np.diff(bins[np.argsort(original, kind="stable")]) >= 0)


def _notes_key(notes, factor=1.0):
    return sorted((n.pitch, n.channel, n.start_beat * factor, n.end_beat * factor) for n in notes)


def test_stretch_by_two_doubles_every_time_and_keeps_the_grammar() -> None:
    tokens = _tokens()
    out = _augmenter().stretch(tokens, 2.0)
    assert out is not None
    assert _notes_key(decode_tokens(out, CONFIG)) == _notes_key(decode_tokens(tokens, CONFIG), 2)
    assert Grammar(VOCAB).is_valid(out.tolist()[1:])
    bar_steps = np.cumsum(
        np.where(VOCAB.kinds[out] == VOCAB.kinds[VOCAB.shift(1)], VOCAB.args[out], 0)
    )[out == VOCAB.bar]
    assert set(np.diff(bar_steps)) == {96}  # still 4/4 bars on the new time line


def test_stretch_by_half_is_exact_or_refused() -> None:
    tokens = _tokens()
    out = _augmenter().stretch(tokens, 0.5)
    assert out is not None
    assert _notes_key(decode_tokens(out, CONFIG)) == _notes_key(decode_tokens(tokens, CONFIG), 0.5)
    odd = _tokens([Note(60, 0, 1, 80), Note(62, 1 + 1 / 24, 2, 80), Note(64, 4, 5, 80)])
    assert _augmenter().stretch(odd, 0.5) is None  # an event 1 step off the even grid


def test_stretch_refuses_a_window_without_a_steady_meter() -> None:
    one_bar = _tokens([Note(60, 0, 1, 80)])
    assert _augmenter().stretch(one_bar, 2.0) is None


def test_batches_depend_only_on_seed_step_micro_and_rank(prepared: Path) -> None:
    split = load_split(prepared, "train")

    def make(seed: int) -> TrainBatches:
        return TrainBatches(
            split, CONFIG, seq_len=32, batch_size=4, seed=seed, augment=AugmentConfig()
        )

    a, b = make(1), make(1)
    x1, y1 = a.batch(5, 0, 0)
    assert np.array_equal(x1, b.batch(5, 0, 0)[0])
    assert np.array_equal(x1[:, 1:], y1[:, :-1])
    assert x1.shape == (4, 32)
    assert not np.array_equal(x1, a.batch(6, 0, 0)[0])
    assert not np.array_equal(x1, a.batch(5, 0, 1)[0])
    assert not np.array_equal(x1, make(2).batch(5, 0, 0)[0])
    assert x1.max() < VOCAB.size


def test_a_mode_token_may_follow_each_bos_as_the_daemon_sends_it() -> None:
    tokens = np.concatenate([_tokens(), _tokens()])
    aug = Augmenter(VOCAB, AugmentConfig(0, 0.0, 0.0, mode_probability=1.0))
    out = aug(tokens, drum_mask(tokens, VOCAB), np.random.default_rng(0))
    starts = np.flatnonzero(out == VOCAB.bos)
    assert starts.size == 2
    assert all(VOCAB.name(int(out[s + 1])).startswith("MODE_") for s in starts)
    assert out.size == tokens.size + 2
    assert Grammar(VOCAB).is_valid(out.tolist()[1 : starts[1]])
    never = Augmenter(VOCAB, AugmentConfig(0, 0.0, 0.0, mode_probability=0.0))
    assert np.array_equal(never(tokens, drum_mask(tokens, VOCAB), np.random.default_rng(0)), tokens)


def test_a_stretched_window_spanning_two_pieces_keeps_the_grammar_in_each() -> None:
    window = np.concatenate([_tokens()[5:], _tokens(), _tokens()[:-3]])  # starts mid-piece
    grammar = Grammar(VOCAB)
    for factor in (2.0, 0.5):
        out = _augmenter().stretch(window, factor)
        assert out is not None
        starts = [*np.flatnonzero(out == VOCAB.bos), out.size]
        assert len(starts) == 3
        for a, b in itertools.pairwise(starts):
            piece = out[a:b].tolist()
            assert grammar.first_violation(piece[1:]) is None, (factor, a)
