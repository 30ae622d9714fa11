"""CHORD tokens (structure_tokens): appended to the vocabulary, placed after the bar line they
apply from, never sampled, and a model made without them still loads and grows onto them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from livegen.errors import TokenizerMismatchError
from livegen.inference.model_dir import read_model_dir
from livegen.music.chords import VOCABULARY, parse_chord
from livegen.music.keys import parse_key
from livegen.tokenizer import (
    Grammar,
    TokenizerConfig,
    TokenKind,
    Vocab,
    check_compatible,
    decode_tokens,
    encode_notes,
)
from livegen.tokenizer.config import check_grows_into
from livegen.tokenizer.midi_file import read_midi

MIDI = Path(os.environ["LIVEGEN_TESTDATA"]) / "midi"
WITH_CHORDS = TokenizerConfig(structure_tokens=True)


def test_chord_tokens_are_appended_so_every_other_id_stays() -> None:
    plain, grown = Vocab(), Vocab(WITH_CHORDS)
    assert grown.names[: plain.size] == plain.names
    assert grown.size == plain.size + len(VOCABULARY) == plain.size + 181
    chords = grown.ids_of_kind(TokenKind.CHORD)
    assert chords.start == plain.size and len(chords) == 181
    assert len(plain.ids_of_kind(TokenKind.CHORD)) == 0


@pytest.mark.parametrize(
    ("symbol", "name"),
    [
        ("C", "CHORD_C"),
        ("Am", "CHORD_Am"),
        ("Bb7", "CHORD_A#7"),
        ("G/B", "CHORD_G"),
        ("N", "CHORD_N"),
    ],
)
def test_a_chord_names_its_token_without_the_bass(symbol: str, name: str) -> None:
    vocab = Vocab(WITH_CHORDS)
    assert vocab.name(vocab.chord(parse_chord(symbol))) == name


def test_a_tokenizer_without_chords_refuses_a_chord_token() -> None:
    with pytest.raises(ValueError, match="no CHORD tokens"):
        Vocab().chord(parse_chord("C"))


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("C major", "KEY_C"),
        ("A minor", "KEY_Am"),
        ("D dorian", "KEY_Dm"),
        ("G mixolydian", "KEY_G"),
    ],
)
def test_a_key_names_its_tonic_and_third(key: str, name: str) -> None:
    parsed = parse_key(key)
    assert parsed is not None and Vocab().name(Vocab().key_of(parsed)) == name


def test_the_shipped_model_speaks_the_runtime_language_plus_chord_tokens() -> None:
    saved = read_model_dir("default").tokenizer
    check_compatible(saved)  # no error: the runtime builds its vocabulary from the model
    assert TokenizerConfig.from_dict(saved) == WITH_CHORDS
    assert check_grows_into(TokenizerConfig().to_dict(), WITH_CHORDS)  # every other id as before


def test_an_off_option_leaves_the_saved_tokenizer_as_models_before_it_saved_it() -> None:
    saved = TokenizerConfig().to_dict()
    assert "structure_tokens" not in saved
    check_compatible(saved)
    assert TokenizerConfig.from_dict(saved) == TokenizerConfig()


def test_the_runtime_loads_models_with_chord_tokens_too() -> None:
    check_compatible(WITH_CHORDS.to_dict())
    with pytest.raises(TokenizerMismatchError, match=r"structure_tokens False \(model\) vs True"):
        check_compatible(TokenizerConfig().to_dict(), WITH_CHORDS)


def test_a_model_without_chords_grows_onto_them_but_not_the_other_way() -> None:
    saved = TokenizerConfig().to_dict()
    assert check_grows_into(saved, WITH_CHORDS) is True
    assert check_grows_into(saved, TokenizerConfig()) is False
    with pytest.raises(TokenizerMismatchError, match="structure_tokens"):
        check_grows_into(WITH_CHORDS.to_dict(), TokenizerConfig())
    with pytest.raises(TokenizerMismatchError, match="velocity_bins"):
        check_grows_into(saved, TokenizerConfig(velocity_bins=8, structure_tokens=True))


def test_chord_and_key_tokens_come_right_after_their_bar_line() -> None:
    vocab = Vocab(WITH_CHORDS)
    notes = read_midi(MIDI / "short_melody.mid").notes
    bar = 4 * WITH_CHORDS.steps_per_beat
    key = vocab.key_of(parse_key("C major"))
    marks = [(0, key), (0, vocab.chord(parse_chord("C"))), (bar, vocab.chord(parse_chord("F")))]
    tokens = encode_notes(notes, WITH_CHORDS, bos=True, vocab=vocab, conditioning=marks)
    names = [vocab.name(t) for t in tokens]
    assert names[:4] == ["BOS", "BAR", "KEY_C", "CHORD_C"]
    second_bar = [i for i, n in enumerate(names) if n == "BAR"][1]
    assert names[second_bar + 1] == "CHORD_F"
    assert Grammar(vocab).is_valid(tokens)


def test_a_chord_inside_a_bar_follows_the_time_shift_to_its_step() -> None:
    vocab = Vocab(WITH_CHORDS)
    notes = read_midi(MIDI / "short_melody.mid").notes
    half_bar = 2 * WITH_CHORDS.steps_per_beat
    chord = vocab.chord(parse_chord("G7"))
    tokens = encode_notes(notes, WITH_CHORDS, vocab=vocab, conditioning=[(half_bar, chord)])
    at = tokens.index(chord)
    steps = sum(int(vocab.args[t]) for t in tokens[:at] if vocab.kind(t) == TokenKind.TIME_SHIFT)
    assert steps == half_bar and vocab.kind(tokens[at - 1]) == TokenKind.TIME_SHIFT
    assert Grammar(vocab).is_valid(tokens)


@pytest.mark.parametrize(
    "name", ["short_melody.mid", "band_mr_blue_sky.mid", "tempo_pop909_010.mid"]
)
def test_conditioning_tokens_change_no_note(name: str) -> None:
    vocab = Vocab(WITH_CHORDS)
    score = read_midi(MIDI / name)
    plain = encode_notes(score.notes, WITH_CHORDS, time_signatures=score.meter(), vocab=vocab)
    bar = 4 * WITH_CHORDS.steps_per_beat
    marks = [(i * bar, vocab.chord(VOCABULARY[i % 181])) for i in range(0, 40)]
    marked = encode_notes(
        score.notes, WITH_CHORDS, time_signatures=score.meter(), vocab=vocab, conditioning=marks
    )
    without = [t for t in marked if vocab.kind(t) != TokenKind.CHORD]
    assert decode_tokens(without, WITH_CHORDS) == decode_tokens(plain, WITH_CHORDS)
    assert decode_tokens(marked, WITH_CHORDS) == decode_tokens(plain, WITH_CHORDS)


def test_conditioning_tokens_are_never_sampled_but_always_valid() -> None:
    vocab = Vocab(WITH_CHORDS)
    grammar = Grammar(vocab)
    conditioning = np.isin(
        vocab.kinds, [TokenKind.CHORD, TokenKind.KEY, TokenKind.MODE, TokenKind.STYLE]
    )
    for prev in [None, vocab.bos, vocab.bar, vocab.shift(6), vocab.chord(parse_chord("C"))]:
        assert not (grammar.mask_after(prev) & conditioning).any()
    assert grammar.valid_after(vocab.bar)[vocab.chord(parse_chord("C"))]
    assert grammar.valid_after(vocab.shift(3))[vocab.key("Dm")]
    assert not grammar.valid_after(vocab.note_on(60))[vocab.chord(parse_chord("C"))]
