"""Augmentation on token ids and deterministic batches (train/dataset.py)."""

from __future__ import annotations

import itertools
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from livegen.train.dataset import (
    OTHERS,
    AugmentConfig,
    Augmenter,
    TrainBatches,
    channel_states,
    collection_shares,
    drum_mask,
)
from livegen.train.duet import duet_window

from livegen.data.shards import Split, load_split, read_manifest
from livegen.errors import ConfigError
from livegen.tokenizer import Grammar, Note, TokenizerConfig, Vocab, decode_tokens, encode_notes
from livegen.tokenizer.midi_file import read_midi
from livegen.tokenizer.vocab import DRUM_CHANNEL, TokenKind

CONFIG = TokenizerConfig()
VOCAB = Vocab(CONFIG)
TESTDATA = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi"


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


# real files: a band with drums on 10, 16 channels in use, an orchestra, a one-channel piano part
PART_FILES = (
    "band_funkytown.mid",
    "band_aicha.mid",
    "short_41_tracks_is_drum.mid",
    "orch_mozart_k525_mvt1.mid",
    "tempo_pop909_010.mid",
)


def _file_tokens(name: str) -> np.ndarray:
    score = read_midi(TESTDATA / name)
    encoded = encode_notes(score.notes, CONFIG, time_signatures=score.meter(), bos=True, eos=True)
    return np.array(encoded, dtype=np.int64)


def _permuter() -> Augmenter:
    return Augmenter(VOCAB, AugmentConfig(0, 0.0, 0.0, 0.0, channel_permute_probability=1.0))


def _renaming(window: np.ndarray, before: np.ndarray, out: np.ndarray) -> dict[int, int]:
    """Check a permuted window against its original; the renaming it applied.

    `before` is the channel state at each token of `window` in the original stream. The renamed
    stream's state is followed from the window's start, unknown until a CHANNEL token or BOS.
    """
    kinds = VOCAB.kinds
    is_channel = kinds[out] == TokenKind.CHANNEL
    assert np.array_equal(out[~is_channel], window[kinds[window] != TokenKind.CHANNEL])
    note_kinds = [TokenKind.NOTE_ON, TokenKind.NOTE_OFF, TokenKind.PROGRAM]
    events = np.isin(kinds[window[kinds[window] != TokenKind.CHANNEL]], note_kinds)
    old_states = before[kinds[window] != TokenKind.CHANNEL][events]
    state, states = -1, []
    for token in out.tolist():
        if token == VOCAB.bos:
            state = 0
        elif kinds[token] == TokenKind.CHANNEL:
            assert int(VOCAB.args[token]) != state, "a CHANNEL token that switches nothing"
            state = int(VOCAB.args[token])
        if kinds[token] != TokenKind.CHANNEL:
            states.append(state)
    new_states = np.array(states)[events]
    renaming: dict[int, int] = {}
    for old, new in zip(old_states.tolist(), new_states.tolist(), strict=True):
        if new != -1:
            assert renaming.setdefault(old, new) == new, f"channel {old} went to two channels"
    assert len(set(renaming.values())) == len(renaming), f"not injective: {renaming}"
    for old, new in renaming.items():
        assert (old == DRUM_CHANNEL) == (new == DRUM_CHANNEL), f"drums moved: {renaming}"
    return renaming


@pytest.mark.parametrize("name", PART_FILES)
def test_channel_permutation_renames_whole_pieces_injectively_and_keeps_drums(name: str) -> None:
    tokens = _file_tokens(name)
    notes = decode_tokens(tokens, CONFIG)
    grammar, moved = Grammar(VOCAB), 0
    for seed in range(2):
        out = _permuter()(tokens, drum_mask(tokens, VOCAB), np.random.default_rng(seed))
        renaming = _renaming(tokens, channel_states(tokens, VOCAB), out)
        assert set(renaming) == {n.channel for n in notes}
        assert grammar.is_valid(out.tolist()[1:])
        # the decoded music is the same, each part on its new channel
        expected = [replace(n, channel=renaming[n.channel]) for n in notes]
        key = lambda n: (n.start_beat, n.channel, n.pitch)  # noqa: E731
        assert sorted(decode_tokens(out, CONFIG), key=key) == sorted(expected, key=key)
        moved += any(old != new for old, new in renaming.items())
    assert moved >= 1


@pytest.mark.parametrize("name", PART_FILES)
def test_channel_permutation_of_windows_cut_anywhere(name: str) -> None:
    piece = _file_tokens(name)
    stream = np.concatenate([piece, _file_tokens("short_melody.mid"), piece])
    states = channel_states(stream, VOCAB)
    rng = np.random.default_rng(7)
    for _ in range(40):
        start = int(rng.integers(0, stream.size - 64))
        window = stream[start : start + int(rng.integers(16, 2048))]
        before = states[start : start + window.size]
        out = _permuter()(window, before == DRUM_CHANNEL, rng, before)
        _renaming(window, before, out)
        n_channel = (VOCAB.kinds[out] == TokenKind.CHANNEL).sum()
        if not (window == VOCAB.bos).any():  # no piece starts: switches stay where they were
            assert n_channel == (VOCAB.kinds[window] == TokenKind.CHANNEL).sum()


def test_channel_permutation_is_off_by_default_and_random_when_on() -> None:
    tokens = _file_tokens("band_funkytown.mid")
    drums = drum_mask(tokens, VOCAB)
    off = Augmenter(VOCAB, AugmentConfig(0, 0.0, 0.0, 0.0))
    assert np.array_equal(off(tokens, drums, np.random.default_rng(0)), tokens)
    half = Augmenter(VOCAB, AugmentConfig(0, 0.0, 0.0, 0.0, channel_permute_probability=0.5))
    changed = [
        not np.array_equal(half(tokens, drums, np.random.default_rng(s)), tokens)
        for s in range(200)
    ]
    assert 70 <= sum(changed) <= 130


def _programs_by_part(notes) -> dict[int, set]:
    parts: dict[int, set] = {}
    for note in notes:
        parts.setdefault(note.channel, set()).add(note.program)
    return parts


@pytest.mark.parametrize(
    "name", ["band_funkytown.mid", "band_aicha.mid", "orch_mozart_k525_mvt1.mid"]
)
def test_program_shuffle_renames_each_instrument_mostly_within_its_family(name: str) -> None:
    tokens = _file_tokens(name)
    notes = decode_tokens(tokens, CONFIG)
    before = _programs_by_part(notes)
    shuffle = Augmenter(VOCAB, AugmentConfig(0, 0.0, 0.0, 0.0, program_shuffle_probability=1.0))
    grammar = Grammar(VOCAB)
    same_family = other_family = 0
    for seed in range(30):
        out = shuffle(tokens, drum_mask(tokens, VOCAB), np.random.default_rng(seed))
        assert grammar.is_valid(out.tolist()[1:])
        renamed = decode_tokens(out, CONFIG)
        # the music is the same note for note: only the instruments' names change
        assert [replace(n, program=None) for n in renamed] == [
            replace(n, program=None) for n in notes
        ]
        after = _programs_by_part(renamed)
        assert after.get(DRUM_CHANNEL) == before.get(DRUM_CHANNEL)  # the drum kit stays
        mapping: dict[int, int] = {}
        for old, new in zip(notes, renamed, strict=True):
            if old.program is None or old.channel == DRUM_CHANNEL:
                continue
            assert mapping.setdefault(old.program, new.program) == new.program  # consistent
        for old, new in mapping.items():
            if old // 8 == new // 8:
                same_family += 1
            else:
                other_family += 1
    assert other_family > 0 and same_family > 3 * other_family


def test_program_shuffle_is_off_by_default() -> None:
    tokens = _file_tokens("band_funkytown.mid")
    off = Augmenter(VOCAB, AugmentConfig(0, 0.0, 0.0, 0.0))
    assert np.array_equal(off(tokens, drum_mask(tokens, VOCAB), np.random.default_rng(0)), tokens)


def _mixed_split() -> Split:
    """A train split of real pieces in three collections of very different sizes."""
    docs = [
        ("small", "short_melody.mid"),
        ("big", "orch_mozart_k525_mvt1.mid"),
        ("big", "band_funkytown.mid"),
        ("rest", "type0_english1.mid"),
        ("rest", "tempo_etude_no4.mid"),
    ]
    pieces = [_file_tokens(name) for _, name in docs]
    offsets = np.cumsum([0, *(p.size for p in pieces)])
    tokens = np.concatenate(pieces).astype(np.uint16)
    return Split("train", tokens, offsets, tuple(c for c, _ in docs))


@pytest.mark.parametrize(
    ("weights", "shares"),
    [
        ({"small": 0.5, "big": 0.2}, {"small": 0.5, "big": 0.2, "rest": 0.3}),
        ({"small": 1, "big": 1, OTHERS: 0}, {"small": 0.5, "big": 0.5}),
        ({"small": 3, "big": 1}, {"small": 0.75, "big": 0.25}),  # nothing left for the rest
    ],
)
def test_sampled_windows_follow_the_collection_weights(weights, shares) -> None:
    split = _mixed_split()
    batches = TrainBatches(
        split, CONFIG, seq_len=64, batch_size=8, seed=0, augment=None, collection_weights=weights
    )
    assert batches.shares == pytest.approx(shares)
    rng = np.random.default_rng(123)
    n = 6000
    docs = np.searchsorted(split.offsets, [batches.start(rng) for _ in range(n)], side="right")
    drawn = np.array(split.collections)[docs - 1]
    for name in ("small", "big", "rest"):
        share = shares.get(name, 0.0)
        sigma = (share * (1 - share) / n) ** 0.5
        assert abs((drawn == name).mean() - share) <= 4 * sigma + 1e-9, name
    # starts are uniform over a collection's tokens: its two pieces in proportion to their size
    big = docs[drawn == "big"] - 1
    sizes = np.diff(split.offsets)[[1, 2]]
    assert abs((big == 1).mean() - sizes[0] / sizes.sum()) < 0.05


def test_weighted_batches_cut_their_windows_at_the_drawn_starts() -> None:
    split = _mixed_split()
    batches = TrainBatches(
        split,
        CONFIG,
        seq_len=32,
        batch_size=4,
        seed=3,
        augment=None,
        collection_weights={"small": 1.0},
    )
    x, _ = batches.batch(9, 1, 0)
    rng = np.random.default_rng([3, 9, 1, 0])
    for row in x:
        start = batches.start(rng)
        assert split.offsets[0] <= start < split.offsets[1]  # only "small" is drawn
        window = np.asarray(split.tokens[start : start + 32], dtype=np.int64)
        assert np.array_equal(row[: window.size], window)


def test_unknown_collections_and_zero_weights_are_config_errors() -> None:
    split = _mixed_split()
    for weights, match in (
        ({"pop": 0.5}, "no collection 'pop'.*big, rest, small"),
        ({"small": 0, OTHERS: 0}, "every collection has weight 0"),
    ):
        with pytest.raises(ConfigError, match=match):
            TrainBatches(
                split,
                CONFIG,
                seq_len=8,
                batch_size=1,
                seed=0,
                augment=None,
                collection_weights=weights,
            )
    assert collection_shares({"a": 10, "b": 30}, {}) == {"a": 0.25, "b": 0.75}


def test_prepared_collections_reach_the_train_split(prepared: Path) -> None:
    split = load_split(prepared, "train")
    name = Path(read_manifest(prepared)["root"]).name  # one folder: one collection, its name
    assert split.collections == (name,) * split.n_docs
    batches = TrainBatches(
        split,
        CONFIG,
        seq_len=16,
        batch_size=2,
        seed=0,
        augment=AugmentConfig(),
        collection_weights={name: 1.0},
    )
    assert batches.shares == {name: 1.0}
    assert batches.batch(0)[0].shape == (2, 16)


def test_the_default_v2_config_weights_pop909_and_permutes_channels() -> None:
    from livegen.train.train_config import load_train_config

    config = load_train_config(Path(__file__).parents[2] / "configs/train/default-v2.toml")
    assert config.data.collection_weights == {"pop909": 0.5}
    assert config.data.channel_permute_probability == 0.5
    assert config.data.seq_len == config.model["context"] == 1024
    with pytest.raises(ConfigError, match="a weight is a number >= 0"):
        load_train_config(
            Path(__file__).parents[2] / "configs/train/default-v2.toml",
            {"data.collection_weights": {"pop909": -1}},
        )


# ---- duet windows: the daemon's situation, cut from the corpus ---------------------------------
def _duet(window: np.ndarray, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    return duet_window(window, channel_states(window, VOCAB), rng, VOCAB)


def _by_channel(notes: list[Note]) -> dict[int, list[tuple]]:
    parts: dict[int, list[tuple]] = {}
    for n in notes:
        parts.setdefault(n.channel, []).append((n.start_beat, n.pitch, n.end_beat, n.velocity))
    return {channel: sorted(part) for channel, part in parts.items()}


@pytest.mark.parametrize("name", ["band_aicha.mid", "orch_mozart_k525_mvt1.mid"])
def test_a_duet_window_keeps_one_part_whole_and_brings_another_in_cold(name: str) -> None:
    """One part is the player's: every note of it, as it was. One is the model's: only its notes
    from some point on, each whole (no release without its note), none before: the model must
    come in with no history of its own, as it does live. No other part is left. The window keeps
    its length in time and the grammar, so it trains as any other."""
    piece = _file_tokens(name)
    grammar = Grammar(VOCAB)
    rng = np.random.default_rng(3)
    came_in = 0
    for _ in range(12):
        window = piece[: int(rng.integers(400, 3000))]  # from the piece's start: channels known
        before = _by_channel(decode_tokens(window, CONFIG))
        result = _duet(window, rng)
        assert result is not None
        out, states = result
        assert states.shape == out.shape
        assert np.array_equal(states, channel_states(out, VOCAB))
        assert grammar.first_violation(out.tolist()[1:]) is None
        after = _by_channel(decode_tokens(out, CONFIG))
        assert 1 <= len(after) <= 2
        whole = [c for c, part in after.items() if part == before[c]]
        assert whole, "no part came through whole"
        for channel, part in after.items():
            if channel in whole and len(after) == 1:
                continue
            from_entry = [n for n in before[channel] if n[0] >= part[0][0]]
            assert part == from_entry  # a suffix of the part: in from its first kept note
            # nothing of it before: not even the release of a note it was holding
            sounding: set[int] = set()
            for token, state in zip(out.tolist(), states.tolist(), strict=True):
                kind, arg = VOCAB.kinds[token], int(VOCAB.args[token])
                if state == channel and kind == TokenKind.NOTE_ON:
                    sounding.add(arg)
                elif state == channel and kind == TokenKind.NOTE_OFF:
                    assert arg in sounding, f"a release of channel {channel} before its entry"
                    sounding.discard(arg)
        came_in += len(after) == 2 and any(after[c] != before[c] for c in after)
        end = lambda tokens: sum(  # noqa: E731
            int(VOCAB.args[t]) for t in tokens if VOCAB.kinds[t] == TokenKind.TIME_SHIFT
        )
        assert end(out) == end(window)
    assert came_in >= 6


def test_duet_windows_are_off_by_default_and_refuse_a_single_part() -> None:
    piece = _file_tokens("band_aicha.mid")[:800]
    states = channel_states(piece, VOCAB)
    plain = _augmenter(transpose=0)(piece, states == DRUM_CHANNEL, np.random.default_rng(0))
    assert np.array_equal(plain, piece)
    solo = _file_tokens("tempo_pop909_010.mid")[:800]  # its arrangement is on one channel
    assert _duet(solo, np.random.default_rng(0)) is None
