"""The vocabulary layout, velocity bins, and the config saved with models."""

from __future__ import annotations

import pytest

from livegen.errors import ConfigError, TokenizerMismatchError
from livegen.tokenizer import (
    KEY_NAMES,
    TOKENIZER_VERSION,
    TokenizerConfig,
    TokenKind,
    Vocab,
    bin_to_velocity,
    check_compatible,
    velocity_to_bin,
)


def test_every_id_has_a_unique_name_and_a_kind() -> None:
    vocab = Vocab()
    assert len(set(vocab.names)) == vocab.size == len(vocab.kinds) == len(vocab.args)
    for token in range(vocab.size):
        assert vocab.id_of(vocab.name(token)) == token
        assert vocab.name(token).startswith(vocab.kind(token).name)


def test_default_vocabulary_holds_each_kind_with_its_range() -> None:
    vocab = Vocab()
    expected = {
        TokenKind.PAD: 1,
        TokenKind.BOS: 1,
        TokenKind.EOS: 1,
        TokenKind.BAR: 1,
        TokenKind.MODE: 3,
        TokenKind.KEY: 24,
        TokenKind.STYLE: len(TokenizerConfig().styles),
        TokenKind.TIME_SHIFT: 96,
        TokenKind.NOTE_ON: 128,
        TokenKind.NOTE_OFF: 128,
        TokenKind.VELOCITY: 16,
        TokenKind.CHANNEL: 16,
        TokenKind.PROGRAM: 128,
    }
    for kind, count in expected.items():
        assert len(vocab.ids_of_kind(kind)) == count, kind
    assert vocab.size == sum(expected.values())
    assert len(KEY_NAMES) == 24


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda v: v.shift(1), "TIME_SHIFT_1"),
        (lambda v: v.shift(96), "TIME_SHIFT_96"),
        (lambda v: v.note_on(60), "NOTE_ON_60"),
        (lambda v: v.note_off(127), "NOTE_OFF_127"),
        (lambda v: v.velocity(15), "VELOCITY_15"),
        (lambda v: v.channel(9), "CHANNEL_9"),
        (lambda v: v.program(0), "PROGRAM_0"),
        (lambda v: v.mode("accompany"), "MODE_accompany"),
        (lambda v: v.key("F#m"), "KEY_F#m"),
        (lambda v: v.style("jazz"), "STYLE_jazz"),
        (lambda v: v.bar, "BAR"),
        (lambda v: v.pad, "PAD"),
    ],
)
def test_constructors_give_the_named_token(make, name: str) -> None:
    vocab = Vocab()
    assert vocab.name(make(vocab)) == name


@pytest.mark.parametrize(
    "make",
    [
        lambda v: v.shift(0),
        lambda v: v.shift(97),
        lambda v: v.note_on(128),
        lambda v: v.velocity(16),
        lambda v: v.channel(16),
        lambda v: v.mode("solo"),
    ],
)
def test_out_of_range_arguments_are_refused(make) -> None:
    with pytest.raises(ValueError):
        make(Vocab())


def test_pad_is_id_zero_and_unknown_ids_have_a_name() -> None:
    vocab = Vocab()
    assert vocab.pad == 0
    assert vocab.name(vocab.size) == f"UNKNOWN_{vocab.size}"


@pytest.mark.parametrize("bins", [1, 8, 16, 32, 64])
def test_velocity_bins_cover_1_to_127_and_centres_map_back(bins: int) -> None:
    seen = [velocity_to_bin(v, bins) for v in range(1, 128)]
    assert seen == sorted(seen) and set(seen) == set(range(bins))
    for b in range(bins):
        assert velocity_to_bin(bin_to_velocity(b, bins), bins) == b


def test_config_round_trips_through_a_dict_with_its_version() -> None:
    config = TokenizerConfig(steps_per_beat=12, use_bars=False, styles=("a", "b"))
    data = config.to_dict()
    assert data["version"] == TOKENIZER_VERSION
    assert TokenizerConfig.from_dict(data) == config


def test_unknown_config_key_is_named() -> None:
    with pytest.raises(ConfigError, match="steps_per_bar"):
        TokenizerConfig.from_dict({"steps_per_bar": 4})


def test_same_tokenizer_is_compatible() -> None:
    check_compatible(TokenizerConfig().to_dict())
    TokenizerConfig().check_compatible(TokenizerConfig().to_dict())


@pytest.mark.parametrize(
    "change, named",
    [
        ({"steps_per_beat": 12}, "steps_per_beat 12 (model) vs 24 (runtime)"),
        ({"version": "0.1"}, "version '0.1' (model)"),
        ({"velocity_bins": 32}, "velocity_bins"),
    ],
)
def test_a_different_tokenizer_is_an_error_that_says_what_differs(change, named: str) -> None:
    saved = {**TokenizerConfig().to_dict(), **change}
    with pytest.raises(TokenizerMismatchError, match="different tokenizer") as err:
        check_compatible(saved)
    assert named in str(err.value)


def test_missing_tokenizer_settings_are_an_error() -> None:
    with pytest.raises(TokenizerMismatchError):
        check_compatible(None)  # type: ignore[arg-type]
