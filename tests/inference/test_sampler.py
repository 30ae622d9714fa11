"""The sampler: seeded and reproducible, honours temperature/top-k/top-p and every mask."""

from __future__ import annotations

import numpy as np
import pytest

from livegen.errors import ConfigError
from livegen.inference.sampler import (
    ConstraintMasks,
    Constraints,
    MusicState,
    Sampler,
    SamplingParams,
    _nucleus_order,
)
from livegen.music.keys import key_pitch_classes
from livegen.tokenizer.vocab import DRUM_CHANNEL, TokenKind, Vocab

VOCAB = Vocab()


def random_logits(seed: int = 0, size: int = 50) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 2, size)


def draws(params: SamplingParams, logits: np.ndarray, n: int = 2000, seed: int = 1, mask=None):
    sampler = Sampler(seed)
    return np.array([sampler.sample(logits, params, mask) for _ in range(n)])


def test_same_seed_same_tokens_and_different_seed_different_tokens() -> None:
    logits = random_logits()
    params = SamplingParams(temperature=1.0)
    assert (draws(params, logits, 200, seed=7) == draws(params, logits, 200, seed=7)).all()
    assert (draws(params, logits, 200, seed=7) != draws(params, logits, 200, seed=8)).any()


def test_temperature_zero_is_greedy() -> None:
    logits = random_logits()
    assert set(draws(SamplingParams(temperature=0), logits, 50)) == {int(np.argmax(logits))}


def test_frequencies_follow_the_softmax_at_temperature_one() -> None:
    logits = np.log(np.array([0.5, 0.3, 0.2]))
    counts = np.bincount(draws(SamplingParams(), logits, 20000), minlength=3) / 20000
    np.testing.assert_allclose(counts, [0.5, 0.3, 0.2], atol=0.02)


def test_low_temperature_sharpens_the_distribution() -> None:
    logits = np.log(np.array([0.5, 0.3, 0.2]))
    cold = np.bincount(draws(SamplingParams(temperature=0.3), logits, 5000), minlength=3)
    assert cold[0] / 5000 > 0.8


def test_top_k_keeps_only_the_k_best() -> None:
    logits = random_logits(size=100)
    best = set(np.argsort(logits)[-5:].tolist())
    assert set(draws(SamplingParams(top_k=5), logits).tolist()) == best


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    logits = np.log(np.array([0.45, 0.3, 0.15, 0.1]))
    assert set(draws(SamplingParams(top_p=0.7), logits).tolist()) == {0, 1}
    assert set(draws(SamplingParams(top_p=0.76), logits).tolist()) == {0, 1, 2}
    assert set(draws(SamplingParams(top_p=0.01), logits).tolist()) == {0}


@pytest.mark.parametrize("scale", [0.1, 1.0, 4.0, 12.0])  # flat .. peaked, as a model's are
@pytest.mark.parametrize("top_p", [0.5, 0.9, 0.95, 0.999])
def test_the_nucleus_is_ordered_as_a_full_sort_orders_it(scale: float, top_p: float) -> None:
    # only tokens that can be in the nucleus are sorted; its prefix must be the full sort's,
    # ties (here: many equal logits) broken by id as the full stable sort breaks them
    for seed in range(20):
        logits = np.round(np.random.default_rng(seed).normal(0, scale, 732), 1)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        full = np.argsort(-probs, kind="stable")
        cut = int(np.searchsorted(np.cumsum(probs[full]), top_p)) + 1
        order = _nucleus_order(probs, top_p)
        assert order[:cut].tolist() == full[:cut].tolist()


def test_mask_excludes_tokens_even_the_likeliest() -> None:
    logits = random_logits()
    mask = np.ones(50, dtype=bool)
    mask[np.argmax(logits)] = False
    got = draws(SamplingParams(temperature=0.5), logits, mask=mask)
    assert np.argmax(logits) not in got
    with pytest.raises(ValueError, match="no token"):
        Sampler(0).sample(logits, SamplingParams(), np.zeros(50, dtype=bool))


def test_batch_sampling_gives_one_token_per_row() -> None:
    logits = np.stack([random_logits(i) for i in range(4)])
    tokens = Sampler(3).sample_batch(logits, SamplingParams(temperature=0))
    assert tokens.tolist() == np.argmax(logits, axis=1).tolist()


@pytest.mark.parametrize("key", ["H major", "C blues", "C# major minor", "Cx"])
def test_bad_key_names_say_what_is_accepted(key: str) -> None:
    with pytest.raises(ConfigError, match="C major"):
        Constraints(key=key)


def allowed_pitches(masks: ConstraintMasks, state: MusicState) -> set[int]:
    mask = masks.mask(state)
    return {p for p in range(128) if mask[VOCAB.note_on(p)]}


def test_pitch_range_and_key_lock_restrict_note_ons_only() -> None:
    masks = ConstraintMasks(VOCAB, Constraints(pitch_low=60, pitch_high=72, key="C major"))
    state = MusicState(VOCAB)
    assert allowed_pitches(masks, state) == {60, 62, 64, 65, 67, 69, 71, 72}
    mask = masks.mask(state)
    assert mask[VOCAB.note_off(30)] and mask[VOCAB.shift(6)] and mask[VOCAB.bar]


def test_drums_ignore_pitch_range_and_key() -> None:
    masks = ConstraintMasks(VOCAB, Constraints(pitch_low=60, pitch_high=72, key="C major"))
    state = MusicState(VOCAB)
    state.update(VOCAB.channel(DRUM_CHANNEL))
    assert allowed_pitches(masks, state) == set(range(128))


def test_allowed_channels() -> None:
    masks = ConstraintMasks(VOCAB, Constraints(channels=(0, 2)))
    state = MusicState(VOCAB)
    mask = masks.mask(state)
    assert [c for c in range(16) if mask[VOCAB.channel(c)]] == [0, 2]
    state.update(VOCAB.channel(5))  # e.g. the player's part: no notes may be generated there
    assert allowed_pitches(masks, state) == set()


def test_max_polyphony_blocks_note_ons_until_a_note_ends() -> None:
    masks = ConstraintMasks(VOCAB, Constraints(max_polyphony=2))
    state = MusicState(VOCAB)
    for pitch in (60, 64):
        assert allowed_pitches(masks, state)
        state.update(VOCAB.note_on(pitch))
    assert allowed_pitches(masks, state) == set()
    state.update(VOCAB.note_off(60))
    assert len(allowed_pitches(masks, state)) == 128


def test_note_density_counts_onsets_within_the_last_beat() -> None:
    masks = ConstraintMasks(VOCAB, Constraints(max_notes_per_beat=2))
    state = MusicState(VOCAB)
    state.update(VOCAB.note_on(60))
    state.update(VOCAB.shift(6))
    state.update(VOCAB.note_on(62))
    assert allowed_pitches(masks, state) == set()
    state.update(VOCAB.shift(18))  # the first onset is now one beat old
    assert len(allowed_pitches(masks, state)) == 128


def test_constrained_sampling_never_breaks_a_constraint() -> None:
    constraints = Constraints(pitch_low=48, pitch_high=84, key="D minor", max_polyphony=3)
    masks = ConstraintMasks(VOCAB, constraints)
    state = MusicState(VOCAB)
    sampler = Sampler(5)
    logits = np.zeros(VOCAB.size)
    scale = key_pitch_classes("D minor")
    for _ in range(2000):
        token = sampler.sample(logits, SamplingParams(), masks.mask(state))
        if VOCAB.kinds[token] == TokenKind.NOTE_ON and state.channel != DRUM_CHANNEL:
            pitch = int(VOCAB.args[token])
            assert 48 <= pitch <= 84 and pitch % 12 in scale
            assert len(state.sounding) < 3
        state.update(token)


def test_a_mode_locks_exactly_its_scale() -> None:
    masks = ConstraintMasks(VOCAB, Constraints(key="D dorian"))
    assert {p % 12 for p in allowed_pitches(masks, MusicState(VOCAB))} == {0, 2, 4, 5, 7, 9, 11}
